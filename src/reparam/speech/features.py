r"""Speech features from waveforms: the short-time power spectrum, its mel filterbank energies
(power and natural-log), MFCCs, and two augmentations of a batch of features: SpecAugment's
masks and a vocal-tract-length warp of the bands.

The chain is

.. math:: X_t(k) = \sum_{n=0}^{N-1} w(n)\, x(tH + n)\, e^{-2πi kn/N}, \qquad
          S_t(k) = |X_t(k)|^p, \qquad M_t(m) = \sum_k W_{mk}\, S_t(k),

with a periodic Hann window w of length N = ``n_fft`` (centred frames by default, hop H) and
the mel filterbank W of :func:`mel_filterbank`; :func:`log_mel_spectrogram` takes
:math:`\ln \max(M, \text{floor})`, :func:`mfcc` the orthonormal DCT-II of
:math:`10 \log_{10} M` in dB. Every function takes a tensor ``[..., samples]`` (or features
``[..., n_mels, frames]``), works over all leading dimensions at once and keeps the dtype and
device of its input; the filterbank is computed in float64. With the same parameters the
results are those of ``librosa.filters.mel``, ``librosa.feature.melspectrogram`` and
``librosa.feature.mfcc`` (librosa ≥ 0.10 pads with zeros by default, ``pad_mode="constant"``;
here the default is ``"reflect"``).

References:
    Slaney (1998), Auditory Toolbox, version 2, Technical Report 1998-010, Interval Research
    Corporation.
    Davis & Mermelstein (1980), Comparison of parametric representations for monosyllabic word
    recognition in continuously spoken sentences, IEEE Trans. ASSP 28(4).
    Park, Chan, Zhang, Chiu, Zoph, Cubuk & Le (2019), SpecAugment: a simple data augmentation
    method for automatic speech recognition, Interspeech.
    Jaitly & Hinton (2013), Vocal tract length perturbation (VTLP) improves speech
    recognition, ICML Workshop on Deep Learning for Audio, Speech and Language.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from reparam import checks

PAD_MODES = ("reflect", "constant", "replicate", "circular")

# Slaney's mel scale: linear below 1 kHz (200/3 Hz per mel), logarithmic above, 27 mels per
# factor 6.4; written as librosa writes it, so that the band edges agree to the last bit.
_SLANEY_HZ_PER_MEL = 200.0 / 3
_SLANEY_BREAK_HZ = 1000.0
_SLANEY_BREAK_MEL = _SLANEY_BREAK_HZ / _SLANEY_HZ_PER_MEL
_SLANEY_LOG_STEP = math.log(6.4) / 27.0

Norm = str | float | None
Lengths = Tensor | Sequence[int]

_BLOCK_VALUES = 1 << 18  # spectral values per STFT block: 2 MiB of complex64, cache-sized


def hz_to_mel(frequencies: Tensor | float, htk: bool = False) -> Tensor:
    r"""Frequencies in Hz on the mel scale: Slaney's (1998),

    .. math:: m(f) = \begin{cases} 3f / 200 & f < 1000 \\
              15 + 27 \ln(f / 1000) / \ln 6.4 & f \ge 1000, \end{cases}

    or with ``htk`` the HTK formula :math:`m(f) = 2595 \log_{10}(1 + f / 700)`. A Python
    number becomes a float64 tensor; a tensor keeps its dtype.

    >>> hz_to_mel(torch.tensor([0.0, 500.0, 1000.0, 6400.0], dtype=torch.float64))
    tensor([ 0.0000,  7.5000, 15.0000, 42.0000], dtype=torch.float64)
    >>> round(float(hz_to_mel(1000.0, htk=True)), 2)
    999.99
    """
    f = torch.as_tensor(
        frequencies, dtype=None if isinstance(frequencies, Tensor) else torch.float64
    )
    if htk:
        return 2595.0 * torch.log10(1.0 + f / 700.0)
    logarithmic = _SLANEY_BREAK_MEL + torch.log(f / _SLANEY_BREAK_HZ) / _SLANEY_LOG_STEP
    return torch.where(f >= _SLANEY_BREAK_HZ, logarithmic, f / _SLANEY_HZ_PER_MEL)


def mel_to_hz(mels: Tensor | float, htk: bool = False) -> Tensor:
    r"""The inverse of :func:`hz_to_mel`: Slaney's (1998)

    .. math:: f(m) = \begin{cases} 200 m / 3 & m < 15 \\
              1000 \cdot 6.4^{(m - 15)/27} & m \ge 15, \end{cases}

    or with ``htk`` :math:`f(m) = 700 (10^{m / 2595} - 1)`.

    >>> mel_to_hz(torch.tensor([7.5, 15.0, 42.0], dtype=torch.float64))
    tensor([ 500.0000, 1000.0000, 6400.0000], dtype=torch.float64)
    """
    m = torch.as_tensor(mels, dtype=None if isinstance(mels, Tensor) else torch.float64)
    if htk:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    logarithmic = _SLANEY_BREAK_HZ * torch.exp(_SLANEY_LOG_STEP * (m - _SLANEY_BREAK_MEL))
    return torch.where(m >= _SLANEY_BREAK_MEL, logarithmic, _SLANEY_HZ_PER_MEL * m)


def mel_filterbank(
    sample_rate: float,
    n_fft: int,
    n_mels: int = 80,
    f_min: float = 0.0,
    f_max: float | None = None,
    norm: Norm = "slaney",
    htk: bool = False,
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> Tensor:
    r"""The mel filterbank ``[n_mels, n_fft // 2 + 1]``: triangles on the frequencies
    :math:`f_k = k \cdot \text{sample\_rate} / \text{n\_fft}` of the one-sided spectrum,

    .. math:: W_{mk} = c_m \max\Big(0, \min\Big(\frac{f_k - h_m}{h_{m+1} - h_m},
              \frac{h_{m+2} - f_k}{h_{m+2} - h_{m+1}}\Big)\Big), \qquad m = 0..M-1,

    whose edges :math:`h_0 < … < h_{M+1}` are ``n_mels + 2`` points evenly spaced on the mel
    scale (:func:`hz_to_mel`, Slaney's or HTK's) from ``f_min`` to ``f_max`` (default
    ``sample_rate / 2``): band m rises from :math:`h_m` to 1 at its centre
    :math:`h_{m+1}` and falls to 0 at :math:`h_{m+2}`. With ``norm="slaney"`` (Slaney's
    Auditory Toolbox, 1998) :math:`c_m = 2 / (h_{m+2} - h_m)`, so each triangle has area 1 in
    Hz and bands carry about equal energy; with ``norm=None`` :math:`c_m = 1`; a number p
    divides each row by its :math:`\ell_p` norm (rows of zeros stay zero). Computed in float64,
    returned in ``dtype``; equal to ``librosa.filters.mel`` with the same arguments. A band
    narrower than the bin spacing (many ``n_mels``, small ``n_fft``) may be all zero.

    >>> fb = mel_filterbank(16000, 512, n_mels=40)
    >>> fb.shape
    torch.Size([40, 257])
    >>> round(float(fb.sum(1).mul(16000 / 512).mean()), 2)  # triangles of unit area
    1.0
    """
    sample_rate = checks.positive_real("sample_rate", sample_rate)
    n_fft = checks.positive_int("n_fft", n_fft)
    n_mels = checks.positive_int("n_mels", n_mels)
    f_min, f_max = _band_limits(sample_rate, f_min, f_max)
    bin_hz = torch.arange(n_fft // 2 + 1, dtype=torch.float64) * (sample_rate / n_fft)
    edge_mels = torch.linspace(
        float(hz_to_mel(f_min, htk)), float(hz_to_mel(f_max, htk)), n_mels + 2, dtype=torch.float64
    )
    edges = mel_to_hz(edge_mels, htk)
    spacing = edges.diff()[:, None]
    rise = (bin_hz - edges[:-2, None]) / spacing[:-1]
    fall = (edges[2:, None] - bin_hz) / spacing[1:]
    weights = torch.minimum(rise, fall).clamp_(min=0.0)
    return _normalised(weights, edges, norm).to(dtype=dtype, device=device)


def spectrogram(
    waveform: Tensor,
    n_fft: int,
    hop_length: int,
    win_length: int | None = None,
    power: float | None = 2.0,
    center: bool = True,
    pad_mode: str = "reflect",
) -> Tensor:
    r"""The short-time spectrum ``[..., n_fft // 2 + 1, frames]`` of ``waveform``
    ``[..., samples]``,

    .. math:: S_t(k) = \Big|\sum_{n=0}^{N-1} w(n)\, x(tH + n)\, e^{-2πi kn/N}\Big|^p,

    with N = ``n_fft``, H = ``hop_length`` and w the periodic Hann window
    :math:`w(n) = \sin^2(π n / L)` of length L = ``win_length`` (default N) zero-padded to N
    in the middle, as in librosa. With ``center`` the signal is first padded by N // 2 on each
    side (``pad_mode``: ``"reflect"``, ``"constant"`` (zeros, librosa's default),
    ``"replicate"`` (librosa's ``"edge"``) or ``"circular"``), so frame t is centred on sample
    tH and there are ``1 + samples // H`` frames; without it, ``1 + (samples - N) // H``.
    ``power`` p = 2 gives the power spectrum, 1 the magnitude; ``None`` returns the complex
    STFT itself.

    >>> tone = torch.sin(2 * math.pi * 1000 * torch.arange(16000) / 16000)  # 1 kHz at 16 kHz
    >>> spec = spectrogram(tone, n_fft=512, hop_length=128)
    >>> spec.shape
    torch.Size([257, 126])
    >>> int(spec.mean(-1).argmax())  # bin k sits at k · 16000 / 512 Hz
    32
    """
    return _short_time(waveform, n_fft, hop_length, win_length, power, center, pad_mode)


def melspectrogram(
    waveform: Tensor,
    sample_rate: float,
    n_fft: int = 1024,
    hop_length: int = 256,
    n_mels: int = 80,
    f_min: float = 0.0,
    f_max: float | None = None,
    *,
    win_length: int | None = None,
    power: float = 2.0,
    center: bool = True,
    pad_mode: str = "reflect",
    norm: Norm = "slaney",
    htk: bool = False,
) -> Tensor:
    r"""The mel spectrogram ``[..., n_mels, frames]`` of ``waveform`` ``[..., samples]``,

    .. math:: M_t(m) = \sum_k W_{mk}\, S_t(k),

    the filterbank W of :func:`mel_filterbank` (``sample_rate``, ``n_fft``, ``n_mels``,
    ``f_min``, ``f_max``, ``norm``, ``htk``; Slaney 1998) applied to the spectrogram S of
    :func:`spectrogram` (``n_fft``, ``hop_length``, ``win_length``, ``power``, ``center``,
    ``pad_mode``): the power mel spectrogram for ``power=2``. Equal to
    ``librosa.feature.melspectrogram`` with the same arguments (librosa's ``pad_mode``
    defaults to ``"constant"``).

    >>> noise = torch.randn(2, 3, 22050)
    >>> melspectrogram(noise, 22050).shape  # 1 + 22050 // 256 frames
    torch.Size([2, 3, 80, 87])
    """
    checks.tensor("waveform", waveform)
    filters = mel_filterbank(
        sample_rate,
        n_fft,
        n_mels,
        f_min,
        f_max,
        norm,
        htk,
        dtype=waveform.dtype,
        device=waveform.device,
    )
    return _short_time(waveform, n_fft, hop_length, win_length, power, center, pad_mode, filters)


def log_mel_spectrogram(
    waveform: Tensor,
    sample_rate: float,
    n_fft: int = 1024,
    hop_length: int = 256,
    n_mels: int = 80,
    f_min: float = 0.0,
    f_max: float | None = None,
    *,
    floor: float = 1e-5,
    win_length: int | None = None,
    power: float = 2.0,
    center: bool = True,
    pad_mode: str = "reflect",
    norm: Norm = "slaney",
    htk: bool = False,
) -> Tensor:
    r"""The natural-log mel spectrogram ``[..., n_mels, frames]``,

    .. math:: L_t(m) = \ln \max\big(M_t(m), \text{floor}\big),

    of the mel spectrogram M of :func:`melspectrogram` (the other arguments are its; Slaney
    1998). The floor keeps silence finite: with the default ``1e-5`` no entry is below
    :math:`\ln 10^{-5} ≈ -11.51`. ``power=1`` (magnitude) with the default floor gives the
    log-mel features of Tacotron 2 and HiFi-GAN; the default is the power mel.

    >>> silence = torch.zeros(16000)
    >>> log_mel_spectrogram(silence, 16000, n_mels=40).unique()
    tensor([-11.5129])
    """
    floor = checks.positive_real("floor", floor)
    mel = melspectrogram(
        waveform,
        sample_rate,
        n_fft,
        hop_length,
        n_mels,
        f_min,
        f_max,
        win_length=win_length,
        power=power,
        center=center,
        pad_mode=pad_mode,
        norm=norm,
        htk=htk,
    )
    return mel.clamp_(min=floor).log_()


def power_to_db(
    power: Tensor, ref: float = 1.0, amin: float = 1e-10, top_db: float | None = 80.0
) -> Tensor:
    r"""A power spectrogram ``[..., bins, frames]`` in decibels,

    .. math:: D = 10 \log_{10} \max(P, a) - 10 \log_{10} \max(\text{ref}, a), \qquad
              D \leftarrow \max(D, \max D - \text{top\_db}),

    a = ``amin``; the second step (skipped for ``top_db=None``) floors each spectrogram (each
    index of the leading dimensions) at ``top_db`` below its own maximum, as
    ``librosa.power_to_db`` does to the one array it is given.

    >>> power_to_db(torch.tensor([[1.0, 0.1, 0.0]]))
    tensor([[  0., -10., -80.]])
    """
    ref = checks.positive_real("ref", ref)
    amin = checks.positive_real("amin", amin)
    if power.dim() < 2:
        raise ValueError(f"power must be [..., bins, frames], got shape {tuple(power.shape)}")
    db = 10.0 * power.clamp(min=amin).log10() - 10.0 * math.log10(max(ref, amin))
    if top_db is None:
        return db
    if checks.real("top_db", top_db) < 0:
        raise ValueError(f"top_db must be >= 0, got {top_db!r}")
    return torch.maximum(db, db.amax(dim=(-2, -1), keepdim=True) - top_db)


def dct_matrix(
    n_coefficients: int,
    n_inputs: int,
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> Tensor:
    r"""The first ``n_coefficients`` rows ``[n_coefficients, n_inputs]`` of the orthonormal
    DCT-II of length N = ``n_inputs``,

    .. math:: C_{qn} = \sqrt{\tfrac{2 - [q = 0]}{N}}\, \cos\Big(\frac{π q (2n + 1)}{2N}\Big),

    which is ``scipy.fft.dct(x, type=2, norm="ortho")`` as ``C @ x`` (all N rows form an
    orthogonal matrix). Computed in float64, returned in ``dtype``.

    >>> c = dct_matrix(4, 4, dtype=torch.float64)
    >>> torch.allclose(c @ c.T, torch.eye(4, dtype=torch.float64))
    True
    """
    n_inputs = checks.positive_int("n_inputs", n_inputs)
    n_coefficients = checks.positive_int("n_coefficients", n_coefficients)
    if n_coefficients > n_inputs:
        raise ValueError(
            f"n_coefficients must be at most n_inputs = {n_inputs}, got {n_coefficients}"
        )
    q = torch.arange(n_coefficients, dtype=torch.float64)[:, None]
    n = torch.arange(n_inputs, dtype=torch.float64)
    basis = torch.cos(math.pi * q * (2 * n + 1) / (2 * n_inputs)) * math.sqrt(2 / n_inputs)
    basis[0] /= math.sqrt(2)
    return basis.to(dtype=dtype, device=device)


def mfcc(
    waveform: Tensor,
    sample_rate: float,
    n_mfcc: int = 20,
    n_fft: int = 1024,
    hop_length: int = 256,
    n_mels: int = 80,
    f_min: float = 0.0,
    f_max: float | None = None,
    *,
    top_db: float | None = 80.0,
    lifter: float = 0.0,
    win_length: int | None = None,
    power: float = 2.0,
    center: bool = True,
    pad_mode: str = "reflect",
    norm: Norm = "slaney",
    htk: bool = False,
) -> Tensor:
    r"""Mel-frequency cepstral coefficients ``[..., n_mfcc, frames]`` (Davis & Mermelstein
    1980),

    .. math:: c_t(q) = \Big(1 + \frac{λ}{2} \sin\frac{π (q + 1)}{λ}\Big)
              \sum_{m=0}^{M-1} C_{qm}\, D_t(m), \qquad q = 0..\text{n\_mfcc} - 1,

    the orthonormal DCT-II C of :func:`dct_matrix` of the dB mel spectrogram
    D = :func:`power_to_db` (ref 1, amin 1e-10, ``top_db`` below each utterance's maximum) of
    :func:`melspectrogram` (the other arguments are its), liftered when λ = ``lifter`` > 0.
    This is ``librosa.feature.mfcc`` with the same arguments (its own defaults are
    ``n_fft=2048, hop_length=512, n_mels=128, pad_mode="constant"``; for a batch librosa
    applies ``top_db`` below the maximum of the whole batch).

    >>> noise = torch.randn(16000)
    >>> mfcc(noise, 16000, n_mfcc=13).shape
    torch.Size([13, 63])
    """
    n_mfcc = checks.positive_int("n_mfcc", n_mfcc)
    if n_mfcc > checks.positive_int("n_mels", n_mels):
        raise ValueError(f"n_mfcc must be at most n_mels = {n_mels}, got {n_mfcc}")
    if checks.real("lifter", lifter) < 0:
        raise ValueError(f"lifter must be >= 0, got {lifter!r}")
    mel = melspectrogram(
        waveform,
        sample_rate,
        n_fft,
        hop_length,
        n_mels,
        f_min,
        f_max,
        win_length=win_length,
        power=power,
        center=center,
        pad_mode=pad_mode,
        norm=norm,
        htk=htk,
    )
    basis = dct_matrix(n_mfcc, n_mels, dtype=torch.float64)
    if lifter > 0:
        q = torch.arange(1, n_mfcc + 1, dtype=torch.float64)
        basis *= (1 + lifter / 2 * torch.sin(math.pi * q / lifter))[:, None]
    return torch.matmul(basis.to(mel), power_to_db(mel, top_db=top_db))


def spec_augment(
    features: Tensor,
    *,
    freq_masks: int = 2,
    freq_width: int = 27,
    time_masks: int = 2,
    time_width: int = 100,
    max_time_ratio: float = 1.0,
    generator: torch.Generator | None = None,
    lengths: Lengths | None = None,
) -> Tensor:
    r"""SpecAugment frequency and time masking (Park et al. 2019, without time warping) of
    features ``[B, F, T]``: for each utterance b of length :math:`τ_b` (``lengths``, default
    T), ``freq_masks`` times

    .. math:: f \sim \mathcal U\{0, …, \min(\text{freq\_width}, F)\}, \quad
              f_0 \sim \mathcal U\{0, …, F - f\}, \qquad
              x_{b, [f_0, f_0 + f), t} \leftarrow 0 \ \text{ for } t < τ_b,

    and ``time_masks`` times

    .. math:: t \sim \mathcal U\{0, …, \min(\text{time\_width}, \lfloor p τ_b \rfloor)\}, \quad
              t_0 \sim \mathcal U\{0, …, τ_b - t\}, \qquad
              x_{b, :, [t_0, t_0 + t)} \leftarrow 0,

    with p = ``max_time_ratio``. Masks may overlap, and none reaches a frame at or past
    :math:`τ_b`. Masked entries are set to 0, which is the mean when the features are
    normalised to mean zero as Park et al.'s are: normalise before masking. The defaults are
    Park et al.'s LibriSpeech double policy (LD) for 80 mel bands. Returns a new tensor; the
    draws come from ``generator`` (the global generator if ``None``) on its device, so a
    seeded generator gives the same masks every time.

    >>> g = torch.Generator().manual_seed(0)
    >>> x = torch.ones(2, 80, 300)
    >>> y = spec_augment(x, generator=g, lengths=[300, 200])
    >>> bool((y[1, :, 200:] == 1).all()), bool((y == 0).any())
    (True, True)
    """
    checks.tensor("features", features)
    if features.dim() != 3:
        raise ValueError(f"features must be [B, F, T], got shape {tuple(features.shape)}")
    B, F, T = features.shape
    freq_masks = checks.non_negative_int("freq_masks", freq_masks)
    time_masks = checks.non_negative_int("time_masks", time_masks)
    freq_width = checks.non_negative_int("freq_width", freq_width)
    time_width = checks.non_negative_int("time_width", time_width)
    if not 0 <= checks.real("max_time_ratio", max_time_ratio) <= 1:
        raise ValueError(f"max_time_ratio must lie in [0, 1], got {max_time_ratio!r}")
    device = generator.device if generator is not None else features.device
    frames = _lengths(lengths, B, T, device)
    channels = torch.full((B,), F, dtype=torch.float64, device=device)
    freq_limit = channels.clamp(max=freq_width)
    time_limit = (max_time_ratio * frames).floor_().clamp_(max=time_width)
    in_freq = _bands(channels, freq_limit, freq_masks, F, generator)
    in_time = _bands(frames, time_limit, time_masks, T, generator)
    within = torch.arange(T, device=device) < frames[:, None]
    masked = (in_freq[:, :, None] | in_time[:, None, :]) & within[:, None, :]
    return features.masked_fill(masked.to(features.device), 0.0)


def warp_bands(features: Tensor, factors: Tensor, boundary: float = 0.8) -> Tensor:
    r"""Vocal tract length perturbation (Jaitly & Hinton 2013) on the band axis of features
    ``[B, F, T]``: band f of utterance b takes the value at position :math:`s_b(f)` of its
    input, linearly interpolated between bands, with the piecewise-linear warp

    .. math:: s_b(f) = \begin{cases} α_b f & f \le f_b, \\
              α_b f_b + (F - 1 - α_b f_b) \dfrac{f - f_b}{F - 1 - f_b} & f > f_b, \end{cases}
              \qquad f_b = \text{boundary} \cdot (F - 1) \min(1, 1 / α_b),

    which fixes the first and the last band and maps :math:`[0, F-1]` onto itself. α > 1
    moves a formant at band f down to band f / α, as a longer vocal tract would. Jaitly &
    Hinton warp linear frequency before the filterbank, with α drawn uniformly on [0.9, 1.1];
    warping the mel bands, as here, is the cheap approximation that works on cached features.
    ``factors`` ``[B]`` holds the α_b, each in (0, ∞).

    >>> x = torch.zeros(1, 5, 1); x[0, 2, 0] = 1.0
    >>> warp_bands(x, torch.tensor([2.0]), boundary=1.0)[0, :, 0].tolist()
    [0.0, 1.0, 0.0, 0.0, 0.0]
    >>> bool(torch.equal(warp_bands(x, torch.ones(1)), x))
    True
    """
    checks.tensor("features", features)
    if features.dim() != 3:
        raise ValueError(f"features must be [B, F, T], got shape {tuple(features.shape)}")
    checks.tensor("factors", factors)
    B, F, T = features.shape
    if factors.shape != (B,):
        raise ValueError(f"factors must be [B] (B = {B}), got shape {tuple(factors.shape)}")
    if not bool((factors > 0).all()) or not bool(factors.isfinite().all()):
        raise ValueError("factors must be finite and positive")
    if not 0 < checks.real("boundary", boundary) <= 1:
        raise ValueError(f"boundary must lie in (0, 1], got {boundary!r}")
    top = float(F - 1)
    alpha = factors.to(torch.float64, copy=False)[:, None]
    band = torch.arange(F, dtype=torch.float64, device=factors.device)
    knee = boundary * top * alpha.reciprocal().clamp(max=1.0)
    slope = (top - alpha * knee) / (top - knee).clamp(min=1e-12)
    position = torch.where(band <= knee, alpha * band, alpha * knee + slope * (band - knee))
    position = position.clamp_(0.0, top).to(features.device)
    below = position.floor().long().clamp_(max=max(F - 2, 0))
    weight = (position - below).to(features.dtype)[:, :, None]
    lower = features.gather(1, below[:, :, None].expand(B, F, T))
    upper = features.gather(1, (below + 1).clamp_(max=F - 1)[:, :, None].expand(B, F, T))
    return lower + weight * (upper - lower)


def _band_limits(sample_rate: float, f_min: float, f_max: float | None) -> tuple[float, float]:
    """``(f_min, f_max)`` as floats, ``f_max`` defaulting to the Nyquist frequency, if
    0 ≤ f_min < f_max ≤ sample_rate / 2."""
    nyquist = sample_rate / 2
    f_min = checks.real("f_min", f_min)
    f_max = nyquist if f_max is None else checks.real("f_max", f_max)
    if f_min < 0:
        raise ValueError(f"f_min must be >= 0, got {f_min!r}")
    if f_max > nyquist:
        raise ValueError(f"f_max must be at most sample_rate / 2 = {nyquist}, got {f_max!r}")
    if f_max <= f_min:
        raise ValueError(f"f_max must exceed f_min = {f_min}, got {f_max!r}")
    return f_min, f_max


def _normalised(weights: Tensor, edges: Tensor, norm: Norm) -> Tensor:
    """The triangles ``weights`` scaled as ``norm`` says (see :func:`mel_filterbank`)."""
    if norm is None:
        return weights
    if norm == "slaney":
        return weights * (2.0 / (edges[2:] - edges[:-2]))[:, None]
    if isinstance(norm, bool | str) or not isinstance(norm, int | float) or not norm > 0:
        raise ValueError(
            f"norm must be 'slaney', None or a number p > 0 (an l_p norm), got {norm!r}"
        )
    length = torch.linalg.vector_norm(weights, ord=norm, dim=1, keepdim=True)
    return weights / torch.where(length > torch.finfo(weights.dtype).tiny, length, 1.0)


def _check_waveform(waveform: Tensor, n_fft: int, center: bool, pad_mode: str) -> None:
    """A ``ValueError`` unless ``waveform`` is ``[..., samples]`` with enough samples for one
    frame (and, for reflect padding, more than ``n_fft // 2``)."""
    checks.tensor("waveform", waveform)
    if pad_mode not in PAD_MODES:
        raise ValueError(f"pad_mode must be one of {PAD_MODES}, got {pad_mode!r}")
    if waveform.dim() < 1:
        raise ValueError("waveform must be [..., samples], got a 0-dimensional tensor")
    if not center:
        needed = n_fft
    elif pad_mode in ("reflect", "circular"):
        needed = n_fft // 2 + 1
    else:
        needed = 1
    if waveform.shape[-1] < needed:
        raise ValueError(
            f"waveform must have at least {needed} samples for n_fft = {n_fft} "
            f"(center={center}, pad_mode={pad_mode!r}), got shape {tuple(waveform.shape)}"
        )


def _short_time(
    waveform: Tensor,
    n_fft: int,
    hop_length: int,
    win_length: int | None,
    power: float | None,
    center: bool,
    pad_mode: str,
    filters: Tensor | None = None,
) -> Tensor:
    """The spectrogram of :func:`spectrogram`, or ``filters @`` it, computed by torch.stft in
    blocks of about ``_BLOCK_VALUES`` spectral values (several utterances, or a span of frames
    of one), so that no complex STFT of the whole batch is held and each block's spectra are
    still in cache when they are squared and filtered."""
    n_fft = checks.positive_int("n_fft", n_fft)
    hop_length = checks.positive_int("hop_length", hop_length)
    win_length = n_fft if win_length is None else checks.positive_int("win_length", win_length)
    if win_length > n_fft:
        raise ValueError(f"win_length must be at most n_fft = {n_fft}, got {win_length}")
    if power is not None:
        power = checks.positive_real("power", power)
    _check_waveform(waveform, n_fft, center, pad_mode)
    signal = waveform.reshape(-1, 1, waveform.shape[-1])
    if center:
        signal = torch.nn.functional.pad(signal, (n_fft // 2, n_fft // 2), mode=pad_mode)
    signal = signal[:, 0]
    window = torch.hann_window(win_length, periodic=True, dtype=signal.dtype, device=signal.device)
    n_bins = n_fft // 2 + 1
    n_rows, n_frames = signal.shape[0], 1 + (signal.shape[1] - n_fft) // hop_length
    out = signal.new_empty(
        (n_rows, n_bins if filters is None else filters.shape[0], n_frames),
        dtype=signal.dtype if power is not None else signal.dtype.to_complex(),
    )
    span = min(n_frames, max(1, _BLOCK_VALUES // n_bins))
    group = max(1, _BLOCK_VALUES // (n_bins * span))
    for row in range(0, n_rows, group):
        for frame in range(0, n_frames, span):
            frames = slice(frame, min(frame + span, n_frames))
            samples = signal[
                row : row + group, frame * hop_length : (frames.stop - 1) * hop_length + n_fft
            ]
            block = torch.stft(
                samples, n_fft, hop_length, win_length, window, center=False, return_complex=True
            )
            if power is not None:
                real, imag = torch.view_as_real(block).unbind(-1)
                block = real.square() + imag.square()
                if power != 2.0:
                    block = block.pow_(power / 2)
            out[row : row + group, :, frames] = block if filters is None else filters @ block
    return out.reshape(*waveform.shape[:-1], *out.shape[1:])


def _lengths(lengths: Lengths | None, batch: int, frames: int, device: torch.device) -> Tensor:
    """Each utterance's number of frames as float64 ``[B]``, ``frames`` if ``None``."""
    if lengths is None:
        return torch.full((batch,), float(frames), dtype=torch.float64, device=device)
    out = torch.as_tensor(lengths, device=device)
    if out.dtype.is_floating_point or out.dtype.is_complex or out.dtype == torch.bool:
        raise ValueError(f"lengths must be integers, got dtype {out.dtype}")
    if out.shape != (batch,):
        raise ValueError(
            f"lengths must have one entry per utterance (B = {batch}), got shape {tuple(out.shape)}"
        )
    if ((out < 0) | (out > frames)).any():
        raise ValueError(f"lengths must lie in [0, {frames}] (T), got {out.tolist()}")
    return out.to(torch.float64)


def _bands(
    extent: Tensor, limit: Tensor, count: int, size: int, generator: torch.Generator | None
) -> Tensor:
    """The union ``[B, size]`` of ``count`` random bands per row b: a width uniform on
    {0..limit[b]}, then a start uniform on {0..extent[b] − width}."""
    u = torch.rand(
        (2, extent.shape[0], count), generator=generator, dtype=torch.float64, device=extent.device
    )
    width = (u[0] * (limit[:, None] + 1)).floor_()
    start = (u[1] * (extent[:, None] - width + 1)).floor_()
    position = torch.arange(size, dtype=torch.float64, device=extent.device)[:, None]
    inside = (position >= start[:, None, :]) & (position < (start + width)[:, None, :])
    return inside.any(dim=-1)

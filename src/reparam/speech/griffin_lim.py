r"""Audio from spectrograms: Griffin-Lim phase reconstruction (with Perraudin et al.'s
momentum) and the pseudo-inverse of the mel filterbank, Tacotron's road from predicted mel
frames back to a waveform.

Given a target magnitude :math:`|S|` (``[..., n_fft // 2 + 1, frames]``), Griffin & Lim (1984)
alternate between the signal closest to :math:`|S| e^{iφ}` and the phase of its STFT,

.. math:: x_k = \mathrm{ISTFT}(|S|\, e^{iφ_k}), \qquad
          c_k = \mathrm{STFT}(x_k), \qquad
          φ_{k+1} = \arg\Big(c_k - \frac{μ}{1 + μ}\, c_{k-1}\Big),

which for momentum μ = 0 never increases the spectral convergence
:math:`\lVert |S| - |\mathrm{STFT}(x)| \rVert_F / \lVert S \rVert_F`; μ = 0.99 is the fast
variant of Perraudin, Balazs & Søndergaard (2013). The update is librosa's
``librosa.griffinlim`` (the tests hold the two together). Mel frames
:math:`M = W S^{∘p}` become a magnitude through the pseudo-inverse of the filterbank W,
:math:`\hat S = \max(W^+ M, 0)^{1/p}` (:func:`mel_to_magnitude`).

References:
    Griffin & Lim (1984), Signal estimation from modified short-time Fourier transform, IEEE
    Trans. ASSP 32(2).
    Perraudin, Balazs & Søndergaard (2013), A fast Griffin-Lim algorithm, WASPAA.

Example:
    >>> import math
    >>> t = torch.arange(8000, dtype=torch.float64) / 8000
    >>> tone = torch.sin(2 * math.pi * 440 * t)
    >>> magnitude = spectrogram(tone, 512, 128, power=1.0)
    >>> rough = griffin_lim(magnitude, 512, 128, n_iter=2, length=8000)
    >>> better = griffin_lim(magnitude, 512, 128, n_iter=32, length=8000)
    >>> converge = lambda x: spectral_convergence(magnitude, x, 512, 128)
    >>> bool(converge(better) < converge(rough))
    True
"""

from __future__ import annotations

import torch
from torch import Tensor

from reparam import checks
from reparam.speech.features import PAD_MODES, spectrogram


def mel_to_magnitude(mel: Tensor, filterbank: Tensor, power: float = 2.0) -> Tensor:
    r"""The magnitude spectrogram ``[..., n_fft // 2 + 1, frames]`` whose mel spectrogram
    (``filterbank`` W ``[n_mels, n_fft // 2 + 1]``, ``power`` p) is closest to ``mel``
    ``[..., n_mels, frames]`` in least squares, :math:`\max(W^+ M, 0)^{1/p}`; frequencies no
    band covers come back 0.

    >>> from reparam.speech.features import mel_filterbank
    >>> W = mel_filterbank(16000, 512, 40, dtype=torch.float64)
    >>> S = torch.rand(257, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    >>> M = W @ S**2
    >>> error = W @ mel_to_magnitude(M, W) ** 2 - M  # only the clamp at 0 moves it off M
    >>> bool(error.norm() < 0.05 * M.norm())
    True
    """
    checks.tensor("mel", mel)
    checks.tensor("filterbank", filterbank)
    power = checks.positive_real("power", power)
    if filterbank.dim() != 2 or mel.dim() < 2 or mel.shape[-2] != filterbank.shape[0]:
        raise ValueError(
            f"mel [..., n_mels, frames] must have the filterbank's {filterbank.shape[0]} bands "
            f"(filterbank [n_mels, bins]), got mel {tuple(mel.shape)}, "
            f"filterbank {tuple(filterbank.shape)}"
        )
    inverse = torch.linalg.pinv(filterbank.to(torch.float64)).to(mel.dtype)
    return (inverse @ mel).clamp_(min=0.0).pow_(1.0 / power)


def _istft(spectrum: Tensor, n_fft: int, hop_length: int, length: int | None) -> Tensor:
    window = torch.hann_window(n_fft, dtype=spectrum.real.dtype, device=spectrum.device)
    shape = spectrum.shape
    flat = spectrum.reshape(-1, *shape[-2:])
    waves = torch.istft(flat, n_fft, hop_length, window=window, center=True, length=length)
    return waves.reshape(*shape[:-2], waves.shape[-1])


def griffin_lim(
    magnitude: Tensor,
    n_fft: int,
    hop_length: int,
    n_iter: int = 32,
    momentum: float = 0.99,
    *,
    length: int | None = None,
    pad_mode: str = "reflect",
    generator: torch.Generator | None = None,
) -> Tensor:
    r"""A waveform ``[..., samples]`` whose STFT magnitude (periodic Hann window of
    ``n_fft``, hop ``hop_length``, centred frames padded by ``pad_mode``) approximates
    ``magnitude`` ``[..., n_fft // 2 + 1, frames]``, after ``n_iter`` Griffin-Lim iterations
    with ``momentum`` (see the module docstring). The phase starts at 0, or uniformly random
    with ``generator``. ``length`` trims or pads the output to that many samples (default
    ``hop_length · (frames − 1)``). librosa's ``griffinlim`` with ``init=None`` and
    ``pad_mode="constant"`` is the same computation.
    """
    checks.tensor("magnitude", magnitude)
    n_fft, hop_length = (
        checks.positive_int("n_fft", n_fft),
        checks.positive_int("hop_length", hop_length),
    )
    n_iter = checks.non_negative_int("n_iter", n_iter)
    if not 0 <= checks.real("momentum", momentum) < 1:
        raise ValueError(f"momentum must lie in [0, 1), got {momentum!r}")
    if pad_mode not in PAD_MODES:
        raise ValueError(f"pad_mode must be one of {PAD_MODES}, got {pad_mode!r}")
    if magnitude.dim() < 2 or magnitude.shape[-2] != n_fft // 2 + 1:
        raise ValueError(
            f"magnitude must be [..., n_fft // 2 + 1 = {n_fft // 2 + 1}, frames], "
            f"got shape {tuple(magnitude.shape)}"
        )
    if (magnitude < 0).any():
        raise ValueError("magnitude must be non-negative")
    samples = length if length is not None else hop_length * (magnitude.shape[-1] - 1)
    if samples < 1:
        raise ValueError(
            "magnitude has too few frames for a waveform: give two or more, or a length"
        )
    if pad_mode in ("reflect", "circular") and samples <= n_fft // 2:
        raise ValueError(
            f"magnitude has too few frames ({magnitude.shape[-1]}) for pad_mode={pad_mode!r}, "
            f"which needs more than n_fft // 2 = {n_fft // 2} samples; use pad_mode='constant'"
        )
    if generator is None:
        angles = torch.ones_like(
            magnitude, dtype=torch.promote_types(magnitude.dtype, torch.complex64)
        )
    else:
        phase = torch.rand(magnitude.shape, generator=generator, dtype=magnitude.dtype)
        angles = torch.polar(torch.ones_like(phase), 2 * torch.pi * phase).to(magnitude.device)
    tiny = torch.finfo(magnitude.dtype).tiny
    previous = torch.zeros_like(angles)
    for _ in range(n_iter):
        waveform = _istft(magnitude * angles, n_fft, hop_length, length)
        rebuilt = spectrogram(waveform, n_fft, hop_length, power=None, pad_mode=pad_mode)
        rebuilt = rebuilt[..., : magnitude.shape[-1]]
        angles = rebuilt - (momentum / (1 + momentum)) * previous
        angles = angles / (angles.abs() + tiny)
        previous = rebuilt
    return _istft(magnitude * angles, n_fft, hop_length, length)


def spectral_convergence(
    magnitude: Tensor, waveform: Tensor, n_fft: int, hop_length: int, pad_mode: str = "reflect"
) -> Tensor:
    r"""How far ``waveform``'s STFT magnitude is from ``magnitude``,
    :math:`\lVert |S| - |\mathrm{STFT}(x)| \rVert_F / \lVert S \rVert_F` over the last two
    dimensions (0 is a perfect match)."""
    checks.tensor("magnitude", magnitude)
    rebuilt = spectrogram(waveform, n_fft, hop_length, power=1.0, pad_mode=pad_mode)
    frames = min(rebuilt.shape[-1], magnitude.shape[-1])
    error = torch.linalg.matrix_norm(magnitude[..., :frames] - rebuilt[..., :frames])
    return error / torch.linalg.matrix_norm(magnitude[..., :frames])

"""Spectrograms, mel filterbanks, log-mels, MFCCs, SpecAugment and the band warp
(reparam.speech.features):
against librosa where it is installed, and by their defining properties everywhere."""

import math

import numpy as np
import pytest
import scipy.fft
import torch

from reparam.speech.features import (
    dct_matrix,
    hz_to_mel,
    log_mel_spectrogram,
    mel_filterbank,
    mel_to_hz,
    melspectrogram,
    mfcc,
    power_to_db,
    spec_augment,
    spectrogram,
    warp_bands,
)

F64 = torch.float64
SR = 22050

FILTERBANKS = [  # (sample_rate, n_fft, n_mels, f_min, f_max, htk, norm)
    (22050, 1024, 80, 0.0, None, False, "slaney"),
    (16000, 512, 40, 20.0, 7600.0, True, "slaney"),
    (16000, 400, 64, 0.0, 8000.0, False, None),
    (8000, 256, 23, 100.0, 3800.0, True, 2.0),
    (44100, 2048, 128, 30.0, 16000.0, False, 1.0),
    (16000, 511, 40, 0.0, None, False, math.inf),
]


def chirp_and_noise(seconds: float = 3.0, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A linear chirp from 100 Hz to 8 kHz at half amplitude, plus white noise of std 0.05."""
    t = torch.arange(int(seconds * SR), dtype=F64) / SR
    f0, f1 = 100.0, 8000.0
    sweep = torch.sin(2 * math.pi * (f0 * t + (f1 - f0) / (2 * seconds) * t**2))
    noise = torch.randn(t.shape, generator=torch.Generator().manual_seed(0), dtype=F64)
    return (0.5 * sweep + 0.05 * noise).to(dtype)


def relative_error(ours: torch.Tensor, reference: np.ndarray) -> float:
    """The largest absolute difference, relative to the largest magnitude of ``reference``."""
    return float(np.abs(ours.numpy() - reference).max() / np.abs(reference).max())


# --------------------------------------------------------------------------- librosa


@pytest.mark.parametrize("case", FILTERBANKS)
def test_mel_filterbank_is_librosas(case):
    librosa = pytest.importorskip("librosa")
    sr, n_fft, n_mels, f_min, f_max, htk, norm = case
    for dtype, np_dtype, tolerance in [(F64, np.float64, 1e-12), (torch.float32, np.float32, 1e-6)]:
        ours = mel_filterbank(sr, n_fft, n_mels, f_min, f_max, norm, htk, dtype=dtype)
        reference = librosa.filters.mel(
            sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=f_min, fmax=f_max, htk=htk, norm=norm,
            dtype=np_dtype,
        )  # fmt: skip
        assert ours.dtype == dtype and ours.shape == reference.shape
        assert relative_error(ours, reference) < tolerance


@pytest.mark.parametrize("pad_mode", ["constant", "reflect"])
def test_melspectrogram_is_librosas(pad_mode):
    librosa = pytest.importorskip("librosa")
    x = chirp_and_noise()
    for options in [{}, {"win_length": 800, "power": 1.0, "htk": True, "f_min": 50.0}]:
        ours = melspectrogram(x, SR, 1024, 256, 80, pad_mode=pad_mode, **options)
        librosa_options = {"fmin" if k == "f_min" else k: v for k, v in options.items()}
        reference = librosa.feature.melspectrogram(
            y=x.numpy(), sr=SR, n_fft=1024, hop_length=256, n_mels=80, pad_mode=pad_mode,
            **librosa_options,
        )  # fmt: skip
        assert relative_error(ours, reference) < 1e-5  # 2.5e-7 achieved in float32


def test_complex_stft_is_librosas():
    librosa = pytest.importorskip("librosa")
    x = chirp_and_noise(1.0)
    ours = spectrogram(x, 512, 160, 400, power=None)
    reference = librosa.stft(
        x.numpy(), n_fft=512, hop_length=160, win_length=400, pad_mode="reflect"
    )
    assert relative_error(ours, reference) < 1e-6


def test_mfcc_is_librosas():
    librosa = pytest.importorskip("librosa")
    x = chirp_and_noise()
    options = {"n_fft": 1024, "hop_length": 256, "n_mels": 80, "pad_mode": "constant"}
    reference = librosa.feature.mfcc(y=x.numpy(), sr=SR, n_mfcc=20, **options)
    assert np.abs(mfcc(x, SR, 20, **options).numpy() - reference).max() < 2e-4  # 5e-5 achieved
    x64 = x.double()
    reference = librosa.feature.mfcc(
        y=x64.numpy(), sr=SR, n_mfcc=13, lifter=22, dtype=np.float64, **options
    )
    assert np.abs(mfcc(x64, SR, 13, lifter=22, **options).numpy() - reference).max() < 1e-9


def test_power_to_db_is_librosas_for_each_utterance():
    librosa = pytest.importorskip("librosa")
    power = (
        torch.rand(2, 5, 7, dtype=F64) ** 8 * torch.tensor([1.0, 1e-6], dtype=F64)[:, None, None]
    )
    ours = power_to_db(power, ref=0.5, top_db=30.0)
    for utterance, db in zip(power.numpy(), ours, strict=True):
        reference = librosa.power_to_db(utterance, ref=0.5, top_db=30.0)
        np.testing.assert_allclose(db.numpy(), reference, rtol=0, atol=1e-12)


# --------------------------------------------------------------------------- filterbank


@pytest.mark.parametrize("htk", [False, True])
def test_mel_scale_round_trips_and_known_values(htk):
    hz = torch.linspace(0, 11025, 1001, dtype=F64)
    torch.testing.assert_close(mel_to_hz(hz_to_mel(hz, htk), htk), hz, rtol=1e-12, atol=1e-9)
    assert float(hz_to_mel(700.0, htk=True)) == pytest.approx(2595 * math.log10(2))
    assert float(hz_to_mel(200.0)) == pytest.approx(3.0)
    assert float(hz_to_mel(6400.0)) == pytest.approx(42.0)  # 27 mels per factor 6.4 past 1 kHz


@pytest.mark.parametrize("htk", [False, True])
def test_each_filter_is_a_triangle_on_its_mel_edges(htk):
    sr, n_fft, n_mels, f_min, f_max = 16000, 2048, 30, 60.0, 7000.0
    fb = mel_filterbank(sr, n_fft, n_mels, f_min, f_max, norm=None, htk=htk, dtype=F64)
    bin_hz = torch.arange(n_fft // 2 + 1, dtype=F64) * sr / n_fft
    low_mel, high_mel = float(hz_to_mel(f_min, htk)), float(hz_to_mel(f_max, htk))
    edges = mel_to_hz(torch.linspace(low_mel, high_mel, n_mels + 2, dtype=F64), htk)
    assert (fb >= 0).all() and (fb <= 1).all()
    assert (fb[:, (bin_hz <= f_min) | (bin_hz >= f_max)] < 1e-12).all()  # round-off at f_max
    for m, row in enumerate(fb):
        low, centre, high = edges[m : m + 3]
        inside = (bin_hz > low) & (bin_hz < high)
        assert (row[~inside] < 1e-12).all() and (row[inside] > 0).all()
        rising, falling = row[inside & (bin_hz <= centre)], row[inside & (bin_hz >= centre)]
        assert (rising.diff() > 0).all() and (falling.diff() < 0).all()
        nearest = int((bin_hz - centre).abs().argmin())
        assert int(row.argmax()) == nearest  # the peak is at the centre


def test_slaney_filters_have_unit_area():
    sr, n_fft = 16000, 8192
    fb = mel_filterbank(sr, n_fft, 40, norm="slaney", dtype=F64)
    areas = fb.sum(1) * sr / n_fft  # the rectangle rule, exact up to the bins at the corners
    torch.testing.assert_close(areas, torch.ones(40, dtype=F64), rtol=0, atol=0.02)
    peaks = mel_filterbank(sr, n_fft, 40, norm=None, dtype=F64).amax(1)
    torch.testing.assert_close(peaks, torch.ones(40, dtype=F64), rtol=0, atol=0.02)


def test_lp_norm_gives_unit_rows():
    fb = mel_filterbank(16000, 512, 40, norm=2.0, dtype=F64)
    torch.testing.assert_close(fb.norm(dim=1), torch.ones(40, dtype=F64))


# --------------------------------------------------------------------------- spectrogram


def test_spectrogram_obeys_parseval():
    n_fft, hop = 512, 128
    x = torch.randn(3, 4000, dtype=F64)
    spec = spectrogram(x, n_fft, hop, center=False)
    window = torch.hann_window(n_fft, periodic=True, dtype=F64)
    frames = x.unfold(-1, n_fft, hop) * window  # [3, frames, n_fft]
    one_sided = 2 * spec.sum(-2) - spec[..., 0, :] - spec[..., -1, :]
    torch.testing.assert_close(one_sided, n_fft * frames.square().sum(-1))


def test_a_pure_tone_peaks_in_its_bin_and_mel_band():
    sr, n_fft, hz = 16000, 512, 1000.0
    tone = torch.sin(2 * math.pi * hz * torch.arange(sr, dtype=F64) / sr)
    spec = spectrogram(tone, n_fft, 128)
    assert int(spec.mean(-1).argmax()) == round(hz * n_fft / sr)
    mel = melspectrogram(tone, sr, n_fft, 128, n_mels=40, norm=None)
    fb = mel_filterbank(sr, n_fft, 40, norm=None)
    assert int(mel.mean(-1).argmax()) == int(fb[:, 32].argmax())
    centres = mel_to_hz(torch.linspace(0, float(hz_to_mel(sr / 2)), 42, dtype=F64)[1:-1])
    assert abs(float(centres[int(mel.mean(-1).argmax())]) - hz) < 60


def test_frame_count_and_magnitude_power():
    x = torch.randn(2, 10000, dtype=F64)
    assert spectrogram(x, 400, 160).shape == (2, 201, 1 + 10000 // 160)
    assert spectrogram(x, 400, 160, center=False).shape == (2, 201, 1 + (10000 - 400) // 160)
    power, magnitude = spectrogram(x, 400, 160), spectrogram(x, 400, 160, power=1.0)
    torch.testing.assert_close(magnitude.square(), power)
    torch.testing.assert_close(spectrogram(x, 400, 160, power=3.0), magnitude**3)


@pytest.mark.parametrize("shape", [(300_000,), (40, 3000)])
def test_blocks_equal_one_torch_stft(shape):
    """A long signal (split into spans of frames) and many short ones (grouped) give torch's
    STFT of the whole batch."""
    x = torch.randn(shape)
    window = torch.hann_window(1024)
    whole = torch.stft(x, 1024, 256, window=window, return_complex=True)
    torch.testing.assert_close(spectrogram(x, 1024, 256, power=None), whole)
    fb = mel_filterbank(SR, 1024, 80)
    torch.testing.assert_close(
        melspectrogram(x, SR), fb @ whole.abs().square(), rtol=1e-4, atol=1e-4
    )


@pytest.mark.parametrize(
    "feature",
    [
        lambda x: spectrogram(x, 256, 64),
        lambda x: melspectrogram(x, 16000, 256, 64, 40),
        lambda x: log_mel_spectrogram(x, 16000, 256, 64, 40),
        lambda x: mfcc(x, 16000, 13, 256, 64, 40),
    ],
)
def test_a_batch_equals_its_rows(feature):
    x = torch.randn(2, 3, 4000, dtype=F64)
    batch = feature(x)
    rows = torch.stack([torch.stack([feature(row) for row in pair]) for pair in x])
    torch.testing.assert_close(batch, rows)


def test_log_mel_is_the_floored_natural_log():
    x = torch.cat([torch.zeros(4000), torch.randn(4000)])
    mel = melspectrogram(x, 16000, 512, 128, 40)
    torch.testing.assert_close(
        log_mel_spectrogram(x, 16000, 512, 128, 40, floor=1e-3), mel.clamp(min=1e-3).log()
    )
    assert float(log_mel_spectrogram(x, 16000, 512, 128, 40).min()) == pytest.approx(math.log(1e-5))


def test_dct_matrix_is_scipys_orthonormal_dct():
    x = torch.randn(24, 5, dtype=F64)
    reference = scipy.fft.dct(x.numpy(), type=2, norm="ortho", axis=0)[:13]
    np.testing.assert_allclose((dct_matrix(13, 24, dtype=F64) @ x).numpy(), reference, atol=1e-12)
    full = dct_matrix(24, 24, dtype=F64)
    torch.testing.assert_close(full @ full.T, torch.eye(24, dtype=F64))


# --------------------------------------------------------------------------- SpecAugment


def augment(x: torch.Tensor, seed: int, **options) -> torch.Tensor:
    return spec_augment(x, generator=torch.Generator().manual_seed(seed), **options)


def test_spec_augment_is_deterministic_with_a_seeded_generator():
    x = torch.randn(4, 80, 200)
    first, again, other = augment(x, 1), augment(x, 1), augment(x, 2)
    assert torch.equal(first, again) and not torch.equal(first, other)
    torch.manual_seed(3)
    global_first = spec_augment(x)
    torch.manual_seed(3)
    assert torch.equal(global_first, spec_augment(x))


def test_spec_augment_masks_rows_and_columns_within_lengths():
    lengths = [200, 150, 60, 0]
    x = torch.rand(4, 80, 200) + 1  # no zeros before masking
    y = augment(x, 0, freq_width=10, time_width=30, max_time_ratio=0.2, lengths=lengths)
    assert torch.equal(x, augment(x, 0, freq_masks=0, time_masks=0))
    for b, length in enumerate(lengths):
        torch.testing.assert_close(y[b, :, length:], x[b, :, length:], rtol=0, atol=0)
        if length == 0:
            continue
        zero = y[b, :, :length] == 0
        channels, frames = zero.all(1), zero.all(0)
        assert torch.equal(zero, channels[:, None] | frames[None, :])  # whole bands only
        assert int(channels.sum()) <= 2 * 10
        assert int(frames.sum()) <= 2 * min(30, math.floor(0.2 * length))
        kept = y[b, :, :length][~zero]
        assert torch.equal(kept, x[b, :, :length][~zero])


def test_spec_augment_widths_are_uniform_on_zero_to_the_width():
    x = torch.ones(4000, 10, 50)
    y = augment(x, 0, freq_masks=1, freq_width=3, time_masks=0)
    widths = (y[:, :, 0] == 0).sum(1)
    counts = torch.bincount(widths, minlength=4)
    assert counts.shape == (4,) and (counts > 850).all()  # about 1000 each
    starts = (y[:, :, 0] == 0).float().argmax(1)[widths == 3]
    assert set(starts.tolist()) == set(range(8))  # every band of width 3 fits


def test_spec_augment_leaves_its_input_alone():
    x = torch.ones(2, 20, 30)
    augment(x, 0, freq_width=20, time_width=30)
    assert (x == 1).all()


# --------------------------------------------------------------------------- band warp


def warped_position(f: int, alpha: float, bands: int, boundary: float = 0.8) -> float:
    """Jaitly & Hinton's piecewise-linear warp of band f, written out for one band."""
    top = bands - 1
    knee = boundary * top * min(1.0, 1.0 / alpha)
    if f <= knee:
        return alpha * f
    return alpha * knee + (top - alpha * knee) * (f - knee) / (top - knee)


@pytest.mark.parametrize("alpha", [0.8, 0.9, 1.0, 1.1, 1.25])
def test_warp_bands_moves_a_ramp_to_the_warped_positions(alpha):
    """Linear interpolation of the ramp x_f = f returns the warped position itself."""
    bands = 40
    ramp = torch.arange(bands, dtype=F64)[None, :, None].expand(1, bands, 3)
    y = warp_bands(ramp, torch.tensor([alpha], dtype=F64))
    expected = torch.tensor([warped_position(f, alpha, bands) for f in range(bands)], dtype=F64)
    torch.testing.assert_close(y[0], expected[:, None].expand(bands, 3), rtol=0, atol=1e-12)
    assert y[0, 0, 0] == 0 and y[0, -1, 0] == bands - 1  # the end bands stay where they are
    assert (y[0, 1:, 0] >= y[0, :-1, 0]).all()  # the warp keeps the bands' order


def test_warp_bands_warps_each_utterance_by_its_own_factor():
    x = torch.randn(3, 80, 50)
    factors = torch.tensor([0.9, 1.0, 1.1])
    y = warp_bands(x, factors)
    torch.testing.assert_close(y[1], x[1])
    for b in (0, 2):
        torch.testing.assert_close(y[b : b + 1], warp_bands(x[b : b + 1], factors[b : b + 1]))
    assert not torch.allclose(y[0], x[0]) and not torch.allclose(y[2], x[2])
    assert y.dtype == x.dtype and x.shape == y.shape


def test_warp_bands_moves_a_formant_down_for_a_longer_tract():
    """A peak at band 30 lands at band 30 / α for α = 1.2, and at 30 / 0.8 for α = 0.8."""
    x = torch.zeros(2, 80, 1)
    x[:, 30] = 1.0
    y = warp_bands(x, torch.tensor([1.2, 0.8]))
    assert int(y[0, :, 0].argmax()) == 25 and int(y[1, :, 0].argmax()) in (37, 38)


# --------------------------------------------------------------------------- bad arguments

WAVE = torch.randn(4000)

BAD_CALLS = [
    ("n_mels", lambda: mel_filterbank(16000, 512, 0)),
    ("n_fft", lambda: mel_filterbank(16000, 0)),
    ("sample_rate", lambda: mel_filterbank(-16000.0, 512)),
    ("f_max", lambda: mel_filterbank(16000, 512, f_max=9000.0)),
    ("f_max", lambda: mel_filterbank(16000, 512, f_min=4000.0, f_max=3000.0)),
    ("f_min", lambda: mel_filterbank(16000, 512, f_min=-1.0)),
    ("norm", lambda: mel_filterbank(16000, 512, norm="area")),
    ("norm", lambda: mel_filterbank(16000, 512, norm=-1.0)),
    ("waveform", lambda: spectrogram(torch.tensor(1.0), 512, 128)),
    ("waveform", lambda: spectrogram(torch.randn(2, 256), 512, 128)),
    ("waveform", lambda: spectrogram(torch.randn(2, 500), 512, 128, center=False)),
    ("hop_length", lambda: spectrogram(WAVE, 512, 0)),
    ("win_length", lambda: spectrogram(WAVE, 512, 128, win_length=1024)),
    ("power", lambda: spectrogram(WAVE, 512, 128, power=0.0)),
    ("pad_mode", lambda: spectrogram(WAVE, 512, 128, pad_mode="edge")),
    ("f_max", lambda: melspectrogram(WAVE, 16000, f_max=8001.0)),
    ("floor", lambda: log_mel_spectrogram(WAVE, 16000, floor=0.0)),
    ("n_mfcc", lambda: mfcc(WAVE, 16000, n_mfcc=41, n_mels=40)),
    ("lifter", lambda: mfcc(WAVE, 16000, lifter=-1.0)),
    ("top_db", lambda: power_to_db(torch.rand(3, 4), top_db=-1.0)),
    ("amin", lambda: power_to_db(torch.rand(3, 4), amin=0.0)),
    ("n_coefficients", lambda: dct_matrix(5, 4)),
    ("features", lambda: spec_augment(torch.rand(80, 100))),
    ("lengths", lambda: spec_augment(torch.rand(2, 80, 100), lengths=[100, 101])),
    ("lengths", lambda: spec_augment(torch.rand(2, 80, 100), lengths=[100])),
    ("lengths", lambda: spec_augment(torch.rand(2, 80, 100), lengths=torch.tensor([1.0, 2.0]))),
    ("freq_width", lambda: spec_augment(torch.rand(2, 80, 100), freq_width=-1)),
    ("max_time_ratio", lambda: spec_augment(torch.rand(2, 80, 100), max_time_ratio=1.5)),
    ("features", lambda: warp_bands(torch.rand(80, 100), torch.ones(1))),
    ("factors", lambda: warp_bands(torch.rand(2, 80, 100), torch.ones(3))),
    ("factors", lambda: warp_bands(torch.rand(2, 80, 100), torch.tensor([1.0, 0.0]))),
    ("boundary", lambda: warp_bands(torch.rand(2, 80, 100), torch.ones(2), boundary=0.0)),
]


@pytest.mark.parametrize(
    ("name", "call"), BAD_CALLS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(BAD_CALLS)]
)
def test_bad_arguments_raise_one_line_value_errors_naming_them(name, call):
    with pytest.raises(ValueError, match=rf"^{name} ") as error:
        call()
    assert "\n" not in str(error.value)


def test_integer_waveform_is_a_type_error():
    with pytest.raises(TypeError, match=r"^waveform "):
        spectrogram(torch.arange(4000), 512, 128)

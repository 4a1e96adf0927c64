"""Griffin-Lim and the mel pseudo-inverse (reparam.speech.griffin_lim): convergence with
iterations, librosa's griffinlim where it is installed, and the least-squares inverse."""

import math
from itertools import pairwise

import pytest
import torch

from reparam.speech.features import mel_filterbank, melspectrogram, spectrogram
from reparam.speech.griffin_lim import griffin_lim, mel_to_magnitude, spectral_convergence

F64 = torch.float64
N_FFT, HOP, SR = 512, 128, 16000


def chirp(seconds: float = 0.5) -> torch.Tensor:
    t = torch.arange(int(seconds * SR), dtype=F64) / SR
    return torch.sin(2 * math.pi * (200 * t + 3000 * t**2)) + 0.3 * torch.sin(2 * math.pi * 900 * t)


def convergence(magnitude, iterations, **options):
    x = griffin_lim(magnitude, N_FFT, HOP, iterations, length=int(0.5 * SR), **options)
    return float(spectral_convergence(magnitude, x, N_FFT, HOP))


def test_spectral_convergence_never_rises_without_momentum():
    magnitude = spectrogram(chirp(), N_FFT, HOP, power=1.0)
    curve = [convergence(magnitude, n, momentum=0.0) for n in (0, 1, 2, 4, 8, 16, 32)]
    assert all(b <= a + 1e-9 for a, b in pairwise(curve)), curve
    assert curve[-1] < 0.5 * curve[0], curve


def test_momentum_converges_faster():
    magnitude = spectrogram(chirp(), N_FFT, HOP, power=1.0)
    assert convergence(magnitude, 32, momentum=0.99) < convergence(magnitude, 32, momentum=0.0)


def test_a_batch_equals_each_signal_alone():
    waves = torch.stack([chirp(), chirp().flip(0)])
    magnitude = spectrogram(waves, N_FFT, HOP, power=1.0)
    batch = griffin_lim(magnitude, N_FFT, HOP, 8)
    for b in range(2):
        torch.testing.assert_close(batch[b], griffin_lim(magnitude[b], N_FFT, HOP, 8))


def test_random_initial_phase_is_seeded():
    magnitude = spectrogram(chirp(), N_FFT, HOP, power=1.0)
    first = griffin_lim(magnitude, N_FFT, HOP, 4, generator=torch.Generator().manual_seed(0))
    again = griffin_lim(magnitude, N_FFT, HOP, 4, generator=torch.Generator().manual_seed(0))
    assert torch.equal(first, again)
    assert not torch.allclose(first, griffin_lim(magnitude, N_FFT, HOP, 4))


@pytest.mark.parametrize("momentum", [0.0, 0.99])
def test_griffin_lim_is_librosas(momentum):
    librosa = pytest.importorskip("librosa")
    magnitude = spectrogram(chirp(), N_FFT, HOP, power=1.0, pad_mode="constant")
    mine = griffin_lim(magnitude, N_FFT, HOP, 16, momentum, length=8000, pad_mode="constant")
    theirs = librosa.griffinlim(magnitude.numpy(), n_iter=16, hop_length=HOP, n_fft=N_FFT,
                                momentum=momentum, init=None, length=8000, pad_mode="constant")  # fmt: skip
    torch.testing.assert_close(mine, torch.from_numpy(theirs), rtol=0, atol=1e-9)


def test_the_mel_pseudo_inverse_is_least_squares():
    W = mel_filterbank(SR, N_FFT, 40, dtype=F64)
    mel = melspectrogram(chirp(), SR, N_FFT, HOP, 40)
    magnitude = mel_to_magnitude(mel, W)
    assert (magnitude >= 0).all() and magnitude.shape == (N_FFT // 2 + 1, mel.shape[-1])
    # The unclamped pseudo-inverse solution is the minimum-norm least-squares one.
    solution = torch.linalg.lstsq(W, mel, driver="gelsd").solution
    torch.testing.assert_close(magnitude**2, solution.clamp(min=0), rtol=1e-6, atol=1e-9)
    # Through the mel bands, the recovered spectrogram is audible as the original.
    x = griffin_lim(magnitude, N_FFT, HOP, 32, length=8000)
    again = melspectrogram(x, SR, N_FFT, HOP, 40)
    assert float((again - mel).norm() / mel.norm()) < 0.5


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: griffin_lim(torch.rand(100, 5), 512, 128), "magnitude"),
        (lambda: griffin_lim(-torch.rand(257, 5), 512, 128), "magnitude"),
        (lambda: griffin_lim(torch.rand(257, 5), 512, 0), "hop_length"),
        (lambda: griffin_lim(torch.rand(257, 5), 512, 128, momentum=1.0), "momentum"),
        (lambda: griffin_lim(torch.rand(257, 5), 512, 128, pad_mode="edge"), "pad_mode"),
        (lambda: griffin_lim(torch.rand(257, 2), 512, 128), "too few frames"),
        (lambda: mel_to_magnitude(torch.rand(30, 5), torch.rand(40, 257)), "mel"),
        (lambda: mel_to_magnitude(torch.rand(40, 5), torch.rand(40, 257), power=0), "power"),
    ],
)
def test_bad_arguments_are_named(call, name):
    with pytest.raises(ValueError, match=name):
        call()

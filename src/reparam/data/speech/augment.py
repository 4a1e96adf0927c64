r"""Degraded copies of clean speech: additive coloured noise at a signal-to-noise ratio, and
the reverberation of a synthetic room.

Noise of colour :math:`α` (0 white, 1 pink, 2 brown) is white Gaussian noise shaped in the
frequency domain by :math:`|H(f)| = f^{-α/2}`, scaled so that

.. math:: \mathrm{SNR} = 10 \log_{10} \frac{\overline{s^2}}{\overline{n^2}}\ \text{dB}.

A room is the impulse response of Polack's statistical model: a direct path, then Gaussian
noise under the exponential envelope that decays by 60 dB in :math:`T_{60}` seconds,

.. math:: h(t) = δ(t) + g\, ε(t)\, 10^{-3 t / T_{60}}, \quad ε(t) \sim \mathcal N(0, 1),

convolved with the speech by FFT and rescaled to the clean signal's power.

References:
    Polack (1993), Playing billiards in the concert hall: the mathematical foundations of
    geometrical room acoustics, Applied Acoustics 38.
    Ko, Peddinti, Povey, Seltzer & Khudanpur (2017), A study on data augmentation of
    reverberant speech for robust speech recognition, ICASSP.
"""

from __future__ import annotations

import torch
from torch import Tensor

COLOURS = {"white": 0.0, "pink": 1.0, "brown": 2.0}


def coloured_noise(samples: int, colour: str, generator: torch.Generator) -> Tensor:
    """Unit-power noise of ``colour`` (:data:`COLOURS`), ``samples`` long, float64.

    >>> noise = coloured_noise(4096, "pink", torch.Generator().manual_seed(0))
    >>> round(noise.pow(2).mean().item(), 6)
    1.0
    """
    if colour not in COLOURS:
        raise ValueError(f"colour must be one of {', '.join(COLOURS)}; got {colour!r}")
    white = torch.randn(samples, generator=generator, dtype=torch.float64)
    spectrum = torch.fft.rfft(white)
    frequency = torch.arange(spectrum.numel(), dtype=torch.float64).clamp(min=1.0)
    shaped = torch.fft.irfft(spectrum * frequency.pow(-COLOURS[colour] / 2), n=samples)
    shaped = shaped - shaped.mean()
    return shaped / shaped.pow(2).mean().sqrt()


def add_noise(speech: Tensor, snr_db: float, colour: str, generator: torch.Generator) -> Tensor:
    """``speech`` (float) plus noise of ``colour`` at ``snr_db`` dB below its mean power."""
    power = speech.double().pow(2).mean().clamp(min=1e-12)
    noise = coloured_noise(speech.numel(), colour, generator) * (power / 10 ** (snr_db / 10)).sqrt()
    return speech.double() + noise


def room_response(rt60: float, sample_rate: int, generator: torch.Generator) -> Tensor:
    r"""A room's impulse response with reverberation time ``rt60`` seconds (Polack's model),
    float64, ``rt60 · sample_rate`` samples long; its tail carries as much energy as the direct
    path."""
    if not rt60 > 0:
        raise ValueError(f"rt60 must be > 0 seconds; got {rt60}")
    length = max(int(rt60 * sample_rate), 2)
    t = torch.arange(length, dtype=torch.float64) / sample_rate
    tail = torch.randn(length, generator=generator, dtype=torch.float64) * 10 ** (-3 * t / rt60)
    tail[0] = 0.0
    response = tail / tail.pow(2).sum().sqrt()
    response[0] = 1.0
    return response


def reverberate(speech: Tensor, response: Tensor) -> Tensor:
    """``speech`` convolved with the room ``response`` (cut to the speech's length), rescaled
    to the speech's mean power."""
    n = speech.numel() + response.numel() - 1
    wet = torch.fft.irfft(torch.fft.rfft(speech.double(), n) * torch.fft.rfft(response, n), n)
    wet = wet[: speech.numel()]
    return wet * (speech.double().pow(2).mean() / wet.pow(2).mean().clamp(min=1e-12)).sqrt()


def to_int16(signal: Tensor) -> Tensor:
    """``signal`` (float, int16 scale) rounded to int16, scaled down to fit if it would clip."""
    peak = signal.abs().max().item()
    if peak > 32767:
        signal = signal * (32767 / peak)
    return signal.round().to(torch.int16)

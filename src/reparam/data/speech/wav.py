r"""16-bit mono PCM WAV files, through Python's ``wave`` module: reading the human clips and
writing synthesized speech.

Samples in [−1, 1] map to integers by :math:`\mathrm{round}(32767\, x)`; reading divides by
32768, so a written file reads back within one quantisation step.

Example:
    >>> import tempfile, torch
    >>> path = tempfile.mkdtemp() + "/tone.wav"
    >>> tone = 0.5 * torch.sin(torch.arange(2205) * 0.1)
    >>> write_wav(path, tone, 22050)
    >>> samples, rate = decode_wav(open(path, "rb").read(), path)
    >>> rate, samples.shape, bool(abs(samples - tone.numpy()).max() < 1 / 16384)
    (22050, (2205,), True)
"""

from __future__ import annotations

import io
import wave
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from reparam import checks


def decode_wav(data: bytes, label: str) -> tuple[np.ndarray, int]:
    """The samples of a 16-bit mono PCM WAV file as float64 in [−1, 1), and its rate."""
    try:
        with wave.open(io.BytesIO(data)) as reader:
            channels, width, rate = reader.getparams()[:3]
            frames = reader.readframes(reader.getnframes())
    except (wave.Error, EOFError) as error:
        raise ValueError(f"{label} is not a WAV file ({error})") from error
    if (channels, width) != (1, 2):
        raise ValueError(f"{label} is not 16-bit mono ({channels} channels of {8 * width} bits)")
    return np.frombuffer(frames, dtype="<i2") / 32768.0, rate


def write_wav(path: str | Path, waveform: Tensor, sample_rate: int) -> None:
    """``waveform`` ``[samples]`` (values in [−1, 1]; scale it first, nothing is clipped
    silently) as a 16-bit mono WAV file at ``sample_rate`` Hz."""
    checks.tensor("waveform", waveform)
    sample_rate = checks.positive_int("sample_rate", sample_rate)
    if waveform.dim() != 1:
        raise ValueError(f"waveform must be [samples], got shape {tuple(waveform.shape)}")
    if not bool(waveform.isfinite().all()):
        raise ValueError("waveform must be finite")
    peak = float(waveform.abs().max()) if waveform.numel() else 0.0
    if peak > 1.0:
        raise ValueError(f"waveform must lie in [-1, 1] (its peak is {peak:.3g}): scale it first")
    pcm = torch.round(waveform.detach().double().cpu() * 32767).to(torch.int16).numpy()
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(sample_rate)
        writer.writeframes(pcm.astype("<i2").tobytes())

"""The log-mel features of a speech corpus's split, computed once and cached beside it.

``<corpus folder>/log-mel-<bands>-<n_fft>-<hop>-<split>.pt`` holds one float16 tensor
``[bands, frames]`` an utterance (80 bands at 22,050 Hz and hop 256 take about 50 MB an hour
of audio), made by :func:`reparam.speech.features.log_mel_spectrogram`; it is remade whenever
it is unreadable or its split's SHA-256 changed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from torch import Tensor

from reparam.data.speech.corpus import SpeechCorpus
from reparam.data.speech.espeak import SAMPLE_RATE
from reparam.speech.features import log_mel_spectrogram

N_FFT, HOP = 1024, 256


def log_mel(waveform: Tensor, bands: int = 80) -> Tensor:
    """The natural-log power mel spectrogram ``[bands, frames]`` (float32) of a waveform at
    22,050 Hz, window 1024, hop 256."""
    return log_mel_spectrogram(waveform.float(), SAMPLE_RATE, N_FFT, HOP, bands)


def split_features(corpus: SpeechCorpus, split: str, bands: int = 80) -> list[Tensor]:
    """Every utterance of ``corpus``'s ``split`` as float16 log-mel ``[bands, frames]``."""
    path = corpus.folder / f"log-mel-{bands}-{N_FFT}-{HOP}-{split}.pt"
    manifest = json.loads((corpus.folder / "manifest.json").read_text())
    key = manifest[split]["sha256"]
    if path.is_file():
        try:
            entry = torch.load(path, weights_only=True)
            if entry["key"] == key:
                return entry["features"]
        except Exception:  # an unreadable copy is no copy: compute again
            pass
    part = corpus.split(split)
    features = [log_mel(part.waveform(i), bands).half() for i in range(len(part))]
    _save(path, {"key": key, "features": features})
    return features


def _save(path: Path, value: dict) -> None:
    partial = path.with_name(f"{path.name}.{os.getpid()}.part")
    try:
        torch.save(value, partial)
        partial.replace(path)
    except (OSError, RuntimeError):
        partial.unlink(missing_ok=True)

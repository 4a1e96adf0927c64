"""The CTC recognizer's picture: a test utterance's log-mel spectrogram, its posteriorgram,
and the words where eSpeak said it spoke them and where the Viterbi path places them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from torch import Tensor

from reparam.plots import pyplot


def plot_posteriorgram(
    features: Tensor,
    log_probs: Tensor,
    labels: str,
    words: Sequence[str],
    espeak_ms: Sequence[float],
    aligned_ms: Sequence[float],
    frame_ms: float,
    title: str,
    path: str | Path,
    phonemes: Sequence[tuple[int, str]] = (),
) -> None:
    """Top: ``features`` ``[bands, frames]`` with eSpeak's word starts (white), the aligned
    ones (red) and eSpeak's phonemes (start ms, mnemonic) along the bottom. Bottom: the class
    probabilities over the output frames (``log_probs`` ``[T', C]``; ``labels`` names the
    classes after the blank)."""
    plt = pyplot()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 6.5), sharex=True,
                                      constrained_layout=True)  # fmt: skip
    seconds = log_probs.shape[0] * frame_ms / 1000
    top.imshow(features.float().numpy(), aspect="auto", origin="lower", cmap="magma",
               extent=(0, seconds, 0, features.shape[0]))  # fmt: skip
    for word, espeak, aligned in zip(words, espeak_ms, aligned_ms, strict=True):
        top.axvline(espeak / 1000, color="white", lw=1.0, ls="--")
        top.axvline(aligned / 1000, color="red", lw=1.0)
        top.text(espeak / 1000, features.shape[0] * 0.92, word, color="white", fontsize=7)
    for start, phoneme in phonemes:
        top.plot([start / 1000] * 2, [0, 4], color="cyan", lw=0.8)
        top.text(start / 1000, 5, phoneme, color="cyan", fontsize=5, rotation=90)
    top.set_ylabel("mel band")
    top.set_title(title, fontsize=9)
    probabilities = log_probs.exp().T.numpy()
    bottom.imshow(probabilities, aspect="auto", origin="lower", cmap="Greys", vmin=0, vmax=1,
                  extent=(0, seconds, -0.5, probabilities.shape[0] - 0.5))  # fmt: skip
    names = ["∅", *("␣" if c == " " else c for c in labels)]
    bottom.set_yticks(range(len(names)), names, fontsize=6)
    bottom.set_ylabel("class")
    bottom.set_xlabel("seconds (white dashed: eSpeak's word starts; red: CTC's Viterbi path)")
    fig.savefig(path, dpi=100)
    plt.close(fig)

r"""Scoring a CTC recognizer: decoding, character and word error rates, and forced alignment
against eSpeak's word times.

The decoders are greedy (the best path, collapsed), Hannun's prefix beam search, and the beam
search with shallow fusion of a character n-gram language model trained on the text corpus's
training sentences,

.. math:: \hat l = \arg\max_l\ \log p_{ctc}(l \mid x) + α \log p_{lm}(l) + β |l|.

The error rates are corpus-level: total edits over total reference characters (words).
The forced-alignment error is the mean absolute difference between the start of each word as
eSpeak reported it and as the Viterbi path of its transcript places its first character (the
path's frame times the output frame's duration), over the utterances whose eSpeak word count
equals the transcript's.

Reference:
    Hannun, Maas, Jurafsky & Ng (2014), First-pass large vocabulary continuous speech
    recognition using bidirectional recurrent DNNs, arXiv:1408.2873.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from reparam.data.speech.espeak import SAMPLE_RATE
from reparam.data.speech.features_cache import HOP
from reparam.latent import ctc_forced_align, greedy_decode, prefix_beam_search
from reparam.latent.edit_distance import character_error_rate, word_error_rate
from reparam.latent.ngram import NGramLM
from reparam.speech import alphabet

DECODERS = ("greedy", "beam", "beam+lm")


def padded(features: Sequence[Tensor]) -> tuple[Tensor, Tensor]:
    """Features ``[bands, frames]`` of unequal lengths as a zero-padded float32 batch
    ``[B, bands, T]`` and their lengths."""
    lengths = torch.tensor([f.shape[-1] for f in features])
    batch = torch.zeros(len(features), features[0].shape[0], int(lengths.max()))
    for i, f in enumerate(features):
        batch[i, :, : f.shape[-1]] = f.float()
    return batch, lengths


@torch.no_grad()
def log_probs_of(
    model: nn.Module, features: Sequence[Tensor], device: torch.device, batch_size: int = 32
) -> list[Tensor]:
    """Each utterance's per-frame log-probabilities ``[T', C]`` (float32, on the CPU)."""
    was_training = model.training
    model.eval()
    out = []
    for start in range(0, len(features), batch_size):
        batch, lengths = padded(features[start : start + batch_size])
        log_probs, out_lengths = model(batch.to(device), lengths.to(device))
        out += [log_probs[:n, i].cpu() for i, n in enumerate(out_lengths.tolist())]
    model.train(was_training)
    return out


def language_model(sentences: Sequence[str], order: int) -> NGramLM:
    """A character n-gram model of ``order`` over the alphabet's labels, fitted to
    ``sentences`` (transcripts)."""
    vocabulary = {c: i + 1 for i, c in enumerate(alphabet.CHARACTERS)}
    return NGramLM.fit(sentences, order=order, vocabulary=vocabulary)


def decode(
    log_probs: Sequence[Tensor],
    decoder: str = "greedy",
    *,
    beam: int = 8,
    lm: NGramLM | None = None,
    lm_weight: float = 0.5,
    bonus: float = 1.0,
) -> list[str]:
    """The transcripts ``decoder`` (one of :data:`DECODERS`) reads in each ``[T', C]``."""
    if decoder not in DECODERS:
        raise ValueError(f"decoder must be one of {', '.join(DECODERS)}; got {decoder!r}")
    texts = []
    for frames in log_probs:
        lp, n = frames.unsqueeze(1), [frames.shape[0]]
        if decoder == "greedy":
            labels = greedy_decode(lp, n)[0]
        elif decoder == "beam":
            labels = prefix_beam_search(lp, n, beam)[0][0]
        else:
            fused = prefix_beam_search(lp, n, beam, lm=lm, lm_weight=lm_weight,
                                       insertion_bonus=bonus)  # fmt: skip
            labels = fused[0][0]
        texts.append(alphabet.decode(labels))
    return texts


@dataclass(frozen=True)
class Scores:
    """The error rates of one decoder on one set: CER and WER (fractions), and the counts."""

    cer: float
    wer: float
    characters: int
    words: int
    utterances: int

    def to_dict(self) -> dict[str, float | int]:
        return dict(self.__dict__)


def score(hypotheses: Sequence[str], references: Sequence[str]) -> Scores:
    """The corpus-level CER and WER of ``hypotheses`` against ``references``."""
    characters = character_error_rate(hypotheses, references)
    words = word_error_rate(hypotheses, references)
    return Scores(
        characters.rate, words.rate, characters.reference_length, words.reference_length,
        len(references),
    )  # fmt: skip


def aligned_word_starts(frames: Tensor, text: str, subsample: int) -> Tensor | None:
    """Where the Viterbi path of ``text`` through ``frames`` ``[T', C]`` starts each word, in
    ms (float64); None when there are fewer frames than characters."""
    target = alphabet.encode(text)
    if frames.shape[0] < target.numel() or not text:
        return None
    path = ctc_forced_align(frames, target, frames.shape[0], target.numel())
    firsts, at = [], 0
    for word in text.split(" "):
        firsts.append(at)
        at += len(word) + 1
    frame_ms = 1000 * subsample * HOP / SAMPLE_RATE
    return path.segments[torch.tensor(firsts), 0].double() * frame_ms


def word_start_errors(
    log_probs: Sequence[Tensor],
    transcripts: Sequence[str],
    word_events: Sequence[Tensor],
    subsample: int,
) -> Tensor:
    """Per word, |eSpeak's start − the Viterbi path's start of its first character| in ms,
    over the utterances whose eSpeak word count equals the transcript's."""
    errors = []
    for frames, text, events in zip(log_probs, transcripts, word_events, strict=True):
        if len(text.split(" ")) != len(events):
            continue
        starts = aligned_word_starts(frames, text, subsample)
        if starts is not None:
            errors.append((starts - events[:, 0].double()).abs())
    return torch.cat(errors) if errors else torch.zeros(0, dtype=torch.float64)

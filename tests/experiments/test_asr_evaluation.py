"""The recognizer's scoring: decoders on a known posteriorgram, error rates, and the
word-start error of the forced alignment against given event times."""

from __future__ import annotations

import pytest
import torch

from reparam.data.speech.espeak import SAMPLE_RATE
from reparam.data.speech.features_cache import HOP
from reparam.experiments import asr_evaluation as scoring
from reparam.speech import alphabet


def posteriorgram(text: str, starts: list[int], frames: int) -> torch.Tensor:
    """Log-probabilities ``[frames, C]``: character i of ``text`` sure at frame starts[i],
    the blank sure elsewhere."""
    probs = torch.full((frames, alphabet.CLASSES), 1e-4)
    probs[:, alphabet.BLANK] = 1.0
    for frame, label in zip(starts, alphabet.encode(text).tolist(), strict=True):
        probs[frame] = 1e-4
        probs[frame, label] = 1.0
    return (probs / probs.sum(-1, keepdim=True)).log()


def test_the_decoders_read_a_sure_posteriorgram() -> None:
    text = "a bee"
    lp = posteriorgram(text, [1, 3, 5, 7, 9], 12)
    lm = scoring.language_model(["a bee", "a bee sees"], order=3)
    for decoder in scoring.DECODERS:
        assert scoring.decode([lp], decoder, lm=lm) == [text], decoder
    with pytest.raises(ValueError, match="decoder must be one of greedy, beam, beam\\+lm"):
        scoring.decode([lp], "viterbi")


def test_word_starts_are_where_the_path_puts_each_first_character() -> None:
    text, starts = "ab cd", [2, 4, 8, 11, 13]
    lp = posteriorgram(text, starts, 16)
    frame_ms = 1000 * 3 * HOP / SAMPLE_RATE
    found = scoring.aligned_word_starts(lp, text, subsample=3)
    assert found.tolist() == pytest.approx([2 * frame_ms, 11 * frame_ms])
    events = torch.tensor([[0, 0, 2], [400, 3, 2]], dtype=torch.int32)
    errors = scoring.word_start_errors([lp], [text], [events], subsample=3)
    assert errors.tolist() == pytest.approx([2 * frame_ms, abs(11 * frame_ms - 400)])
    assert scoring.word_start_errors([lp], [text], [events[:1]], 3).numel() == 0  # counts differ


def test_scores_are_corpus_rates() -> None:
    result = scoring.score(["the cat", "a dog"], ["the hat", "a dog"])
    assert (result.cer, result.wer) == (pytest.approx(1 / 12), 0.25)
    assert (result.characters, result.words, result.utterances) == (12, 4, 2)

"""Attention losses and measures (reparam.speech.alignment): the guided penalty against its
formula; focus rate, diagonal mass, monotonicity and word agreement on known alignments;
padding left out of all of them."""

import math

import pytest
import torch

from reparam.speech.alignment import (
    diagonal_mass,
    focus_rate,
    guided_attention,
    monotonicity,
    word_agreement,
)
from tests.attention_helpers import POSITIONS, STEPS, random_alignment


def test_padding_is_left_out():
    b = random_alignment(1)
    changed = b.clone()
    changed[1, 3:] = 0.25  # padded steps of the second utterance
    for measure in (focus_rate, diagonal_mass, monotonicity, guided_attention):
        assert float(measure(b, STEPS, POSITIONS)) == pytest.approx(
            float(measure(changed, STEPS, POSITIONS))
        )


def test_guided_attention_is_tachibanas_formula():
    a = random_alignment(3)
    total, count = 0.0, 0
    for b in range(2):
        S, N = int(STEPS[b]), int(POSITIONS[b])
        for s in range(S):
            for n in range(N):
                total += float(a[b, s, n]) * (1 - math.exp(-((n / N - s / S) ** 2) / (2 * 0.2**2)))
                count += 1
    assert float(guided_attention(a, STEPS, POSITIONS)) == pytest.approx(total / count, rel=1e-12)


def test_measures_on_known_alignments():
    eye, flipped = torch.eye(6)[None], torch.eye(6).flip(-1)[None]
    uniform = torch.full((1, 6, 6), 1 / 6)
    assert float(focus_rate(uniform)) == pytest.approx(1 / 6)
    assert float(diagonal_mass(eye)) == 1.0 and float(diagonal_mass(flipped)) == 0.0
    assert float(monotonicity(eye)) == 1.0 and float(monotonicity(flipped)) == 0.0
    stretched = torch.eye(3).repeat_interleave(2, dim=0)[None]  # two steps per character
    assert (
        float(diagonal_mass(stretched, band=0.2)) == 1.0 and float(monotonicity(stretched)) == 1.0
    )


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: focus_rate(torch.rand(5, 4)), "alignment"),
        (lambda: focus_rate(torch.rand(2, 5, 4), steps=torch.tensor([5])), "steps"),
        (lambda: focus_rate(torch.rand(2, 5, 4), positions=torch.tensor([5, 1])), "positions"),
        (lambda: diagonal_mass(torch.rand(2, 5, 4), band=0.0), "band"),
        (lambda: guided_attention(torch.rand(2, 5, 4), width=-1.0), "width"),
    ],
)
def test_bad_arguments_are_named(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_word_agreement_counts_steps_whose_peak_is_in_the_spoken_word():
    alignment = torch.eye(6)  # step s attends position s
    spans = torch.tensor([[0, 3], [3, 6]])  # two words of three characters
    assert float(word_agreement(alignment, spans, torch.tensor([[0, 3], [3, 6]]))) == 1.0
    late = torch.tensor([[0, 1], [1, 6]])  # the audio moves on to word 2 after one step
    assert float(word_agreement(alignment, spans, late)) == pytest.approx(4 / 6)
    gap = torch.tensor([[0, 2], [4, 6]])  # steps 2 and 3 are silence: left out
    assert float(word_agreement(alignment, spans, gap)) == 1.0
    with pytest.raises(ValueError, match="intervals"):
        word_agreement(alignment, spans, torch.tensor([[7, 8], [8, 9]]))

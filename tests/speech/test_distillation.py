"""Distillation losses (reparam.speech.distillation): the attention KL against a loop, zero
for identical attentions and its gradient against finite differences; the frame distillation
against its formula, with padding left out."""

import math

import pytest
import torch

from reparam.speech.distillation import attention_distillation, frame_distillation
from tests.attention_helpers import F64, POSITIONS, STEPS, random_alignment


def test_distillation_is_zero_for_identical_attentions_and_positive_otherwise():
    a, b = random_alignment(0), random_alignment(1)
    assert float(attention_distillation(a, a, STEPS, POSITIONS)) == pytest.approx(0, abs=1e-12)
    assert float(attention_distillation(a, b, STEPS, POSITIONS)) > 0


def test_distillation_leaves_padded_steps_out():
    a, b = random_alignment(0), random_alignment(1)
    changed = b.clone()
    changed[1, 3:] = 0.25  # padded steps of the second utterance
    assert float(attention_distillation(a, b, STEPS, POSITIONS)) == pytest.approx(
        float(attention_distillation(a, changed, STEPS, POSITIONS))
    )


def test_distillation_is_the_mean_kl_over_valid_steps():
    p, q = random_alignment(0), random_alignment(1)
    terms = []
    for b in range(2):
        for s in range(int(STEPS[b])):
            n = int(POSITIONS[b])
            terms.append(sum(p[b, s, j] * math.log(p[b, s, j] / q[b, s, j]) for j in range(n)))
    expected = sum(terms) / len(terms)
    assert float(attention_distillation(p, q, STEPS, POSITIONS)) == pytest.approx(
        float(expected), rel=1e-12
    )


def test_distillation_gradient_matches_finite_differences():
    teacher = random_alignment(0)
    mask = torch.arange(4) < POSITIONS[:, None]
    logits = torch.randn(
        2, 5, 4, dtype=F64, generator=torch.Generator().manual_seed(2), requires_grad=True
    )

    def loss(x):
        student = x.masked_fill(~mask[:, None, :], -math.inf).softmax(-1)
        return attention_distillation(teacher, student, STEPS, POSITIONS)

    assert torch.autograd.gradcheck(loss, (logits,))
    loss(logits).backward()
    assert logits.grad[1, 3:].abs().sum() == 0  # padded steps get no gradient


def test_frame_distillation_is_the_masked_mean_distance_to_the_teacher():
    generator = torch.Generator().manual_seed(4)
    teacher, student = torch.randn(2, 2, 6, 3, dtype=F64, generator=generator)
    lengths = torch.tensor([6, 4])
    for distance, power in (("l1", 1), ("mse", 2)):
        expected = sum(
            float((student[b, :n] - teacher[b, :n]).abs().pow(power).sum())
            for b, n in enumerate(lengths.tolist())
        ) / (10 * 3)
        assert float(frame_distillation(teacher, student, lengths, distance)) == pytest.approx(
            expected, rel=1e-12
        )
    changed = student.clone()
    changed[1, 4:] += 5.0  # padding
    assert float(frame_distillation(teacher, changed, lengths)) == pytest.approx(
        float(frame_distillation(teacher, student, lengths))
    )
    leaf = student.clone().requires_grad_()
    frame_distillation(teacher.requires_grad_(), leaf, lengths).backward()
    assert teacher.grad is None and leaf.grad[1, 4:].abs().sum() == 0


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: attention_distillation(torch.rand(2, 5, 3), torch.rand(2, 5, 4)), "teacher"),
        (lambda: frame_distillation(torch.rand(2, 5, 3), torch.rand(2, 5, 4), [5, 5]), "teacher"),
        (lambda: frame_distillation(torch.rand(2, 5, 3), torch.rand(2, 5, 3), [5, 6]), "lengths"),
        (
            lambda: frame_distillation(torch.rand(2, 5, 3), torch.rand(2, 5, 3), [5, 5], "l3"),
            "distance",
        ),
    ],
)
def test_bad_arguments_are_named(call, name):
    with pytest.raises(ValueError, match=name):
        call()

"""Straight-through with slope annealing (Chung et al.): the backward surrogate is
σ(s·a) or softmax(s·a) with s = min(s_max, 1 + r·t), t counting the training calls in a
buffer; without annealing, today's straight-through, bit for bit and stateless."""

import io

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Bernoulli, Categorical, Independent, OneHotCategorical

import reparam as rp
from reparam.estimators import StraightThrough, parse


def cost(z: torch.Tensor) -> torch.Tensor:
    weights = torch.linspace(-1.0, 2.0, z.shape[-1])
    return ((z * weights).sum(-1) - 0.4) ** 2


def hand_written(logits: torch.Tensor, slope: float, categorical: bool, n: int) -> torch.Tensor:
    """The straight-through gradient with surrogate σ(s a) / softmax(s a), by hand."""
    if categorical:
        hard = F.one_hot(rp.estimators.gumbel_max(logits, (n,)), logits.shape[-1]).float()
        soft = (slope * logits).softmax(-1)
    else:
        hard = Bernoulli(logits=logits).sample((n,))
        soft = torch.sigmoid(slope * logits)
    z = hard + soft - soft.detach()
    (grad,) = torch.autograd.grad(cost(z).mean(0).sum(), logits)
    return grad


def gradient(estimator: StraightThrough, logits: torch.Tensor, categorical: bool, n: int):
    q = (
        OneHotCategorical(logits=logits)
        if categorical
        else Independent(Bernoulli(logits=logits), 1)
    )
    (grad,) = torch.autograd.grad(rp.expect(cost, q, n=n, estimator=estimator).sum(), logits)
    return grad


@pytest.mark.parametrize("categorical", [False, True], ids=["bernoulli", "categorical"])
def test_the_gradient_is_the_sloped_surrogate_s(categorical: bool) -> None:
    logits = torch.randn(5, 4, requires_grad=True)
    annealed = StraightThrough(slope_annealing=0.75, max_slope=2.5)
    for slope in (1.0, 1.75, 2.5, 2.5):
        assert float(annealed.slope) == slope
        torch.manual_seed(7)
        got = gradient(annealed, logits, categorical, 3)
        torch.manual_seed(7)
        torch.testing.assert_close(got, hand_written(logits, slope, categorical, 3))
    torch.manual_seed(7)
    plain = gradient(StraightThrough(), logits, categorical, 3)
    torch.manual_seed(7)
    assert torch.equal(
        plain, gradient(StraightThrough(slope_annealing=1.0), logits, categorical, 3)
    )


def test_the_default_is_stateless_and_unchanged() -> None:
    plain = StraightThrough()
    assert not plain.stateful and repr(plain) == "StraightThrough()" and plain.state_dict() == {}
    assert float(plain.slope) == 1.0
    logits = torch.randn(6, 3, requires_grad=True)
    torch.manual_seed(2)
    got = gradient(plain, logits, False, 4)
    torch.manual_seed(2)
    torch.testing.assert_close(got, hand_written(logits, 1.0, False, 4))


def test_the_schedule_counts_training_calls_and_checkpoints() -> None:
    annealed = parse("st-annealed")
    assert (
        annealed.stateful
        and repr(annealed) == "StraightThrough(slope_annealing=0.0001, max_slope=5.0)"
    )
    q = Categorical(logits=torch.zeros(2, 3))
    for _ in range(4):
        rp.expect(lambda z: z.sum(-1), q, n=2, estimator=annealed)
    assert int(annealed.steps) == 4
    annealed.eval()
    rp.expect(lambda z: z.sum(-1), q, n=2, estimator=annealed)
    assert int(annealed.steps) == 4  # evaluation holds the schedule
    buffer = io.BytesIO()
    torch.save(annealed.state_dict(), buffer)
    buffer.seek(0)
    resumed = StraightThrough(slope_annealing=1e-4)
    resumed.load_state_dict(torch.load(buffer, weights_only=True))
    assert int(resumed.steps) == 4 and torch.equal(resumed.slope, annealed.slope)
    torch.testing.assert_close(resumed.slope, torch.tensor(1.0004, dtype=torch.float64))
    with pytest.raises(ValueError, match="keeps state from call to call"):
        rp.expect(lambda z: z.sum(-1), q, n=2, estimator="st-annealed")


def test_the_value_is_the_plain_monte_carlo_estimate_at_any_slope() -> None:
    logits = torch.randn(4, 3)
    q = Independent(Bernoulli(logits=logits), 1)
    steep = StraightThrough(slope_annealing=10.0)
    steep.steps.fill_(100)
    torch.manual_seed(5)
    value = rp.expect(cost, q, n=8, estimator=steep)
    torch.manual_seed(5)
    assert torch.equal(value, cost(q.sample((8,))).mean(0))


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (dict(slope_annealing=0.0), "slope_annealing must be a positive finite rate"),
        (dict(slope_annealing=float("nan")), "slope_annealing must be a positive finite rate"),
        (dict(slope_annealing=0.1, max_slope=0.5), "max_slope must be a finite number >= 1"),
    ],
)
def test_bad_schedules_are_refused(arguments: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        StraightThrough(**arguments)

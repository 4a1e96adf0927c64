"""Baselines leave the mean alone (see test_unbiased) and cut the variance where they should."""

import pytest
import torch
from torch.distributions import Categorical, Normal

from reparam.diagnostics import gradient_variance
from reparam.estimators import MovingAverage, ScoreFunction
from reparam.estimators.baselines import leave_one_out_mean, parameters_of, squared_score_norm


def offset_quadratic(z: torch.Tensor) -> torch.Tensor:
    """A cost with a large constant part: the textbook case where a baseline pays off."""
    return (z - 1) ** 2 + 50.0


def normal(loc: torch.Tensor, scale: torch.Tensor) -> Normal:
    return Normal(loc, scale)


PARAMS = {
    "loc": torch.tensor(0.5, dtype=torch.float64),
    "scale": torch.tensor(1.0, dtype=torch.float64),
}


@pytest.mark.parametrize("baseline", ["leave-one-out", "optimal", "moving-average"])
def test_baseline_reduces_variance(baseline: str) -> None:
    estimators = {"plain": ScoreFunction(), baseline: ScoreFunction(baseline)}
    stats = gradient_variance(
        offset_quadratic, normal, PARAMS, estimators, n=8, repeats=20_000, warmup=50
    )
    by = {(s.estimator, s.parameter): s.variance for s in stats}
    for name in PARAMS:
        assert by[(baseline, name)] < 0.2 * by[("plain", name)]


def test_baseline_reduces_variance_on_categorical() -> None:
    def q(logits: torch.Tensor) -> Categorical:
        return Categorical(logits=logits)

    params = {"logits": torch.tensor([0.0, 1.0, -1.0, 0.5], dtype=torch.float64)}
    estimators = {"plain": ScoreFunction(), "loo": ScoreFunction("leave-one-out")}
    stats = gradient_variance(lambda z: z.double() + 20, q, params, estimators, n=8, repeats=10_000)
    plain, loo = (s.variance.sum() for s in stats)
    assert loo < 0.1 * plain


def test_leave_one_out_mean() -> None:
    values = torch.tensor([[1.0], [2.0], [6.0]])
    torch.testing.assert_close(leave_one_out_mean(values), torch.tensor([[4.0], [3.5], [1.5]]))


def test_moving_average_uses_only_the_past() -> None:
    baseline = MovingAverage(decay=0.5)
    cost = torch.tensor([[2.0, 4.0], [4.0, 8.0]])
    assert float(baseline(cost, cost, None)) == 0.0  # no history yet
    assert float(baseline(cost * 10, cost, None)) == 4.5  # bias-corrected mean of call 1
    assert float(baseline(torch.ones(3, 5), torch.ones(3, 5), None)) == 31.5  # any batch shape


def test_bad_baseline_arguments() -> None:
    with pytest.raises(ValueError, match="unknown baseline"):
        ScoreFunction("average")
    with pytest.raises(ValueError, match="decay"):
        MovingAverage(decay=1.0)


def test_parameters_of_finds_transform_parameters() -> None:
    loc = torch.tensor(0.0, requires_grad=True)
    scale = torch.tensor(1.0, requires_grad=True)
    q = torch.distributions.TransformedDistribution(
        Normal(0.0, 1.0), [torch.distributions.AffineTransform(loc * 1, scale * 1)]
    )
    assert len(parameters_of(q)) == 2


def test_squared_score_norm_matches_the_analytic_score_in_any_block_size() -> None:
    loc = torch.zeros(7, requires_grad=True)
    scale = torch.full((7,), 2.0, requires_grad=True)
    q = Normal(loc * 1, scale * 1)
    z = q.sample((9,))
    eps = (z - loc) / scale
    analytic = (eps / scale) ** 2 + ((eps**2 - 1) / scale) ** 2  # ∂/∂loc, ∂/∂scale of log N
    for budget in (2**24, 7 * 9, 1):
        torch.testing.assert_close(squared_score_norm(q.log_prob(z), q, budget), analytic.detach())

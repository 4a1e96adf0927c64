"""Unbiasedness of every unbiased estimator against closed-form gradients.

Each case replicates the parameters R times as a batch (``gradient_variance``), so one call
yields R independent gradient estimates; their mean must lie within 5 standard errors of the
exact gradient, obtained by autograd on the closed-form expectation, in float64.
"""

from collections.abc import Callable

import pytest
import torch
from torch.distributions import (
    Bernoulli,
    Beta,
    Categorical,
    Dirichlet,
    Gamma,
    LogNormal,
    Normal,
    OneHotCategorical,
)

from reparam.diagnostics import gradient_variance
from reparam.estimators import (
    Enumerate,
    GeneralizedReparam,
    Pathwise,
    ScoreFunction,
)

Z = 5.0
REPEATS = 20_000
N = 4


def f64(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64).squeeze()


def exact_gradient(closed_form: Callable[..., torch.Tensor], params: dict) -> dict:
    leaves = {k: v.clone().requires_grad_() for k, v in params.items()}
    grads = torch.autograd.grad(closed_form(**leaves), list(leaves.values()))
    return dict(zip(leaves, grads, strict=True))


def categorical_mean(logits: torch.Tensor) -> torch.Tensor:
    values = torch.arange(logits.shape[-1], dtype=logits.dtype)
    return (logits.softmax(-1) * (values - 1.5) ** 2).sum(-1)


def dirichlet_second_moment(concentration: torch.Tensor) -> torch.Tensor:
    a0, total = concentration[0], concentration.sum()
    return a0 * (a0 + 1) / (total * (total + 1))


SCORES = {
    "score": ScoreFunction(),
    "score+leave-one-out": ScoreFunction("leave-one-out"),
    "score+optimal": ScoreFunction("optimal"),
    "score+moving-average": ScoreFunction("moving-average"),
}

CASES = {
    "normal": (
        lambda loc, scale: Normal(loc, scale),
        lambda z: (z - 3) ** 2,
        {"loc": f64(0.5), "scale": f64(1.5)},
        lambda loc, scale: (loc - 3) ** 2 + scale**2,
        {"pathwise": Pathwise(), "auto": "auto", **SCORES},
    ),
    "lognormal": (
        lambda loc, scale: LogNormal(loc, scale),
        lambda z: z,
        {"loc": f64(-0.3), "scale": f64(0.6)},
        lambda loc, scale: torch.exp(loc + scale**2 / 2),
        {"pathwise": Pathwise(), "score+leave-one-out": SCORES["score+leave-one-out"]},
    ),
    "categorical": (
        lambda logits: Categorical(logits=logits),
        lambda z: (z.double() - 1.5) ** 2,
        {"logits": f64(0.3, -1.0, 0.5, 2.0)},
        categorical_mean,
        {"auto": "auto", **SCORES},
    ),
    "bernoulli": (
        lambda logits: Bernoulli(logits=logits),
        lambda z: (z - 0.2) ** 2,
        {"logits": f64(0.7)},
        lambda logits: torch.sigmoid(logits) * 0.64 + (1 - torch.sigmoid(logits)) * 0.04,
        SCORES,
    ),
    "gamma": (
        lambda concentration, rate: Gamma(concentration, rate),
        lambda z: z**2,
        {"concentration": f64(2.5), "rate": f64(2.0)},
        lambda concentration, rate: concentration * (concentration + 1) / rate**2,
        {"pathwise": Pathwise(), "grep": GeneralizedReparam(), "score": SCORES["score"]},
    ),
    "gamma-small-shape": (
        lambda concentration, rate: Gamma(concentration, rate),
        lambda z: torch.sqrt(z),
        {"concentration": f64(0.3), "rate": f64(1.0)},
        lambda concentration, rate: (
            torch.exp(torch.lgamma(concentration + 0.5) - torch.lgamma(concentration)) / rate.sqrt()
        ),
        {"pathwise": Pathwise(), "grep": GeneralizedReparam("leave-one-out")},
    ),
    "beta": (
        lambda a, b: Beta(a, b),
        lambda z: z,
        {"a": f64(2.0), "b": f64(3.0)},
        lambda a, b: a / (a + b),
        {"pathwise": Pathwise(), "grep": GeneralizedReparam(), "score": SCORES["score"]},
    ),
    "dirichlet": (
        lambda concentration: Dirichlet(concentration),
        lambda z: z[..., 0] ** 2,
        {"concentration": f64(1.5, 2.0, 0.7)},
        dirichlet_second_moment,
        {
            "pathwise": Pathwise(),
            "grep": GeneralizedReparam(),
            "grep+optimal": GeneralizedReparam("optimal"),
        },
    ),
    "one-hot-enumerate": (
        lambda logits: OneHotCategorical(logits=logits),
        lambda z: ((z * torch.arange(4, dtype=z.dtype)).sum(-1) - 1.5) ** 2,
        {"logits": f64(0.3, -1.0, 0.5, 2.0)},
        categorical_mean,
        {"enumerate": Enumerate()},
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_unbiased(case: str) -> None:
    q, f, params, closed_form, estimators = CASES[case]
    exact = exact_gradient(closed_form, params)
    stats = gradient_variance(f, q, params, estimators, n=N, repeats=REPEATS, warmup=20)
    for s in stats:
        z = s.bias_zscore(exact[s.parameter])
        assert z.max() < Z, f"{case}/{s.estimator}/{s.parameter}: {s.mean} vs {exact[s.parameter]}"


def test_negative_control_biased_baseline_fails() -> None:
    """A baseline that uses the sample it multiplies is biased: the test above must catch it."""
    q, f, params, closed_form, _ = CASES["normal"]
    biased = ScoreFunction(baseline=lambda cost, log_prob, q: 0.5 * cost)
    exact = exact_gradient(closed_form, params)
    stats = gradient_variance(f, q, params, {"biased": biased}, n=N, repeats=REPEATS)
    assert max(float(s.bias_zscore(exact[s.parameter]).max()) for s in stats) > Z


def test_enumerate_is_exact() -> None:
    q, f, params, closed_form, _ = CASES["one-hot-enumerate"]
    exact = exact_gradient(closed_form, params)
    stats = gradient_variance(f, q, params, {"enumerate": Enumerate()}, repeats=3)
    torch.testing.assert_close(stats[0].mean, exact["logits"], rtol=1e-12, atol=1e-12)
    assert stats[0].variance.abs().max() < 1e-24

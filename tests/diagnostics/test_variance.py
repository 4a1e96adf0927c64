import math

import pytest
import torch
from torch.distributions import Normal

from reparam.diagnostics import PROBLEMS, gradient_variance
from reparam.diagnostics.study import run_study
from reparam.estimators import Pathwise, ScoreFunction


def test_quadrature_gives_the_textbook_variances() -> None:
    """f = (x − 1)² under N(1, 1): score 15 (μ) and 74 (σ), pathwise 4 and 8."""
    problem = PROBLEMS["quadratic"]
    score = problem.exact(ScoreFunction(), 1.0)
    pathwise = problem.exact(Pathwise(), 1.0)
    assert score["loc"].per_sample_variance == pytest.approx(15, abs=1e-9)
    assert score["scale"].per_sample_variance == pytest.approx(74, abs=1e-9)
    assert pathwise["loc"].per_sample_variance == pytest.approx(4, abs=1e-9)
    assert pathwise["scale"].per_sample_variance == pytest.approx(8, abs=1e-9)
    assert float(score["scale"].gradient) == pytest.approx(2.0)  # d/dσ E(x−1)² = 2σ


CASES = [
    ("quadratic", 1.0, "score"),
    ("quadratic", 1.0, "pathwise"),
    ("quadratic", 3.0, "score"),
    ("exp", 1.0, "score"),
    ("exp", 1.0, "pathwise"),
    ("cosine", 2.0, "score"),
    ("cosine", 2.0, "pathwise"),
    ("categorical", 3.0, "score"),
    ("gamma", 2.0, "score"),
]


@pytest.mark.parametrize(("name", "k", "label"), CASES)
def test_measured_variance_matches_the_exact_one(name: str, k: float, label: str) -> None:
    """Batch means: 20 independent runs give 20 variance estimates; their mean must lie within
    5 standard errors (their spread / √20) of the quadrature value."""
    problem = PROBLEMS[name]
    estimator = problem.estimators(1)[label]
    f, params = problem.setup(k)
    exact = problem.exact(estimator, k)
    runs = [
        gradient_variance(f, problem.q, params, {label: estimator}, repeats=20_000)
        for _ in range(20)
    ]
    for i, parameter in enumerate(params):
        measured = torch.tensor([float(run[i].per_sample_variance.sum()) for run in runs])
        se = measured.std() / math.sqrt(len(measured))
        target = exact[parameter].per_sample_variance
        assert abs(float(measured.mean()) - target) < 5 * float(se), (
            parameter,
            measured.mean(),
            target,
        )


def test_repeats_are_chunked_without_changing_the_statistics() -> None:
    f = lambda z: (z - 1) ** 2  # noqa: E731
    q = lambda loc: Normal(loc, 1.0)  # noqa: E731
    params = {"loc": torch.tensor(1.0, dtype=torch.float64)}
    (stats,) = gradient_variance(f, q, params, {"p": "pathwise"}, repeats=30_001, chunk=7_000)
    assert stats.repeats == 30_001
    assert abs(float(stats.variance) - 4) < 5 * 4 * math.sqrt(2 / 30_000)  # Var(s²) ≈ 2σ⁴/R
    assert abs(float(stats.mean)) < 5 * float(stats.stderr)


def test_gradient_variance_needs_two_repeats() -> None:
    with pytest.raises(ValueError, match="repeats must be >= 2"):
        gradient_variance(
            lambda z: z,
            lambda loc: Normal(loc, 1.0),
            {"loc": torch.tensor(0.0)},
            {"p": "pathwise"},
            repeats=1,
        )


def test_study_rows_and_unknown_estimator() -> None:
    rows = run_study(PROBLEMS["categorical"], [3.0], n=4, repeats=500)
    labels = {r.estimator for r in rows}
    assert {"score+leave-one-out", "gumbel-softmax", "enumerate"} <= labels
    enumerate_row = next(r for r in rows if r.estimator == "enumerate")
    assert enumerate_row.bias_z == 0 and enumerate_row.per_sample_variance < 1e-20
    with pytest.raises(ValueError, match="unknown estimator"):
        run_study(PROBLEMS["quadratic"], [1.0], estimators=["score+leave-one-out"], n=1)

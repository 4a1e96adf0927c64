"""The REBAR/RELAX toy problem E[(b − t)²]: the variance of RELAX's gradient below the score
function's and NVIL's, REBAR's where its relaxation fits the cost, margins from the sampling
error; the profiler and `reparam variance --problem rebar-toy` report every estimator."""

import json
import math

import pytest
import torch
from torch.distributions import Bernoulli
from typer.testing import CliRunner

import reparam.cli.commands  # noqa: F401  (registers the commands on app)
from reparam.cli import app
from reparam.diagnostics.rebar_toy import (
    TARGETS,
    biased_specs,
    exact_gradient,
    rebar_toy,
    toy_cost,
    toy_estimators,
)
from reparam.estimators import Estimator, parse
from reparam.expectation import expect
from tests.estimators.relaxation_cases import CASES, train_control_variate

LOGIT = math.log(0.25)  # θ = 0.2: the mean cost is not the variance-optimal baseline here
REPEATS = 20_000
Z = 5.0


def train_at_fixed_theta(estimator: Estimator, target: float, steps: int = 300) -> None:
    """Adam on the estimator's own parameters at θ = 0.2 (64 replicas a step), through the
    terms its output carries; a moving average or NVIL also updates its buffers."""
    parameters = list(estimator.parameters())
    optimizer = torch.optim.Adam(parameters, lr=0.03) if parameters else None
    for _ in range(steps):
        logits = torch.full((64,), LOGIT, dtype=torch.float64, requires_grad=True)
        loss = expect(toy_cost(target), Bernoulli(logits=logits), estimator=estimator).sum()
        if optimizer is not None:
            optimizer.zero_grad()
        loss.backward()
        if optimizer is not None:
            optimizer.step()


def variance_and_error(estimator: Estimator, target: float) -> tuple[float, float]:
    """The variance of one-sample gradient estimates at θ = 0.2 over REPEATS independent
    replicas, and its standard error (from the fourth central moment)."""
    logits = torch.full((REPEATS,), LOGIT, dtype=torch.float64, requires_grad=True)
    value = expect(toy_cost(target), Bernoulli(logits=logits), estimator=estimator).sum()
    (g,) = torch.autograd.grad(value, logits)
    squares = (g - g.mean()) ** 2
    return float(squares.mean()), float(squares.std() / math.sqrt(REPEATS))


def below(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """a's variance below b's by more than Z standard errors of their difference."""
    return b[0] - a[0] > Z * math.hypot(a[1], b[1])


def toy_variances(target: float, steps: int = 200) -> dict[str, tuple[float, float]]:
    measured = {}
    for spec in ("score", "nvil", "relax"):
        estimator = parse(spec)
        train_at_fixed_theta(estimator, target, steps)
        measured[spec] = variance_and_error(estimator, target)
    return measured


@pytest.mark.parametrize(
    "target", [0.45, pytest.param(0.49, marks=pytest.mark.slow)], ids=["t=0.45", "t=0.49"]
)
def test_relax_below_nvil_below_score_on_the_toy(target: float) -> None:
    """RELAX learns the variance-optimal control variate; NVIL's baselines track the mean
    cost, which at θ ≠ ½ is not it (its residual, δ²θ(1−θ)(1−2θ)² with δ = 1 − 2t, remains):
    RELAX 30–400× below NVIL, NVIL 30–300× below the score function."""
    measured = toy_variances(target)
    assert below(measured["relax"], measured["nvil"]), measured
    assert below(measured["nvil"], measured["score"]), measured
    assert measured["relax"][0] < 1e-2 * measured["score"][0], measured


@pytest.mark.slow
def test_relax_and_nvil_far_below_score_at_t_0499() -> None:
    """At t = 0.499 (δ = 0.002) NVIL's residual is 2·10⁻⁷, 5·10⁴× below the score function's
    10⁻²; RELAX reaches the same order (1–4·10⁻⁷ across seeds), not reliably below it: kept
    as the bound both meet."""
    measured = toy_variances(0.499)
    assert measured["relax"][0] < 1e-4 * measured["score"][0], measured
    assert measured["nvil"][0] < 1e-4 * measured["score"][0], measured


@pytest.mark.parametrize(
    "target",
    [0.45, *(pytest.param(t, marks=pytest.mark.slow) for t in TARGETS if t != 0.45)],
)
def test_rebar_gains_nothing_on_the_toy(target: float) -> None:
    """A finding, kept as a test: on E[(b − t)²] the relaxed cost f(σ(z/τ)) is a poor control
    variate (≈ (½ − t)² for all but a sharp τ, whose pathwise terms then grow as 1/τ), so the
    learned η falls towards 0 and REBAR's variance is the score function's, within 5%."""
    rebar = parse("rebar")
    train_at_fixed_theta(rebar, target, steps=200)
    score = variance_and_error(parse("score"), target)
    measured = variance_and_error(rebar, target)
    assert abs(float(rebar.scale.detach())) < 0.2
    assert abs(measured[0] / score[0] - 1) < 0.05, (measured, score)


def test_rebar_and_relax_below_nvil_below_score_where_the_relaxation_fits() -> None:
    """Three coupled bits (tests/estimators/relaxation_cases.py), n = 4, after 200 steps of
    Adam on each control variate (lr 0.03; REBAR's two scalars 0.1): REBAR and RELAX below
    NVIL (0.066 and 0.06–0.07 against 0.085), NVIL below the score function (0.22)."""
    case = CASES["bernoulli-independent"]
    measured = {}
    for spec in ("score", "nvil", "rebar", "relax"):
        estimator = parse(spec)
        if estimator.stateful:
            lr = 0.1 if spec == "rebar" else 0.03  # η and τ: two scalars, slow at 0.03
            train_control_variate(estimator, case, steps=200, lr=lr)
        logits = case.logits.expand(REPEATS, 3).clone().requires_grad_()
        (g,) = torch.autograd.grad(
            expect(case.f, case.q(logits), n=4, estimator=estimator).sum(), logits
        )
        squares = ((g - g.mean(0)) ** 2).sum(-1)
        measured[spec] = (float(squares.mean()), float(squares.std() / math.sqrt(REPEATS)))
    assert below(measured["rebar"], measured["nvil"]), measured
    assert below(measured["relax"], measured["nvil"]), measured
    assert below(measured["nvil"], measured["score"]), measured


def test_rebar_and_relax_below_score_on_coupled_categorical_codes() -> None:
    """Two coupled 4-way codes, n = 4, control variates at initialisation: REBAR and RELAX
    about 4× below the score function (3.9 against 14.6). A trained NVIL, whose baselines
    remove this cost's large mean, goes lower still here: this is not a case for them."""
    case = CASES["one-hot-independent"]
    measured = {}
    for spec in ("score", "rebar", "relax"):
        logits = case.logits.expand(REPEATS, 2, 4).clone().requires_grad_()
        value = expect(case.f, case.q(logits), n=4, estimator=parse(spec)).sum()
        (g,) = torch.autograd.grad(value, logits)
        squares = ((g - g.mean(0)) ** 2).sum((-1, -2))
        measured[spec] = (float(squares.mean()), float(squares.std() / math.sqrt(REPEATS)))
    assert below(measured["rebar"], measured["score"]), measured
    assert below(measured["relax"], measured["score"]), measured
    assert measured["rebar"][0] < 0.5 * measured["score"][0], measured


def test_the_profiler_reports_every_estimator_over_training() -> None:
    labels = toy_estimators(1)
    assert {"score", "nvil", "muprop", "rebar", "relax", "enumerate"} <= set(labels)
    assert not {"auto", "gumbel-softmax", "score+leave-one-out"} & set(labels)
    assert biased_specs(labels) >= {"straight-through", "darn"}
    rows = rebar_toy([0.45], labels, steps=6, every=3, repeats=100)
    assert [(r.estimator, r.step) for r in rows] == [(e, s) for e in labels for s in (0, 3, 6)]
    for r in rows:
        assert math.isfinite(r.variance) and r.variance >= 0 and r.snr >= 0, r
        assert r.exact == pytest.approx(exact_gradient(math.log(r.theta / (1 - r.theta)), 0.45))
    enumerate_rows = [r for r in rows if r.estimator == "enumerate"]
    assert all(r.mean == pytest.approx(r.exact, abs=1e-12) for r in enumerate_rows)


def test_the_command_writes_the_figure_and_the_rows(tmp_path) -> None:
    arguments = ["variance", "--problem", "rebar-toy", "--k", "0.49,0.45", "--steps", "4"]
    arguments += ["--repeats", "50", "--estimators", "score,rebar,relax", "--out", str(tmp_path)]
    result = CliRunner().invoke(app, arguments)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "rebar-toy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = json.loads((tmp_path / "rebar-toy.json").read_text())
    assert {(r["target"], r["estimator"]) for r in rows} == {
        (t, e) for t in (0.49, 0.45) for e in ("score", "rebar", "relax")
    }
    csv_lines = (tmp_path / "rebar-toy.csv").read_text().splitlines()
    assert csv_lines[0].startswith("target,estimator,step,theta") and len(csv_lines) == 1 + len(
        rows
    )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--problem", "quadratic", "--steps", "3"], "--steps applies only to --problem rebar-toy"),
        (["--problem", "rebar-toy", "--epochs", "3"], "--epochs does not apply to --problem rebar"),
        (["--problem", "rebar-toy", "--device", "cpu"], "--device does not apply"),
        (["--problem", "rebar-toy", "--steps", "0"], "--steps must be >= 1"),
        (["--problem", "rebar-toy", "--lr", "nan"], "--lr must be a finite number > 0"),
        (["--problem", "rebar-toy", "--estimators", "vimco"], "unknown estimator"),
    ],
)
def test_command_errors(tmp_path, arguments: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["variance", *arguments, "--out", str(tmp_path)])
    assert result.exit_code != 0
    assert message in str(result.exception) + result.output

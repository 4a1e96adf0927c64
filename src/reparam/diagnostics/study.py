"""Run a test problem over a grid of k: one row per (k, estimator, parameter)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import torch

from reparam.checks import integer, non_negative_int, positive_int
from reparam.diagnostics.problems import Problem
from reparam.diagnostics.variance import gradient_variance


@dataclass(frozen=True)
class StudyRow:
    """One estimator's gradient of one parameter at one k.

    Scalar parameters are reported as they are; vector parameters are summarized by norms
    and traces: ``mean`` is ‖E g‖, ``exact`` is ‖∇‖, ``bias_z`` the largest per-coordinate |E g − ∇| in standard errors, the variances are
    traces, and ``snr`` is ‖E g‖ / √(tr Var g).
    """

    k: float
    estimator: str
    parameter: str
    n: int
    repeats: int
    mean: float
    exact: float
    bias_z: float
    per_sample_variance: float
    exact_per_sample_variance: float | None
    snr: float

    def as_dict(self) -> dict:
        return asdict(self)


def summary(value: torch.Tensor) -> float:
    """A scalar as it is, a vector by its norm."""
    return float(value) if value.numel() == 1 else float(value.norm())


def run_study(
    problem: Problem,
    ks: Sequence[float],
    *,
    n: int = 1,
    repeats: int = 10_000,
    estimators: Sequence[str] | None = None,
    device: torch.device | str = "cpu",
    warmup: int = 20,
    on_step: Callable[[], None] = lambda: None,
) -> list[StudyRow]:
    """Profile ``problem``'s estimators (all, or the labels in ``estimators``) at every k."""
    positive_int("n", n)
    if integer("repeats", repeats) < 2:
        raise ValueError(f"repeats must be >= 2 to estimate a variance; got {repeats}")
    non_negative_int("warmup", warmup)
    if not len(ks):
        raise ValueError("ks must hold at least one k")
    for k in ks:
        problem.check_k(k)
    available = problem.estimators(n)
    labels = list(available) if estimators is None else list(estimators)
    unknown = [label for label in labels if label not in available]
    if unknown:
        raise ValueError(
            f"unknown estimator(s) {unknown} for problem {problem.name!r} with n={n}; "
            f"choose from {list(available)}."
        )
    rows = []
    for k in ks:
        f, params = problem.setup(k)
        params = {name: p.to(device) for name, p in params.items()}
        for label in labels:
            estimator = available[label]
            exact = problem.exact(estimator, k)
            stats = gradient_variance(
                f, problem.q, params, {label: estimator}, n=n, repeats=repeats, warmup=warmup
            )
            for s in stats:
                truth = exact[s.parameter]
                rows.append(
                    StudyRow(
                        k=float(k),
                        estimator=label,
                        parameter=s.parameter,
                        n=n,
                        repeats=repeats,
                        mean=summary(s.mean),
                        exact=summary(truth.gradient),
                        bias_z=float(s.bias_zscore(truth.gradient.to(s.mean)).max()),
                        per_sample_variance=float(s.per_sample_variance.sum()),
                        exact_per_sample_variance=truth.per_sample_variance,
                        snr=float(s.mean.norm() / s.variance.sum().sqrt()),
                    )
                )
            on_step()
    return rows

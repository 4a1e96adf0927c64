"""Diagnostics of gradient estimators: test problems with exact gradients and variances by
quadrature, the measured mean, variance and signal-to-noise ratio of any estimator, and the
REBAR/RELAX toy problem trained by each discrete estimator (:mod:`~reparam.diagnostics.rebar_toy`)."""

from reparam.diagnostics.problems import PROBLEMS, Exact, Problem
from reparam.diagnostics.rebar_toy import ToyRow, rebar_toy
from reparam.diagnostics.variance import GradientStats, gradient_variance

__all__ = [
    "PROBLEMS",
    "Exact",
    "GradientStats",
    "Problem",
    "ToyRow",
    "gradient_variance",
    "rebar_toy",
]

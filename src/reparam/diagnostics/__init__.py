"""Diagnostics of gradient estimators: test problems with exact gradients and variances by
quadrature, and the measured mean, variance and signal-to-noise ratio of any estimator."""

from reparam.diagnostics.problems import PROBLEMS, Exact, Problem
from reparam.diagnostics.variance import GradientStats, gradient_variance

__all__ = ["PROBLEMS", "Exact", "GradientStats", "Problem", "gradient_variance"]

"""Diagnostics of gradient estimators: variance, signal-to-noise, plots."""

from reparam.diagnostics.problems import PROBLEMS, Exact, Problem
from reparam.diagnostics.variance import GradientStats, gradient_variance

__all__ = ["PROBLEMS", "Exact", "GradientStats", "Problem", "gradient_variance"]

"""reparam: gradients of expectations, and the models built on them, in PyTorch."""

from reparam import (
    bayes,
    conjugate,
    data,
    diagnostics,
    estimators,
    flows,
    latent,
    models,
    objectives,
    transport,
)
from reparam.convergence import ConvergenceWarning
from reparam.estimators import (
    Enumerate,
    Estimator,
    GeneralizedReparam,
    GumbelSoftmax,
    Pathwise,
    ScoreFunction,
    StraightThrough,
    gumbel_max,
)
from reparam.expectation import expect
from reparam.runs import Run, load_run

__version__ = "0.1.0"

__all__ = [
    "ConvergenceWarning",
    "Enumerate",
    "Estimator",
    "GeneralizedReparam",
    "GumbelSoftmax",
    "Pathwise",
    "Run",
    "ScoreFunction",
    "StraightThrough",
    "bayes",
    "conjugate",
    "data",
    "diagnostics",
    "estimators",
    "expect",
    "flows",
    "gumbel_max",
    "latent",
    "load_run",
    "models",
    "objectives",
    "transport",
]

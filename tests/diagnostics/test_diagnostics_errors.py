"""Bad arguments to the gradient-variance diagnostics raise one line naming the argument."""

import torch

from reparam.diagnostics import PROBLEMS, gradient_variance
from reparam.diagnostics.study import run_study
from tests.error_tables import raises_test


def cost(z: torch.Tensor) -> torch.Tensor:
    return z**2


def normal(loc: torch.Tensor) -> torch.distributions.Normal:
    return torch.distributions.Normal(loc, 1.0)


LOC = {"loc": torch.tensor(0.5)}
PATHWISE = {"pathwise": "pathwise"}

VALUE_CASES = {
    "repeats-1": (
        lambda: gradient_variance(cost, normal, LOC, PATHWISE, repeats=1),
        "repeats must be >= 2",
    ),
    "n-0": (
        lambda: gradient_variance(cost, normal, LOC, PATHWISE, n=0),
        "n must be a positive integer, got 0",
    ),
    "warmup": (
        lambda: gradient_variance(cost, normal, LOC, PATHWISE, warmup=-1),
        "warmup must be an integer >= 0",
    ),
    "chunk": (
        lambda: gradient_variance(cost, normal, LOC, PATHWISE, chunk=0),
        "chunk must be a positive integer",
    ),
    "no-params": (
        lambda: gradient_variance(cost, normal, {}, PATHWISE),
        "params must hold at least one",
    ),
    "no-estimators": (
        lambda: gradient_variance(cost, normal, LOC, {}),
        "estimators must name at least one",
    ),
    "study-ks-empty": (
        lambda: run_study(PROBLEMS["quadratic"], [], repeats=10),
        "ks must hold at least one k",
    ),
    "study-k-nan": (
        lambda: run_study(PROBLEMS["quadratic"], [float("nan")], repeats=10),
        "--k must be finite",
    ),
    "study-k-gamma": (
        lambda: run_study(PROBLEMS["gamma"], [0.0], repeats=10),
        "--k must be > 0 for the gamma",
    ),
    "study-n": (
        lambda: run_study(PROBLEMS["quadratic"], [1.0], n=0),
        "n must be a positive integer",
    ),
    "study-repeats": (
        lambda: run_study(PROBLEMS["quadratic"], [1.0], repeats=1),
        "repeats must be >= 2",
    ),
}

TYPE_CASES = {
    "repeats-float": (
        lambda: gradient_variance(cost, normal, LOC, PATHWISE, repeats=10.0),
        "repeats must be an integer",
    ),
    "param-int": (
        lambda: gradient_variance(cost, normal, {"loc": torch.tensor(1)}, PATHWISE),
        r"params\['loc'\] must be a floating-point tensor",
    ),
    "param-float": (
        lambda: gradient_variance(cost, normal, {"loc": 0.5}, PATHWISE),
        "must be a tensor, got float",
    ),
    "f": (lambda: gradient_variance(None, normal, LOC, PATHWISE), "f and q must be callables"),
    "study-k-string": (
        lambda: run_study(PROBLEMS["quadratic"], ["1"], repeats=10),
        "--k must be a number",
    ),
}


test_bad_value_raises = raises_test(VALUE_CASES, ValueError)


test_bad_type_raises = raises_test(TYPE_CASES, TypeError)

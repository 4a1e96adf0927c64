"""Bad arguments are refused with a ValueError that says what was wrong."""

import pytest
import torch

from reparam.bayes import (
    BayesConv2d,
    BayesLinear,
    NormalPrior,
    ScaleMixturePrior,
    VariationalDropoutLinear,
)
from reparam.models.bnn import BayesMLP

CASES = {
    "normal-negative": (lambda: NormalPrior(sigma=-1), "sigma must be finite and > 0, got -1"),
    "normal-zero": (lambda: NormalPrior(0), "sigma must be finite and > 0, got 0"),
    "normal-inf": (lambda: NormalPrior(float("inf")), "sigma must be finite and > 0"),
    "normal-tensor": (
        lambda: NormalPrior(torch.tensor([1.0, 0.0])),
        "sigma must be finite and > 0",
    ),
    "mixture-pi-0": (lambda: ScaleMixturePrior(pi=0), r"pi must lie in \(0, 1\), got 0"),
    "mixture-pi-1": (lambda: ScaleMixturePrior(pi=1), r"pi must lie in \(0, 1\), got 1"),
    "mixture-pi-1.5": (lambda: ScaleMixturePrior(pi=1.5), r"pi must lie in \(0, 1\), got 1.5"),
    "mixture-pi-tensor": (
        lambda: ScaleMixturePrior(pi=torch.tensor([0.5, 1.0])),
        r"pi must lie in \(0, 1\)",
    ),
    "mixture-sigma2": (
        lambda: ScaleMixturePrior(sigma2=-1),
        "sigma2 must be finite and > 0, got -1",
    ),
    "mixture-sigma1": (lambda: ScaleMixturePrior(sigma1=0.0), "sigma1 must be finite and > 0"),
    "linear-estimator": (
        lambda: BayesLinear(2, 2, estimator="reinforce"),
        "unknown weight-noise estimator 'reinforce'; choose from weight, local, flipout, separate",
    ),
    "conv-estimator": (
        lambda: BayesConv2d(1, 2, 3, estimator="Local"),
        "unknown weight-noise estimator 'Local'",
    ),
    "conv-groups": (lambda: BayesConv2d(3, 4, 3, groups=2), "groups=2 must divide"),
    "mlp-estimator": (
        lambda: BayesMLP([2, 3, 1], task="regression", estimator="bogus"),
        "unknown weight-noise estimator 'bogus'",
    ),
    "mlp-dropout-kind": (
        lambda: BayesMLP([2, 3, 1], task="regression", estimator="dropout-C"),
        "unknown variational dropout kind 'C'",
    ),
    "mlp-task": (lambda: BayesMLP([2, 3, 1], task="ranking"), "task must be 'regression' or"),
    "mlp-regression-outputs": (
        lambda: BayesMLP([2, 3, 2], task="regression"),
        "a regression network has one output",
    ),
    "mlp-dropout-replicas": (
        lambda: BayesMLP([2, 3, 1], task="regression", estimator="dropout-A", batch_shape=(2,)),
        "no batch_shape",
    ),
    "dropout-kind": (
        lambda: VariationalDropoutLinear(2, 2, kind="C"),
        "unknown variational dropout kind 'C'; choose from A or B",
    ),
    "dropout-alpha-2": (
        lambda: VariationalDropoutLinear(2, 2, init_alpha=2),
        r"init_alpha must lie in \(0, 1\].*got 2",
    ),
    "dropout-alpha-0": (
        lambda: VariationalDropoutLinear(2, 2, init_alpha=0),
        r"init_alpha must lie in \(0, 1\]",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_argument_raises(case: str) -> None:
    build, message = CASES[case]
    with pytest.raises(ValueError, match=message):
        build()


def test_good_boundaries_are_accepted() -> None:
    """The edges that are allowed: init_alpha = 1, tiny positive scales, pi just inside."""
    VariationalDropoutLinear(2, 2, init_alpha=1.0)
    NormalPrior(1e-30)
    ScaleMixturePrior(pi=1e-6, sigma1=1.0, sigma2=1e-30)
    ScaleMixturePrior(pi=torch.tensor([0.1, 0.9]))

"""Bad arguments are refused with a ValueError that says what was wrong."""

import pytest
import torch
from torch import nn

from reparam.bayes import (
    BayesConv2d,
    BayesLinear,
    NormalPrior,
    ScaleMixturePrior,
    VariationalDropoutLinear,
    kl,
    kl_weights,
    predict,
)
from reparam.bayes.predict import gaussian_log_likelihood
from reparam.models.bnn import BayesMLP
from tests.error_tables import raises_test

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
    "linear-in-0": (lambda: BayesLinear(0, 3), "in_features must be a positive integer, got 0"),
    "linear-out-0": (lambda: BayesLinear(3, 0), "out_features must be a positive integer, got 0"),
    "linear-in-negative": (lambda: BayesLinear(-2, 3), "in_features must be a positive integer"),
    "linear-replicas-0": (
        lambda: BayesLinear(3, 2, batch_shape=(0,)),
        r"every entry of batch_shape \(0,\) must be a positive integer, got 0",
    ),
    "linear-init-std-inf": (
        lambda: BayesLinear(3, 2, init_std=float("inf")),
        "init_std must be finite, got inf",
    ),
    "conv-channels-0": (lambda: BayesConv2d(0, 2, 3), "in_channels must be a positive integer"),
    "conv-kernel-0": (
        lambda: BayesConv2d(1, 2, 0),
        r"kernel_size must be integers >= 1, got \(0, 0\)",
    ),
    "conv-stride-0": (lambda: BayesConv2d(1, 2, 3, stride=0), "stride must be integers >= 1"),
    "conv-padding-negative": (
        lambda: BayesConv2d(1, 2, 3, padding=-1),
        "padding must be integers >= 0, got -1",
    ),
    "conv-dilation-0": (lambda: BayesConv2d(1, 2, 3, dilation=0), "dilation must be integers"),
    "conv-groups-0": (lambda: BayesConv2d(1, 2, 3, groups=0), "groups must be a positive integer"),
    "prior-per-weight": (
        lambda: BayesLinear(3, 2, prior=NormalPrior(torch.ones(2, 3))),
        r"prior NormalPrior has parameters of shape \(2, 3\), but the layer's batch_shape is \(\)",
    ),
    "prior-replicas": (
        lambda: BayesLinear(3, 2, batch_shape=(4,), prior=NormalPrior(torch.ones(3))),
        r"shape \(3,\), but the layer's batch_shape is \(4,\)",
    ),
    "mixture-replica-shapes": (
        lambda: ScaleMixturePrior(pi=torch.full((2,), 0.5), sigma1=torch.ones(3)),
        r"pi, sigma1 and sigma2 must be numbers or tensors of one shape.*\(2,\), \(3,\)",
    ),
    "mixture-pi-nan": (lambda: ScaleMixturePrior(pi=float("nan")), r"pi must lie in \(0, 1\)"),
    "normal-nan": (lambda: NormalPrior(float("nan")), "sigma must be finite and > 0, got nan"),
    "monte-carlo-samples": (
        lambda: NormalPrior(1.0).kl_monte_carlo(torch.distributions.Normal(0.0, 1.0), samples=0),
        "samples must be a positive integer, got 0",
    ),
    "dropout-in-0": (lambda: VariationalDropoutLinear(0, 2), "in_features must be a positive"),
    "mlp-sizes-short": (lambda: BayesMLP([3], task="regression"), "sizes must list at least two"),
    "mlp-sizes-zero": (
        lambda: BayesMLP([3, 0, 1], task="regression"),
        r"every entry of sizes \[3, 0, 1\] must be a positive integer, got 0",
    ),
    "mlp-noise": (
        lambda: BayesMLP([3, 1], task="regression", noise_std=0.0),
        "noise_std must be finite and > 0, got 0.0",
    ),
    "kl-weights-zero": (lambda: kl_weights(0), "batches must be a positive integer"),
    "predict-samples": (
        lambda: predict(BayesLinear(2, 1), torch.randn(3, 2), samples=0, task="regression"),
        "samples must be a positive integer, got 0",
    ),
    "predict-nan": (
        lambda: predict(BayesLinear(2, 1), torch.full((3, 2), float("nan")), task="regression"),
        "x holds NaN",
    ),
    "log-likelihood-noise": (
        lambda: gaussian_log_likelihood(torch.zeros(3, 2), torch.zeros(2), torch.tensor(0.0)),
        "noise_std must be > 0",
    ),
    "log-likelihood-no-samples": (
        lambda: gaussian_log_likelihood(torch.zeros(0, 2), torch.zeros(2), torch.tensor(1.0)),
        r"samples must be \[S, \.\.\.\] with S >= 1",
    ),
}

TYPE_CASES = {
    "linear-float-size": (lambda: BayesLinear(2.5, 3), "in_features must be an integer, got 2.5"),
    "linear-bool-size": (lambda: BayesLinear(3, True), "out_features must be an integer, got True"),
    "linear-batch-shape-int": (
        lambda: BayesLinear(3, 2, batch_shape=4),
        "batch_shape must be a tuple of positive integers, got 4",
    ),
    "linear-prior-string": (
        lambda: BayesLinear(3, 2, prior="normal"),
        "prior must be a reparam.bayes Prior, got str",
    ),
    "normal-string": (lambda: NormalPrior("1"), "sigma must be a real number or tensor"),
    "mixture-pi-bool": (lambda: ScaleMixturePrior(pi=True), "pi must be a real number"),
    "dropout-alpha-string": (
        lambda: VariationalDropoutLinear(2, 2, init_alpha="1"),
        "init_alpha must be a number",
    ),
    "kl-weights-float": (lambda: kl_weights(2.5), "batches must be a positive integer, got 2.5"),
    "predict-samples-float": (
        lambda: predict(BayesLinear(2, 1), torch.randn(3, 2), samples=2.5, task="regression"),
        "samples must be an integer, got 2.5",
    ),
    "predict-x-list": (
        lambda: predict(BayesLinear(2, 1), [[1.0, 2.0]], task="regression"),
        "x must be a tensor, got list",
    ),
}


test_wrong_type_raises = raises_test(TYPE_CASES, TypeError)


INPUT_CASES = {
    "features": (BayesLinear(3, 2), torch.randn(4, 5), "x must have 3 entries in its last dim"),
    "replicas": (
        BayesLinear(3, 2, batch_shape=(2,)),
        torch.randn(3, 4, 3),
        r"x must be \[\.\.\., \*batch_shape, M, in_features\] = \[\.\.\., 2, M, 3\].*\(3, 4, 3\)",
    ),
    "no-replica-dimension": (
        BayesLinear(3, 2, batch_shape=(4,)),
        torch.randn(4, 3),
        r"batch_shape \(4,\), got shape \(4, 3\)",
    ),
    "channels": (BayesConv2d(2, 3, 3), torch.randn(1, 3, 5, 5), "x must be \\[N, in_channels = 2"),
    "conv-3d": (BayesConv2d(2, 3, 3), torch.randn(2, 5, 5), "x must be \\[N, in_channels"),
    "dropout-features": (
        VariationalDropoutLinear(3, 2),
        torch.randn(4, 2),
        "x must have 3 entries",
    ),
}


@pytest.mark.parametrize("case", list(INPUT_CASES))
def test_inputs_of_the_wrong_shape_raise(case: str) -> None:
    layer, x, message = INPUT_CASES[case]
    with pytest.raises(ValueError, match=message):
        layer(x)


def test_assigning_a_prior_of_the_wrong_shape_raises() -> None:
    layer = BayesLinear(3, 2, batch_shape=(2,))
    layer.prior = NormalPrior(torch.tensor([0.5, 2.0]))
    with pytest.raises(ValueError, match=r"shape \(3,\), but the layer's batch_shape is \(2,\)"):
        layer.prior = NormalPrior(torch.ones(3))
    assert layer.prior.sigma.shape == (2,)


def test_layers_with_different_replica_counts_raise_in_kl() -> None:
    model = nn.Sequential(BayesLinear(3, 2, batch_shape=(2,)), BayesLinear(2, 1, batch_shape=(3,)))
    with pytest.raises(ValueError, match=r"different batch_shape \(0: \(2,\), 1: \(3,\)\)"):
        kl(model)


def test_targets_of_the_wrong_shape_raise() -> None:
    model = BayesMLP([3, 4, 1], task="regression")
    x = torch.randn(5, 3)
    with pytest.raises(ValueError, match=r"y must have the shape \(5,\).*got \(5, 1\)"):
        model.log_likelihood(x, torch.randn(5, 1))
    classifier = BayesMLP([3, 4, 2], task="classification")
    with pytest.raises(ValueError, match=r"y must have the shape \(5,\).*got \(4,\)"):
        classifier.log_likelihood(x, torch.zeros(4, dtype=torch.long))
    # y broadcast over a leading sample dimension is accepted
    assert classifier.log_likelihood(x.expand(2, 5, 3), torch.zeros(5, dtype=torch.long)).shape == (
        2,
    )


test_bad_argument_raises = raises_test(CASES, ValueError)


def test_good_boundaries_are_accepted() -> None:
    """The edges that are allowed: init_alpha = 1, tiny positive scales, pi just inside."""
    VariationalDropoutLinear(2, 2, init_alpha=1.0)
    NormalPrior(1e-30)
    ScaleMixturePrior(pi=1e-6, sigma1=1.0, sigma2=1e-30)
    ScaleMixturePrior(pi=torch.tensor([0.1, 0.9]))

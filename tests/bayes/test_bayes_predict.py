"""Posterior predictions: the regression variance decomposition, classification entropy and
mutual information, and the Monte Carlo predictive log-likelihood."""

import math

import numpy as np
import pytest
import torch

from reparam.bayes import BayesLinear, ClassPrediction, RegressionPrediction, predict
from reparam.bayes.predict import gaussian_log_likelihood
from reparam.models.bnn import BayesMLP


def test_regression_prediction() -> None:
    model = BayesMLP([2, 8, 1], task="regression", init_std=0.2, noise_std=0.3)
    x = torch.randn(7, 2)
    p = predict(model, x, samples=50)
    assert isinstance(p, RegressionPrediction)
    assert p.samples.shape == (50, 7)
    assert p.mean.shape == p.variance.shape == p.epistemic.shape == (7,)
    torch.testing.assert_close(p.mean, p.samples.mean(0))
    torch.testing.assert_close(p.epistemic, p.samples.var(0, unbiased=False))
    torch.testing.assert_close(p.variance, p.epistemic + 0.09)
    torch.testing.assert_close(p.variance, p.epistemic + model.noise_variance)
    assert (p.epistemic > 0).all()
    assert not p.mean.requires_grad


def test_regression_prediction_per_replica_noise() -> None:
    model = BayesMLP([2, 8, 1], task="regression", init_std=0.2, batch_shape=(3,))
    with torch.no_grad():
        model.log_noise_std.copy_(torch.tensor([0.1, 0.2, 0.3]).log())
    p = predict(model, torch.randn(3, 7, 2), samples=20)
    assert p.mean.shape == p.variance.shape == (3, 7)
    noise = torch.tensor([0.01, 0.04, 0.09]).view(3, 1).expand(3, 7)
    torch.testing.assert_close(p.variance - p.epistemic, noise)


def test_regression_without_noise_is_epistemic_only() -> None:
    p = predict(BayesLinear(2, 1, init_std=0.3), torch.randn(5, 2), samples=10, task="regression")
    assert torch.equal(p.variance, p.epistemic)


def test_classification_prediction() -> None:
    model = BayesMLP([2, 8, 4], task="classification", init_std=0.5)
    x = 3 * torch.randn(9, 2)
    p = predict(model, x, samples=30)
    assert isinstance(p, ClassPrediction)
    assert p.probs.shape == (9, 4) and p.entropy.shape == p.mutual_information.shape == (9,)
    torch.testing.assert_close(p.probs.sum(-1), torch.ones(9))
    assert (p.mutual_information >= 0).all()
    assert (p.mutual_information <= p.entropy + 1e-6).all()
    assert (p.entropy <= math.log(4) + 1e-6).all()
    direct = -(p.probs * p.probs.log()).sum(-1)
    torch.testing.assert_close(p.entropy, direct)
    # this posterior is wide: the label does depend on the weights
    assert p.mutual_information.max() > 0.01


def test_deterministic_model_has_no_mutual_information() -> None:
    model = BayesMLP([2, 8, 4], task="classification", init_std=1e-8)
    p = predict(model, 3 * torch.randn(9, 2), samples=30)
    assert p.mutual_information.max() < 1e-5
    assert p.entropy.min() > 1e-3  # the uncertainty left is all aleatoric


def test_gaussian_log_likelihood_is_a_log_mean_exp() -> None:
    samples = torch.randn(40, 6, dtype=torch.float64)
    y = torch.randn(6, dtype=torch.float64)
    noise = 0.7
    got = gaussian_log_likelihood(samples, y, torch.tensor(noise, dtype=torch.float64))
    s, t = samples.numpy(), y.numpy()
    density = np.exp(-0.5 * ((t - s) / noise) ** 2) / (noise * np.sqrt(2 * np.pi))
    expected = np.log(density.mean(0))
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12, atol=1e-12)


def test_gaussian_log_likelihood_far_targets_stay_finite() -> None:
    """Where every density underflows (y 100 σ away) the log-mean-exp stays exact."""
    samples = torch.tensor([[0.0], [1.0]], dtype=torch.float64)
    y = torch.tensor([100.0], dtype=torch.float64)
    got = gaussian_log_likelihood(samples, y, torch.tensor(0.5, dtype=torch.float64))
    log_terms = [
        -0.5 * ((100 - f) / 0.5) ** 2 - math.log(0.5 * math.sqrt(2 * math.pi)) for f in (0, 1)
    ]
    top = max(log_terms)
    expected = top + math.log(sum(math.exp(v - top) for v in log_terms) / 2)
    assert abs(float(got) - expected) < 1e-9 * abs(expected)


@pytest.mark.parametrize("samples", [0, -1])
def test_no_samples_raises(samples: int) -> None:
    with pytest.raises(ValueError, match="samples must be a positive integer, got"):
        predict(BayesLinear(2, 1), torch.randn(3, 2), samples=samples, task="regression")


@pytest.mark.parametrize("task", ["density", None])
def test_unknown_task_raises(task) -> None:
    with pytest.raises(ValueError, match="task must be 'regression' or 'classification'"):
        predict(BayesLinear(2, 1), torch.randn(3, 2), samples=3, task=task)

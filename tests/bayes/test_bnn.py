"""BayesMLP: its log-likelihoods against direct computations, estimator switching, and a small
end-to-end regression fit."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Normal

from reparam.bayes import BayesLinear, VariationalDropoutLinear, kl, kl_weights, predict
from reparam.models.bnn import BayesMLP


@pytest.mark.parametrize("batch_shape", [(), (3,)])
def test_regression_log_likelihood(batch_shape: tuple[int, ...]) -> None:
    model = BayesMLP(
        [2, 6, 1], task="regression", estimator="weight", init_std=0.3, batch_shape=batch_shape
    )
    with torch.no_grad():
        model.log_noise_std.copy_(
            torch.linspace(-1.0, 0.5, math.prod(batch_shape)).view(batch_shape)
        )
    x, y = torch.randn(*batch_shape, 10, 2), torch.randn(*batch_shape, 10)
    torch.manual_seed(1)
    out = model(x)
    torch.manual_seed(1)
    got = model.log_likelihood(x, y)
    assert got.shape == batch_shape
    noise = model.log_noise_std.exp().unsqueeze(-1)
    expected = Normal(out, noise).log_prob(y).sum(-1)
    torch.testing.assert_close(got, expected)
    # the same weights, as the reseeding intended: another seed gives another value
    torch.manual_seed(2)
    assert not torch.allclose(model.log_likelihood(x, y), expected)


@pytest.mark.parametrize("batch_shape", [(), (2,)])
def test_classification_log_likelihood(batch_shape: tuple[int, ...]) -> None:
    model = BayesMLP(
        [2, 6, 5], task="classification", estimator="weight", init_std=0.3, batch_shape=batch_shape
    )
    x, y = torch.randn(*batch_shape, 10, 2), torch.randint(5, (*batch_shape, 10))
    torch.manual_seed(1)
    logits = model(x)
    torch.manual_seed(1)
    got = model.log_likelihood(x, y)
    assert got.shape == batch_shape
    if batch_shape:
        expected = torch.stack(
            [-F.cross_entropy(logits[r], y[r], reduction="sum") for r in range(batch_shape[0])]
        )
    else:
        expected = -F.cross_entropy(logits, y, reduction="sum")
    torch.testing.assert_close(got, expected)
    assert model.noise_variance is None


def test_set_estimator_switches_every_layer() -> None:
    model = BayesMLP([2, 4, 4, 1], task="regression")
    layers = [m for m in model.modules() if isinstance(m, BayesLinear)]
    assert len(layers) == 3 and all(m.estimator == "local" for m in layers)
    model.set_estimator("flipout")
    assert all(m.estimator == "flipout" for m in layers)
    with pytest.raises(ValueError, match="unknown weight-noise estimator"):
        model.set_estimator("nope")


@pytest.mark.parametrize("kind", ["A", "B"])
def test_dropout_mlp(kind: str) -> None:
    model = BayesMLP([2, 4, 3], task="classification", estimator=f"dropout-{kind}")
    layers = [m for m in model.modules() if isinstance(m, VariationalDropoutLinear)]
    assert len(layers) == 2 and all(m.kind == kind for m in layers)
    assert model(torch.randn(5, 2)).shape == (5, 3)
    torch.testing.assert_close(kl(model), layers[0].kl() + layers[1].kl())


def test_regression_fit_end_to_end() -> None:
    """200 points of sin(3x) + 0.1 noise, 4 minibatches of 50, 300 Adam steps on
    π_i·KL − log-likelihood: the noise scale is learned and the predictive mean fits."""
    x = torch.linspace(-1, 1, 200).unsqueeze(-1)
    truth = torch.sin(3 * x.squeeze(-1))
    y = truth + 0.1 * torch.randn(200)
    model = BayesMLP([1, 32, 1], task="regression")
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    weights = kl_weights(4).tolist()
    for _ in range(75):
        for weight, rows in zip(weights, torch.randperm(200).chunk(4), strict=True):
            loss = weight * kl(model) - model.log_likelihood(x[rows], y[rows])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    noise_std = float(model.noise_variance.detach().sqrt())
    assert noise_std < 0.3, noise_std
    p = predict(model, x, samples=50)
    rmse = float((p.mean - truth).pow(2).mean().sqrt())
    assert rmse < 0.3, rmse
    assert float((p.mean - y).pow(2).mean().sqrt()) < 0.3

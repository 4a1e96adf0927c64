"""The Gumbel-softmax estimators on Bernoulli latents: the binary Concrete relaxation, which is
the two-class Gumbel-softmax with logits (0, l). Oracles: the relaxed objective and its
gradient by quadrature over the logistic noise, and enumeration for the straight-through
value."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Bernoulli, Independent

import reparam as rp
from reparam.estimators import GumbelSoftmax
from reparam.estimators.relaxed import (
    RelaxedBernoulliStraightThrough,
    relaxed_bernoulli,
    relaxed_one_hot,
)

TAU = 0.7
TARGET = 0.3


def h(y: torch.Tensor) -> torch.Tensor:
    return (y - TARGET) ** 2 + torch.sin(3 * y)


def quadrature(logit: float, tau: float) -> tuple[float, float]:
    """E[h(y)] and its derivative in the logit, y = sigmoid((l + logit(u))/tau), u ~ U(0, 1),
    by the midpoint rule on 400 000 points."""
    points = 400_000
    u = (torch.arange(points, dtype=torch.float64) + 0.5) / points
    ell = torch.tensor(logit, dtype=torch.float64, requires_grad=True)
    value = h(torch.sigmoid((ell + u.log() - torch.log1p(-u)) / tau)).mean()
    (grad,) = torch.autograd.grad(value, ell)
    return float(value.detach()), float(grad)


@pytest.mark.parametrize("logit", [-1.5, 0.4])
def test_the_relaxed_value_and_gradient_are_the_binary_concretes(logit: float) -> None:
    """20 000 one-sample estimates, each on its own copy of the logit (so each carries its
    own gradient): mean value and mean gradient within 5 standard errors of the quadrature."""
    torch.manual_seed(0)
    count = 20_000
    logits = torch.full((count,), logit, dtype=torch.float64, requires_grad=True)
    values = rp.expect(h, Bernoulli(logits=logits), n=1, estimator=GumbelSoftmax(TAU))
    (grads,) = torch.autograd.grad(values.sum(), logits)
    exact_value, exact_grad = quadrature(logit, TAU)
    for sample, exact in ((values.detach(), exact_value), (grads, exact_grad)):
        error = abs(float(sample.mean()) - exact)
        assert error < 5 * float(sample.std()) / math.sqrt(count), (error, exact)


def test_it_is_the_second_class_of_a_two_class_gumbel_softmax() -> None:
    """The same distribution: the means of h under both agree within 5 standard errors."""
    torch.manual_seed(1)
    count, logit = 40_000, torch.tensor(0.8, dtype=torch.float64)
    binary = h(relaxed_bernoulli(logit, TAU, torch.Size([count])))
    pair = torch.stack([torch.zeros_like(logit), logit])
    two_class = h(relaxed_one_hot(pair, TAU, torch.Size([count]))[:, 1])
    se = math.sqrt((binary.var() + two_class.var()) / count)
    assert abs(float(binary.mean() - two_class.mean())) < 5 * se


def test_straight_through_values_are_bits_and_estimate_the_discrete_expectation() -> None:
    torch.manual_seed(2)
    probs = torch.tensor([0.2, 0.5, 0.9], dtype=torch.float64)
    logits = torch.logit(probs).requires_grad_()
    q = Independent(Bernoulli(logits=logits), 1)
    seen = []

    def f(z: torch.Tensor) -> torch.Tensor:
        seen.append(z)
        return h(z).sum(-1)

    n = 20_000
    value = rp.expect(f, q, n=n, estimator="st-gumbel")
    assert set(seen[0].unique().tolist()) <= {0.0, 1.0}
    per_sample = h(seen[0].detach()).sum(-1)
    exact = float((probs * h(torch.ones(3)) + (1 - probs) * h(torch.zeros(3))).sum())
    assert abs(float(value) - exact) < 5 * float(per_sample.std()) / math.sqrt(n)
    value.backward()
    assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("hard", [False, True])
def test_extreme_logits_and_temperatures_stay_finite(dtype: torch.dtype, hard: bool) -> None:
    """Logits of ±1e4 and ±inf (certain units), τ from 1e-6 to 1e3, τ learned: finite values
    and gradients; a certain unit's value is exact and its logit's gradient is 0."""
    for tau in (1e-6, 1.0, 1e3):
        logits = torch.tensor([-math.inf, -1e4, 0.0, 1e4, math.inf], dtype=dtype)
        logits.requires_grad_()
        temperature = torch.nn.Parameter(torch.tensor(tau, dtype=dtype))
        q = Independent(Bernoulli(logits=logits), 1)
        seen: list[torch.Tensor] = []

        def f(z: torch.Tensor, seen: list[torch.Tensor] = seen) -> torch.Tensor:
            seen.append(z)
            return h(z).sum(-1)

        value = rp.expect(f, q, n=8, estimator=GumbelSoftmax(temperature, hard=hard))
        value.backward()
        assert torch.isfinite(value) and torch.isfinite(temperature.grad)
        assert torch.isfinite(logits.grad).all()
        assert logits.grad[0] == 0 and logits.grad[-1] == 0
        assert (seen[0][:, 0] == 0).all() and (seen[0][:, -1] == 1).all()


@pytest.mark.parametrize("edge", [0.0, 1.0])
def test_the_noise_is_finite_at_the_edges_of_the_uniform(monkeypatch, edge: float) -> None:
    monkeypatch.setattr(torch, "rand", lambda *shape, **kw: torch.full(shape[0], edge, **kw))
    assert torch.isfinite(relaxed_bernoulli(torch.zeros(3), 0.5, torch.Size([4]))).all()


def test_the_relaxed_elbo_scores_the_binary_concrete() -> None:
    """relax() of a Bernoulli q is the binary Concrete (Independent kept), straight-through
    when hard, scoring the relaxed value its bits carry; the ELBO of st-gumbel-relaxed on the
    Bernoulli VAE is finite and has a gradient."""
    from reparam.models.bernoulli_vae import BernoulliVAE

    q = Independent(Bernoulli(logits=torch.zeros(2, 3)), 1)
    hard = GumbelSoftmax(0.5, hard=True).relax(q)
    assert isinstance(hard, Independent)
    assert isinstance(hard.base_dist, RelaxedBernoulliStraightThrough)
    z = hard.rsample((4,))
    assert set(z.unique().tolist()) <= {0.0, 1.0}
    assert torch.allclose(hard.log_prob(z), GumbelSoftmax(0.5).relax(q).log_prob(z._unquantize))
    torch.manual_seed(3)
    model = BernoulliVAE(16, latents=4, hidden=(8,))
    x = torch.rand(5, 16).bernoulli()
    bound = model.bound(x, objective="elbo", estimator="st-gumbel-relaxed")
    bound.sum().backward()
    assert torch.isfinite(bound).all()
    assert all(torch.isfinite(p.grad).all() for p in model.encoder.parameters())

"""The Table-1 models: the two-layer sigmoid belief network and the Bernoulli VAE."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from reparam.estimators import names, parse
from reparam.models.bernoulli_vae import BernoulliVAE
from reparam.models.sbn import SigmoidBeliefNet

X = torch.tensor([[1.0, 0.0, 1.0]])
Y = torch.tensor([[0.0, 1.0]])


def small(**options) -> SigmoidBeliefNet:
    torch.manual_seed(3)
    return SigmoidBeliefNet(3, 2, units=2, **options)


def states(model: SigmoidBeliefNet):
    """Every joint state (z1, z2) of the two 2-unit layers."""
    for bits in itertools.product((0.0, 1.0), repeat=4):
        yield torch.tensor([bits[:2]]), torch.tensor([bits[2:]])


def exact_log_likelihood(model: SigmoidBeliefNet) -> torch.Tensor:
    """log p(y | x) = log sum over the 2^2 x 2^2 states of both layers."""
    terms = []
    for z1, z2 in states(model):
        log_p = model.layer(0, X).log_prob(z1) + model.links()[0](z1).log_prob(z2)
        terms.append(log_p + model.log_likelihood(Y, z2))
    return torch.logsumexp(torch.stack(terms), 0)


def exact_loss(model: SigmoidBeliefNet) -> torch.Tensor:
    """E[-log p(y | z_2)] by enumeration."""
    total = torch.zeros(1)
    for z1, z2 in states(model):
        link = model.links()[0]
        log_p = model.layer(0, X).log_prob(z1) + link(z1).log_prob(z2)
        total = total - log_p.exp() * model.log_likelihood(Y, z2)
    return total


def test_nll_with_many_samples_is_the_exact_likelihood() -> None:
    model = small()
    torch.manual_seed(0)
    nll = model.nll(X, Y, m=20_000, chunk=5000)
    with torch.no_grad():
        exact = exact_log_likelihood(model)
    assert abs(float(nll) + float(exact)) < 0.01


def test_score_gradient_through_both_layers_is_unbiased() -> None:
    """20 batches of 2000 copies of one row: each batch's mean gradient is one estimate; the
    20 agree with the enumerated gradient within 5 SE."""
    model = small()
    exact = torch.autograd.grad(exact_loss(model).sum(), list(model.parameters()))
    torch.manual_seed(0)
    estimates = []
    for _ in range(20):
        loss = model.loss(X.expand(2000, 3), Y.expand(2000, 2), "score").mean()
        grads = torch.autograd.grad(loss, list(model.parameters()))
        estimates.append(torch.cat([g.reshape(-1) for g in grads]))
    samples = torch.stack(estimates)
    target = torch.cat([g.reshape(-1) for g in exact])
    se = samples.std(0) / math.sqrt(len(samples))
    moving = se > 0  # the weights of the input that is 0 get gradient 0, exactly
    assert (target[~moving] == 0).all()
    assert ((samples.mean(0) - target).abs()[moving] / se[moving]).max() < 5


@pytest.mark.parametrize("kind", ["bernoulli", "categorical"])
@pytest.mark.parametrize("spec", [s for s in names("elbo", "discrete") if "moving" not in s])
def test_every_discrete_estimator_trains_the_sbn(kind: str, spec: str) -> None:
    torch.manual_seed(0)
    model = SigmoidBeliefNet(6, 4, kind=kind, units=3, classes=4)
    estimators = [parse(spec), parse(spec)]
    x, y = torch.ones(5, 6).bernoulli_(0.5), torch.ones(5, 4).bernoulli_(0.5)
    loss = model.loss(x, y, estimators, n=2)
    assert loss.shape == (5,)
    loss.mean().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


@pytest.mark.parametrize("kind", ["bernoulli", "categorical"])
def test_vimco_bound_over_the_joint(kind: str) -> None:
    model = SigmoidBeliefNet(6, 4, kind=kind, units=3, classes=4)
    bound = model.bound(torch.ones(5, 6), torch.zeros(5, 4), k=3, estimator="vimco")
    bound.mean().backward()
    assert bound.shape == (5,) and torch.isfinite(model.maps[0].weight.grad).all()


def test_the_k_sample_bound_is_the_nll_estimate() -> None:
    """-log (1/k) sum p(y | z_i): with many samples both are the exact -log p(y | x)."""
    model = small()
    torch.manual_seed(0)
    with torch.no_grad():
        exact = -float(exact_log_likelihood(model))
    bound = model.bound(X, Y, k=20_000, estimator="vimco")
    assert abs(float(bound.detach()) - exact) < 0.01


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="kind"):
        SigmoidBeliefNet(4, 4, kind="gaussian")
    with pytest.raises(ValueError, match="units"):
        SigmoidBeliefNet(4, 4, units=0)
    with pytest.raises(ValueError, match="m"):
        small().nll(X, Y, m=0)


@pytest.mark.parametrize("spec", ["gumbel-softmax", "straight-through"])
def test_bernoulli_vae_elbo_below_the_bound(spec: str) -> None:
    torch.manual_seed(0)
    model = BernoulliVAE(16, latents=4, hidden=(8,))
    x = torch.ones(3, 16).bernoulli_(0.5)
    model.bound(x, objective="elbo", estimator=spec).mean().backward()
    assert torch.isfinite(model.encoder[0].weight.grad).all()
    with torch.no_grad():
        elbo = model.bound(x, objective="elbo", k=2000, estimator="score")
        bound = model.bound(x, objective="iwae", k=2000, estimator="vimco")
    assert (elbo <= bound + 0.05).all()  # L_k >= ELBO, up to the Monte Carlo error

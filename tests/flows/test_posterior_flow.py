"""Amortized flow posteriors through torch's TransformedDistribution: densities, caching,
shapes and gradients."""

import importlib

import pytest
import torch
from torch.distributions import Independent, Normal, TransformedDistribution

from reparam.flows import (
    KINDS,
    PlanarTransform,
    PosteriorFlow,
    RadialTransform,
    iaf,
    planar,
    planar_inverse,
    radial,
)

K, B, D, C = 4, 3, 2, 5


def posterior(kind: str, length: int = 3) -> tuple[TransformedDistribution, PosteriorFlow, list]:
    flow = PosteriorFlow(kind, length, D, C, hidden=(16,)).double()
    h = torch.randn(B, C, dtype=torch.float64)
    mu = torch.randn(B, D, dtype=torch.float64, requires_grad=True)
    sigma = torch.rand(B, D, dtype=torch.float64) + 0.5
    base = Independent(Normal(mu, sigma), 1)
    transforms = flow(h)
    return TransformedDistribution(base, transforms), flow, transforms


def by_hand(transform, z):
    if isinstance(transform, PlanarTransform):
        return planar(z, transform.u, transform.w, transform.b)
    if isinstance(transform, RadialTransform):
        return radial(z, transform.z0, transform.alpha_raw, transform.beta_raw)
    return iaf(z, transform.made, transform.context, transform.forget_bias)


@pytest.mark.parametrize("kind", KINDS)
def test_log_prob_of_own_sample_is_base_density_minus_log_dets(kind: str) -> None:
    q, _, transforms = posterior(kind)
    torch.manual_seed(1)
    z = q.rsample((K,))
    log_q = q.log_prob(z)
    assert z.shape == (K, B, D) and log_q.shape == (K, B)

    torch.manual_seed(1)
    x = q.base_dist.rsample((K,))
    expected = q.base_dist.log_prob(x)
    for transform in transforms:
        x, log_det = by_hand(transform, x)
        expected = expected - log_det
    torch.testing.assert_close(z, x)
    torch.testing.assert_close(log_q, expected)


@pytest.mark.parametrize("kind", KINDS)
def test_log_prob_elsewhere_inverts_the_flow(kind: str) -> None:
    """A point that was not just sampled misses the cache and is inverted instead."""
    q, _, _ = posterior(kind)
    z = q.rsample((K,))
    cached = q.log_prob(z)
    q.rsample((K,))  # the caches now hold another sample
    torch.testing.assert_close(q.log_prob(z.detach().clone()), cached.detach())


def test_caches_serve_the_point_just_sampled(monkeypatch: pytest.MonkeyPatch) -> None:
    """rsample then log_prob: one forward pass per step, no inversion. A sample drawn without
    gradient serves log_prob without gradient (evaluation), but is inverted afresh when
    gradients are on, so the score ∇θ log q(z) keeps ∂f⁻¹(z)/∂θ."""
    # reparam.flows.planar is the function; the module has to be fetched by name
    module = importlib.import_module("reparam.flows.planar")
    forward, inverse = [], []
    monkeypatch.setattr(module, "planar", lambda *a: forward.append(1) or planar(*a))
    monkeypatch.setattr(
        module, "planar_inverse", lambda *a: inverse.append(1) or planar_inverse(*a)
    )
    q, _, _ = posterior("planar", length=3)
    q.log_prob(q.rsample((K,)))
    assert (len(forward), len(inverse)) == (3, 0)
    with torch.no_grad():
        q.log_prob(q.sample((K,)))
    assert (len(forward), len(inverse)) == (6, 0)
    q.log_prob(q.sample((K,)))
    assert (len(forward), len(inverse)) == (12, 3)  # 3 to sample, 3 inversions, 3 log-dets


@pytest.mark.parametrize("kind", KINDS)
def test_gradients_reach_the_amortizer(kind: str) -> None:
    q, flow, _ = posterior(kind)
    z = q.rsample((K,))
    (q.log_prob(z) + (z**2).sum(-1)).mean().backward()  # a Monte Carlo KL to N(0, I/2)
    for name, parameter in flow.named_parameters():
        assert parameter.grad is not None, name
        assert torch.isfinite(parameter.grad).all() and parameter.grad.abs().sum() > 0, name
    assert q.base_dist.base_dist.loc.grad.abs().sum() > 0


def test_with_cache_gives_an_independent_copy() -> None:
    t = PlanarTransform(torch.randn(2), torch.randn(2), torch.tensor(0.0))
    uncached = t.with_cache(0)
    assert uncached is not t and uncached._cache_size == 0 and uncached.u is t.u
    assert t.with_cache(1) is t


def test_clear_errors() -> None:
    with pytest.raises(ValueError, match="planar, radial, iaf"):
        PosteriorFlow("sylvester", 2, D, C)
    with pytest.raises(ValueError, match="context_dim"):
        PosteriorFlow("planar", 2, D, 0)
    with pytest.raises(ValueError, match=r"\[\*batch\]"):
        PlanarTransform(torch.randn(3, 2), torch.randn(3, 2), torch.randn(2))
    with pytest.raises(ValueError, match="alpha_raw"):
        RadialTransform(torch.randn(3, 2), torch.randn(3, 1), torch.randn(3))


@pytest.mark.parametrize("kind", KINDS)
def test_score_of_a_sample_has_mean_zero(kind: str) -> None:
    """E_q[∇θ log q(z)] = 0. With z from q.sample() (no graph), log_prob must invert z with
    gradient: a cached base point would drop ∂f⁻¹(z)/∂θ and bias the score."""
    q, flow, _ = posterior(kind, length=2)
    parameters = [q.base_dist.base_dist.loc, *flow.parameters()]
    batches = 20
    log_q = q.log_prob(q.sample((batches, 500))).mean((1, 2))  # one mean per batch
    grads = torch.autograd.grad(
        log_q, parameters, torch.eye(batches, dtype=log_q.dtype), is_grads_batched=True
    )
    means = torch.cat([g.flatten(1) for g in grads], 1)  # [batches, parameters]
    se = means.std(0) / batches**0.5
    assert (means.mean(0).abs() <= 5 * se + 1e-12).all()

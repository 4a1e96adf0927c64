"""A sweep of extreme but valid inputs for reparam.transport: costs and points scaled from
1e-30 to 1e30 (1e-15 to 1e15 for squared costs of float32 points), weights with zeros,
one-point supports (n = 1 or m = 1), batches, ε down to 1e-6 of the cost's range. Every value
and gradient is finite; sinkhorn either converges, with the marginals it reports, or says it
did not with a ConvergenceWarning (never a silent wrong result); exact answers (the LP,
POT, closed forms) agree where they exist."""

import math
import warnings

import hypothesis.strategies as st
import ot
import pytest
import torch
from hypothesis import event, given, settings
from torch import Tensor, nn

from reparam.convergence import ConvergenceWarning
from reparam.transport import (
    critic_loss,
    emd_1d,
    exact_w1,
    generator_loss,
    gradient_penalty,
    kantorovich,
    lipschitz_estimate,
    sinkhorn,
    sinkhorn_divergence,
    sinkhorn_unbalanced,
    wasserstein_1d,
)
from reparam.transport.sinkhorn_solver import precision_floor

dtypes = st.sampled_from([torch.float64, torch.float32])
sizes = st.integers(1, 5)
decades = st.integers(-30, 30)
relative_eps = st.sampled_from([1.0, 0.1, 1e-2, 1e-3, 1e-4, 1e-6])


def examples(ci: int) -> int:
    """``ci`` examples under the CI profile (40 by default), as many more under a longer one."""
    return max(1, ci * settings.default.max_examples // 40)


def weights(draw, k: int, dtype: torch.dtype) -> Tensor:
    """k weights with some exact zeros (never all), normalised in ``dtype``."""
    raw = draw(st.lists(st.sampled_from([0.0, 1e-3, 0.3, 1.0, 7.0]), min_size=k, max_size=k))
    w = torch.tensor(raw, dtype=dtype)
    if not bool((w > 0).any()):
        w[draw(st.integers(0, k - 1))] = 1.0
    return w / w.sum()


def finite_grads(value: Tensor, leaves: list[Tensor]) -> None:
    assert torch.isfinite(value).all(), value
    for grad in torch.autograd.grad(value.sum(), leaves, allow_unused=True):
        assert grad is None or torch.isfinite(grad).all(), grad


def solve_or_warn(*args, **kwargs):
    """sinkhorn(...), and the ConvergenceWarnings it gave."""
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        res = sinkhorn(*args, **kwargs)
    caught = [w for w in record if issubclass(w.category, ConvergenceWarning)]
    return res, caught


@settings(max_examples=examples(30))
@given(dtypes, sizes, sizes, st.sampled_from([(), (2,)]), decades, relative_eps, st.data())
def test_sinkhorn(dtype, n, m, batch, decade, rel, data) -> None:
    g = torch.Generator().manual_seed(data.draw(st.integers(0, 2**16)))
    scale = 10.0**decade if dtype == torch.float64 else 10.0 ** max(-30, min(30, decade))
    C = (scale * torch.rand(*batch, n, m, generator=g, dtype=torch.float64)).to(dtype)
    a, b = weights(data.draw, n, dtype), weights(data.draw, m, dtype)
    spread = float((C.amax((-2, -1)) - C.amin((-2, -1))).max())
    eps = rel * (spread if spread > 0 else scale)
    C.requires_grad_(True)
    a.requires_grad_(True)
    res, caught = solve_or_warn(a, b, C, eps)
    for t in (res.cost, res.objective, res.plan, res.f, res.g):
        assert torch.isfinite(t).all()
    assert res.converged == (not caught)  # converged, or it said so
    event(f"{dtype}, eps/(max C - min C) = {rel:g}: {'converged' if res.converged else 'warned'}")
    if res.converged:
        P = res.plan.detach().double()
        floor = precision_floor(dtype, spread / eps, 0.0) + 2 * abs(
            float(a.detach().double().sum() - b.double().sum())
        )
        rows = (P.sum(-1) - a.detach().double()).abs().sum(-1).max()
        cols = (P.sum(-2) - b.double()).abs().sum(-1).max()
        assert float(rows) <= res.marginal_error + 8 * floor + 1e-12
        assert float(cols) <= 8 * floor + 1e-12
        if dtype == torch.float64 and not batch:
            exact = float(kantorovich(a.detach(), b, C.detach()).cost)
            slack = spread * float(rows + cols) / 2 + 1e-9 * scale
            gap = float(res.cost.detach()) - exact
            assert -slack <= gap <= eps * math.log(min(n, m)) + slack + 1e-9 * scale
    finite_grads(res.cost, [C, a])


@settings(max_examples=examples(20))
@given(
    dtypes,
    sizes,
    sizes,
    st.integers(1, 3),
    st.sampled_from([1, 2]),
    st.integers(-15, 15),
    st.sampled_from([1.0, 0.1, 1e-2, 1e-3]),
    st.data(),
)
def test_sinkhorn_divergence(dtype, n, m, d, p, decade, rel, data) -> None:
    g = torch.Generator().manual_seed(data.draw(st.integers(0, 2**16)))
    scale = 10.0**decade
    x = (scale * torch.rand(n, d, generator=g, dtype=torch.float64)).to(dtype)
    y = (scale * torch.rand(m, d, generator=g, dtype=torch.float64)).to(dtype)
    if data.draw(st.booleans()):
        y = x.clone()  # coincident clouds
    x.requires_grad_(True)
    eps = rel * scale**p
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # its convergence is sinkhorn's
        value = sinkhorn_divergence(x, y, eps, a=weights(data.draw, n, dtype), p=p)
    finite_grads(value, [x])


@settings(max_examples=examples(30))
@given(
    dtypes,
    st.integers(1, 6),
    st.integers(1, 6),
    st.integers(-30, 30),
    st.sampled_from([1.0, 1.5, 2.0, 3.0]),
    st.booleans(),
    st.data(),
)
def test_wasserstein_1d(dtype, n, m, decade, p, weighted, data) -> None:
    g = torch.Generator().manual_seed(data.draw(st.integers(0, 2**16)))
    scale = 10.0**decade
    x = (scale * torch.randn(n, generator=g, dtype=torch.float64)).to(dtype)
    y = (scale * torch.randn(m, generator=g, dtype=torch.float64)).to(dtype)
    if n == m and data.draw(st.booleans()):
        y = x.clone()
    a = weights(data.draw, n, dtype) if weighted else None
    b = weights(data.draw, m, dtype) if weighted else None
    x.requires_grad_(True)
    value = wasserstein_1d(x, y, p=p, a=a, b=b)
    finite_grads(value, [x])
    # The exact LP on |x − y|^p / scale^p, in float64.
    xs, ys = x.detach().double() / scale, y.double() / scale
    aw = torch.full((n,), 1 / n, dtype=torch.float64) if a is None else a
    bw = torch.full((m,), 1 / m, dtype=torch.float64) if b is None else b
    exact = float(kantorovich(aw, bw, (xs[:, None] - ys[None]).abs() ** p).cost) ** (1 / p)
    rtol = 1e-9 if dtype == torch.float64 else 1e-4
    assert float(value.detach()) / scale == pytest.approx(exact, rel=rtol, abs=rtol)


@settings(max_examples=examples(25))
@given(
    dtypes, st.integers(1, 6), st.integers(1, 6), st.sampled_from([1.0, 1.5, 2.0, 3.0]), st.data()
)
def test_emd_1d(dtype, n, m, p, data) -> None:
    g = torch.Generator().manual_seed(data.draw(st.integers(0, 2**16)))
    scale = 10.0 ** data.draw(
        st.integers(-30, 30) if dtype == torch.float64 else st.integers(-10, 10)
    )
    x = (scale * torch.randn(n, generator=g, dtype=torch.float64)).to(dtype)
    y = (
        x.clone()
        if n == m and data.draw(st.booleans())
        else (scale * torch.randn(m, generator=g, dtype=torch.float64)).to(dtype)
    )
    a, b = weights(data.draw, n, dtype), weights(data.draw, m, dtype)
    x.requires_grad_(True)
    a.requires_grad_(True)
    res = emd_1d(x, y, a, b, p=p)
    finite_grads(res.cost, [x, a])
    plan, phi, psi = (t.detach().double() for t in (res.plan, res.phi, res.psi))
    a64, b64 = a.detach().double(), b.double()
    a64, b64 = a64 / a64.sum(), b64 / b64.sum()
    rtol = 1e-9 if dtype == torch.float64 else 1e-4
    assert float((plan.sum(1) - a64).abs().sum() + (plan.sum(0) - b64).abs().sum()) < rtol
    # The LP on |x − y|^p / scale^p in float64; the potentials scale with scale^p.
    C = (x.detach().double()[:, None] - y.double()[None]).abs() ** p
    exact = float(kantorovich(a64, b64, C / scale**p).cost)
    assert float(res.cost.detach()) / scale**p == pytest.approx(exact, rel=rtol, abs=rtol)
    assert float((phi[:, None] + psi[None, :] - C).max()) / scale**p <= rtol * max(1.0, exact)
    assert float(phi @ a64 + psi @ b64) / scale**p == pytest.approx(exact, rel=rtol, abs=rtol)


@settings(max_examples=examples(15))
@given(
    dtypes,
    sizes,
    sizes,
    st.integers(-30, 30),
    st.sampled_from([1.0, 0.1, 1e-2]),
    st.sampled_from([0.1, 1.0, 10.0, math.inf]),
    st.data(),
)
def test_sinkhorn_unbalanced(dtype, n, m, decade, rel, tau, data) -> None:
    g = torch.Generator().manual_seed(data.draw(st.integers(0, 2**16)))
    scale = 10.0**decade
    C = (scale * torch.rand(n, m, generator=g, dtype=torch.float64)).to(dtype).requires_grad_(True)
    a, b = weights(data.draw, n, dtype), 2 * weights(data.draw, m, dtype)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        res = sinkhorn_unbalanced(a, b, C, rel * scale, tau * scale, max_iter=1000)
    caught = [w for w in record if issubclass(w.category, ConvergenceWarning)]
    assert res.converged != bool(caught)
    for t in (res.objective, res.plan, res.f, res.g):
        assert torch.isfinite(t).all()
    finite_grads(res.cost, [C])


@settings(max_examples=examples(25))
@given(
    sizes, sizes, st.integers(-30, 30), st.sampled_from([torch.float64, torch.float32]), st.data()
)
def test_kantorovich(n, m, decade, weight_dtype, data) -> None:
    g = torch.Generator().manual_seed(data.draw(st.integers(0, 2**16)))
    scale = 10.0**decade
    C = scale * torch.rand(n, m, generator=g, dtype=torch.float64) - scale / 3
    a, b = weights(data.draw, n, weight_dtype), weights(data.draw, m, weight_dtype)
    res = kantorovich(a, b, C)
    a64, b64 = a.double() / a.double().sum(), b.double() / b.double().sum()
    plan, phi, psi, cost = res.plan, res.phi, res.psi, float(res.cost)
    for t in (plan, phi, psi, res.cost):
        assert torch.isfinite(t).all()
    top = float(C.abs().max())
    # POT's network simplex has absolute tolerances (at costs of 1e-15 it is off by 8 %):
    # compare with it on C / scale.
    reference = ot.emd2(a64.numpy(), b64.numpy(), (C / scale).numpy()) * scale
    assert cost == pytest.approx(reference, rel=1e-9, abs=1e-12 * top)
    assert float(phi @ a64 + psi @ b64) == pytest.approx(cost, rel=1e-9, abs=1e-12 * top)
    assert float((phi[:, None] + psi[None, :] - C).max()) <= 1e-9 * top
    assert float((plan.sum(1) - a64).abs().sum() + (plan.sum(0) - b64).abs().sum()) < 1e-9


@settings(max_examples=examples(20))
@given(st.integers(1, 6), st.integers(1, 3), st.integers(-30, 30), st.booleans(), st.data())
def test_exact_w1(n, d, decade, coincident, data) -> None:
    g = torch.Generator().manual_seed(data.draw(st.integers(0, 2**16)))
    scale = 10.0**decade
    x = scale * torch.randn(n, d, generator=g, dtype=torch.float64)
    y = x.clone() if coincident else scale * torch.randn(n, d, generator=g, dtype=torch.float64)
    w = exact_w1(x, y)
    assert math.isfinite(w) and (w == 0.0 if coincident else w > 0)
    assert w == pytest.approx(exact_w1(x, y, method="kantorovich"), rel=1e-9, abs=1e-300)


class Critic(nn.Module):
    def __init__(self, d: int, dtype: torch.dtype) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(d, 4, dtype=dtype), nn.Tanh(), nn.Linear(4, 1, dtype=dtype)
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


@settings(max_examples=examples(20))
@given(dtypes, st.integers(1, 4), st.integers(1, 3), st.integers(-15, 15), st.data())
def test_wgan_losses_and_penalty(dtype, batch, d, decade, data) -> None:
    torch.manual_seed(data.draw(st.integers(0, 2**16)))
    critic = Critic(d, dtype)
    scale = 10.0**decade
    real = scale * torch.randn(batch, d, dtype=dtype)
    fake = (scale * torch.randn(batch, d, dtype=dtype)).requires_grad_(True)
    if data.draw(st.booleans()):
        fake = real.clone().requires_grad_(True)  # coincident batches: t irrelevant
    params = list(critic.parameters())
    finite_grads(critic_loss(critic, real, fake), [*params, fake])
    finite_grads(generator_loss(critic, fake), [*params, fake])
    t = torch.tensor(
        data.draw(st.lists(st.sampled_from([0.0, 0.5, 1.0]), min_size=batch, max_size=batch)),
        dtype=dtype,
    )
    finite_grads(gradient_penalty(critic, real, fake, t=t), params)
    assert torch.isfinite(lipschitz_estimate(critic, real, fake, t=t))

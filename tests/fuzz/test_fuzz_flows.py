"""A property-based sweep of ``reparam.flows`` on extreme but valid inputs: unconstrained flow
parameters up to ±1e4 (planar w·u → −∞ and radial β → −α, the edges of invertibility; α → 0),
points scaled 1e-30…1e30, empty batches, amortized flows from contexts scaled 1e-30…1e4.
Every point, log-determinant and gradient is finite, and inverses are consistent.

The ranges stop where the answer itself leaves the dtype: a planar w of size below 1e-6 has
∂û/∂w ≈ 1/‖w‖² beyond float32, and w·z must be a float (|w|·|z| ≤ 1e30); at z = z0 exactly a
radial flow's Jacobian is (γ/α)·I, infinite in floating point when α underflows, so the
points are drawn off z0 (their offset no smaller than z0 itself, so that z − z0 ≠ 0); the
gradient of an IAF step with respect to its MADE's weights grows as |z|², so float32 points
stop at 1e18."""

from __future__ import annotations

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch.distributions import Independent, Normal, TransformedDistribution

from reparam.flows import MADE, PosteriorFlow, iaf, planar, planar_inverse, radial, radial_inverse

DTYPES = st.sampled_from([torch.float32, torch.float64])
RAW = st.one_of(st.floats(-1e4, 1e4), st.sampled_from([-1e4, -800.0, -100.0, 0.0, 30.0, 1e4]))


def examples(ci: int) -> int:
    """``ci`` examples under the CI profile (40 by default), as many more under a longer one."""
    return max(1, ci * settings.default.max_examples // 40)


FAST = settings(max_examples=examples(25), suppress_health_check=[HealthCheck.too_slow])
D = 3


def finite(*tensors: torch.Tensor | None) -> bool:
    return all(t is None or bool(torch.isfinite(t).all()) for t in tensors)


def leaf(value: torch.Tensor) -> torch.Tensor:
    return value.clone().requires_grad_()


@FAST
@given(
    dtype=DTYPES,
    wu=RAW,
    w_scale=st.floats(-6, 4),
    z_scale=st.floats(-30, 26),
    b=st.floats(-1e4, 1e4),
    samples=st.sampled_from([0, 1, 3]),
    on_fold=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_planar_is_finite(dtype, wu, w_scale, z_scale, b, samples, on_fold, seed) -> None:
    g = torch.Generator().manual_seed(seed)
    w = leaf(torch.randn(D, generator=g, dtype=torch.float64).to(dtype) * 10.0**w_scale)
    u = leaf((wu * w / (w * w).sum()).detach())
    b = leaf(torch.tensor(b, dtype=dtype))
    z = torch.randn(samples, D, generator=g, dtype=torch.float64).to(dtype) * 10.0**z_scale
    if on_fold:  # w·z + b = 0 exactly on the first coordinate's line: t = 0
        z = torch.zeros_like(z)
        z[..., 0] = -b.detach() / w.detach()[0]
    z = leaf(z)
    y, log_det = planar(z, u, w, b)
    assert y.shape == z.shape and log_det.shape == (samples,)
    (y.sum() + log_det.sum()).backward()
    assert finite(y, log_det, z.grad, u.grad, w.grad, b.grad)
    assert finite(planar_inverse(y.detach(), u.detach(), w.detach(), b.detach()))


@FAST
@given(
    dtype=DTYPES,
    alpha_raw=RAW,
    beta_raw=RAW,
    z0_scale=st.floats(-30, 30),
    offset_scale=st.floats(-30, 30),
    samples=st.sampled_from([0, 1, 3]),
    seed=st.integers(0, 2**16),
)
def test_radial_is_finite(dtype, alpha_raw, beta_raw, z0_scale, offset_scale, samples, seed):
    g = torch.Generator().manual_seed(seed)
    z0_scale = min(z0_scale, offset_scale)
    z0 = leaf(torch.randn(D, generator=g, dtype=torch.float64).to(dtype) * 10.0**z0_scale)
    offset = torch.randn(samples, D, generator=g, dtype=torch.float64).to(dtype)
    z = leaf(z0.detach() + offset * 10.0**offset_scale)
    a, b = (leaf(torch.tensor(v, dtype=dtype)) for v in (alpha_raw, beta_raw))
    y, log_det = radial(z, z0, a, b)
    assert y.shape == z.shape and log_det.shape == (samples,)
    (y.sum() + log_det.sum()).backward()
    assert finite(y, log_det, z.grad, z0.grad, a.grad, b.grad)
    back = radial_inverse(y.detach(), z0.detach(), a.detach(), b.detach())
    assert finite(back)


@FAST
@given(
    dtype=DTYPES,
    z_scale=st.floats(-30, 30),
    h_scale=st.floats(-30, 4),
    forget_bias=st.floats(-30, 30),
    samples=st.sampled_from([0, 1, 3]),
    reverse=st.booleans(),
)
def test_iaf_is_finite(dtype, z_scale, h_scale, forget_bias, samples, reverse) -> None:
    if dtype == torch.float32:  # ∂y/∂(MADE's weights) grows as |z|²: 1e36 at |z| = 1e18
        z_scale = min(z_scale, 18.0)
    torch.manual_seed(0)
    made = MADE(D, context_dim=2, hidden=(6,), reverse=reverse).to(dtype)
    h = leaf(torch.randn(2, 2, dtype=dtype) * 10.0**h_scale)
    z = leaf(torch.randn(samples, 2, D, dtype=dtype) * 10.0**z_scale)
    y, log_det = iaf(z, made, h, forget_bias)
    assert log_det.shape == (samples, 2)
    (y.sum() + log_det.sum()).backward()
    assert finite(y, log_det, z.grad, h.grad, *(p.grad for p in made.parameters()))


@FAST
@given(
    kind=st.sampled_from(["planar", "radial", "iaf"]),
    h_scale=st.floats(-30, 4),
    batch=st.sampled_from([1, 3]),
    k=st.sampled_from([1, 2]),
)
def test_amortized_posterior_is_finite(kind, h_scale, batch, k) -> None:
    """The posterior of a flow VAE, sampled and scored: shapes, values and gradients. (No
    empty batch here: torch's ``Independent.log_prob`` cannot reshape one; the flows
    themselves take empty batches, tests/flows/test_flow_errors.py.)"""
    torch.manual_seed(0)
    flow = PosteriorFlow(kind, length=2, z_dim=D, context_dim=4, hidden=(8,))
    h = leaf(torch.randn(batch, 4) * 10.0**h_scale)
    base = Independent(Normal(torch.zeros(batch, D), torch.ones(batch, D)), 1)
    q = TransformedDistribution(base, flow(h))
    z = q.rsample((k,))
    log_q = q.log_prob(z)
    assert z.shape == (k, batch, D) and log_q.shape == (k, batch)
    (z.sum() + log_q.sum()).backward()
    assert finite(z, log_q, h.grad, *(p.grad for p in flow.parameters()))

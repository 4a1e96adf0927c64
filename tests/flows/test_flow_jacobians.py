"""Every flow's log|det J| is the log-abs-determinant of its autograd Jacobian, per data point,
and its inverse undoes it."""

from collections.abc import Callable

import mpmath
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor
from torch.autograd.functional import jacobian

from reparam.flows import (
    MADE,
    iaf,
    iaf_inverse,
    planar,
    planar_inverse,
    radial,
    radial_inverse,
)

SAMPLES, BATCH = 2, 3
Flow = Callable[[Tensor], tuple[Tensor, Tensor]]
Inverse = Callable[[Tensor], Tensor]


def random_planar(d: int, g: torch.Generator) -> tuple[Flow, Inverse]:
    u, w = (3 * torch.randn(BATCH, d, generator=g, dtype=torch.float64) for _ in range(2))
    b = 2 * torch.randn(BATCH, generator=g, dtype=torch.float64)
    return lambda z: planar(z, u, w, b), lambda y: planar_inverse(y, u, w, b)


def random_radial(d: int, g: torch.Generator) -> tuple[Flow, Inverse]:
    z0 = torch.randn(BATCH, d, generator=g, dtype=torch.float64)
    alpha_raw, beta_raw = (3 * torch.randn(BATCH, generator=g, dtype=torch.float64) for _ in "ab")
    return (
        lambda z: radial(z, z0, alpha_raw, beta_raw),
        lambda y: radial_inverse(y, z0, alpha_raw, beta_raw),
    )


def random_iaf(d: int, g: torch.Generator) -> tuple[Flow, Inverse]:
    torch.manual_seed(int(torch.randint(2**31, (), generator=g)))
    reverse = bool(torch.randint(2, (), generator=g))
    made = MADE(d, context_dim=4, hidden=(8, 8), reverse=reverse).double()
    h = torch.randn(BATCH, 4, generator=g, dtype=torch.float64)
    return lambda z: iaf(z, made, h), lambda y: iaf_inverse(y, made, h)


FLOWS = {"planar": random_planar, "radial": random_radial, "iaf": random_iaf}


def per_point_jacobians(flow: Flow, z: Tensor) -> Tensor:
    """``[*sample, *batch, d, d]``: the diagonal blocks of the full Jacobian."""
    full = jacobian(lambda x: flow(x)[0], z)  # [k, B, d, k, B, d]
    k, b = torch.meshgrid(torch.arange(SAMPLES), torch.arange(BATCH), indexing="ij")
    return full[k, b, :, k, b, :]


@pytest.mark.parametrize("name", FLOWS)
@settings(max_examples=20, deadline=None)
@given(d=st.integers(1, 6), seed=st.integers(0, 2**32 - 1))
def test_log_det_matches_autograd(name: str, d: int, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    flow, _ = FLOWS[name](d, g)
    z = 2 * torch.randn(SAMPLES, BATCH, d, generator=g, dtype=torch.float64)
    y, log_det = flow(z)
    assert y.shape == z.shape and log_det.shape == (SAMPLES, BATCH)
    expected = torch.linalg.slogdet(per_point_jacobians(flow, z)).logabsdet
    torch.testing.assert_close(log_det, expected, rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("name", FLOWS)
@settings(max_examples=20, deadline=None)
@given(d=st.integers(1, 6), seed=st.integers(0, 2**32 - 1))
def test_inverse_undoes_the_flow(name: str, d: int, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    flow, inverse = FLOWS[name](d, g)
    z = 2 * torch.randn(SAMPLES, BATCH, d, generator=g, dtype=torch.float64)
    torch.testing.assert_close(inverse(flow(z)[0]), z, rtol=1e-7, atol=1e-7)


def test_planar_inverse_gradient_is_the_implicit_one() -> None:
    """Bisection carries no gradient; the closing Newton step must supply all of it."""
    g = torch.Generator().manual_seed(1)
    u, w, y = (torch.randn(3, generator=g, dtype=torch.float64) for _ in range(3))
    b = torch.tensor(0.4, dtype=torch.float64)
    assert torch.autograd.gradcheck(planar_inverse, [t.requires_grad_() for t in (y, u, w, b)])


def test_planar_with_zero_w_is_a_shift() -> None:
    z = torch.randn(4, 2)
    u, w, b = torch.tensor([1.0, -2.0]), torch.zeros(2), torch.tensor(0.5)
    y, log_det = planar(z, u, w, b)
    torch.testing.assert_close(y, z + u * torch.tanh(b))
    torch.testing.assert_close(log_det, torch.zeros(4))
    torch.testing.assert_close(planar_inverse(y, u, w, b), z)


# Extreme but valid parameters, float64: near the edges of invertibility (planar w·u → −∞, so
# 1 + w·û = softplus(w·u) → 0; radial β → −α, so γ = α + β → 0; α → 0) and large IAF inputs.
def edge_planar(d: int, g: torch.Generator, wu: float) -> tuple[Flow, Inverse]:
    w = torch.randn(BATCH, d, generator=g, dtype=torch.float64)
    u = wu * w / (w * w).sum(-1, keepdim=True)
    b = torch.randn(BATCH, generator=g, dtype=torch.float64)
    return lambda z: planar(z, u, w, b), lambda y: planar_inverse(y, u, w, b)


def edge_radial(d: int, g: torch.Generator, alpha_raw: float, beta_raw: float) -> Flow:
    z0 = torch.randn(BATCH, d, generator=g, dtype=torch.float64)
    a, b = (torch.full((BATCH,), v, dtype=torch.float64) for v in (alpha_raw, beta_raw))
    return lambda z: radial(z, z0, a, b)


@pytest.mark.parametrize("wu", [-20.0, -30.0, 20.0, 1e3])
def test_planar_log_det_matches_autograd_at_the_edge(wu: float) -> None:
    g = torch.Generator().manual_seed(3)
    flow, inverse = edge_planar(3, g, wu)
    z = 2 * torch.randn(SAMPLES, BATCH, 3, generator=g, dtype=torch.float64)
    expected = torch.linalg.slogdet(per_point_jacobians(flow, z)).logabsdet
    # a determinant of O(1e-13) is slogdet'd to ≈ 1e-16/1e-13 relative: atol 1e-6 on its log
    torch.testing.assert_close(flow(z)[1], expected, rtol=1e-8, atol=1e-6)
    torch.testing.assert_close(flow(inverse(flow(z)[0]))[0], flow(z)[0], rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize(
    ("alpha_raw", "beta_raw"), [(0.0, -30.0), (-30.0, 0.0), (-30.0, -30.0), (30.0, 30.0)]
)
def test_radial_log_det_matches_autograd_at_the_edge(alpha_raw: float, beta_raw: float) -> None:
    g = torch.Generator().manual_seed(4)
    flow = edge_radial(3, g, alpha_raw, beta_raw)
    z = 2 * torch.randn(SAMPLES, BATCH, 3, generator=g, dtype=torch.float64)
    expected = torch.linalg.slogdet(per_point_jacobians(flow, z)).logabsdet
    torch.testing.assert_close(flow(z)[1], expected, rtol=1e-8, atol=1e-8)


def test_iaf_log_det_matches_autograd_for_large_inputs() -> None:
    torch.manual_seed(5)
    made = MADE(3, context_dim=4, hidden=(8, 8)).double()
    h = torch.randn(BATCH, 4, dtype=torch.float64)
    z = 30 * torch.randn(SAMPLES, BATCH, 3, dtype=torch.float64)
    flow = lambda x: iaf(x, made, h)  # noqa: E731
    expected = torch.linalg.slogdet(per_point_jacobians(flow, z)).logabsdet
    torch.testing.assert_close(flow(z)[1], expected, rtol=1e-8, atol=1e-8)


def exact_planar_log_det(a: float, wu: float) -> float:
    """log(t² + s(1 − t²)), t = tanh a, s = softplus(w·u), in 50 digits."""
    with mpmath.workdps(50):
        t = mpmath.tanh(mpmath.mpf(a))
        s = mpmath.log1p(mpmath.exp(mpmath.mpf(wu)))
        return float(mpmath.log(t * t + s * (1 - t * t)))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("wu", [-1e4, -800.0, -100.0, -30.0])
def test_planar_log_det_on_the_fold_is_the_closed_form(dtype, wu: float) -> None:
    """At w·z + b = 0 (t = 0) and w·u → −∞ the determinant is softplus(w·u), below the
    smallest float: its log (≈ w·u) must be finite and exact, and the gradients finite."""
    w = torch.tensor([1.0, 0.0], dtype=dtype)
    u = (wu * w).requires_grad_()
    b = torch.tensor(0.0, dtype=dtype, requires_grad=True)
    a = torch.tensor([0.0, 1e-30, 1e-3, 2.0], dtype=dtype)
    z = torch.stack([a, torch.ones_like(a)], -1).requires_grad_()
    y, log_det = planar(z, u, w, b)
    expected = torch.tensor([exact_planar_log_det(float(v), wu) for v in a], dtype=torch.float64)
    tolerance = 1e-6 if dtype == torch.float32 else 1e-12
    torch.testing.assert_close(log_det.detach().double(), expected, rtol=tolerance, atol=tolerance)
    (y.sum() + log_det.sum()).backward()
    for grad in (z.grad, u.grad, b.grad):
        assert torch.isfinite(grad).all()


def exact_radial_log_det(r: float, alpha_raw: float, beta_raw: float, d: int) -> float:
    with mpmath.workdps(50):
        alpha, gamma = (mpmath.log1p(mpmath.exp(mpmath.mpf(v))) for v in (alpha_raw, beta_raw))
        r = mpmath.mpf(r)
        value = (d - 1) * mpmath.log((gamma + r) / (alpha + r))
        return float(value + mpmath.log((alpha * gamma + 2 * alpha * r + r * r) / (alpha + r) ** 2))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(
    ("alpha_raw", "beta_raw"), [(0.0, -1e4), (-1e4, 0.0), (-200.0, -1e3), (5.0, -800.0)]
)
def test_radial_log_det_where_alpha_or_gamma_underflow(dtype, alpha_raw, beta_raw) -> None:
    """α = softplus(α̃) or γ = softplus(β̃) below the smallest float, at r = ‖z − z0‖ = 0 and
    beyond: the log-determinant is the closed form, finite, with finite gradients."""
    d = 3
    z0 = torch.zeros(d, dtype=dtype)
    radii = [0.0, 1e-30, 1e-3, 1.0, 1e30]
    z = (
        torch.tensor(radii, dtype=dtype).unsqueeze(-1) * torch.eye(d, dtype=dtype)[0]
    ).requires_grad_()
    raw = [torch.tensor(v, dtype=dtype, requires_grad=True) for v in (alpha_raw, beta_raw)]
    y, log_det = radial(z, z0, *raw)
    expected = torch.tensor(
        [exact_radial_log_det(r, alpha_raw, beta_raw, d) for r in radii], dtype=torch.float64
    )
    tolerance = 1e-5 if dtype == torch.float32 else 1e-12
    torch.testing.assert_close(log_det.detach().double(), expected, rtol=tolerance, atol=tolerance)
    assert torch.isfinite(y).all()
    log_det.sum().backward()
    for grad in (z.grad, *(p.grad for p in raw)):
        assert torch.isfinite(grad).all()

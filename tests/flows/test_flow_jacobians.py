"""Every flow's log|det J| is the log-abs-determinant of its autograd Jacobian, per data point,
and its inverse undoes it."""

from collections.abc import Callable

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

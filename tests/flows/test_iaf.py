"""MADE is autoregressive in its order, with or without context, and IAF steps alternate it."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.autograd.functional import jacobian

from reparam.flows import MADE, PosteriorFlow, iaf


def strictly_lower(j: torch.Tensor) -> torch.Tensor:
    """The entries below the diagonal of a square matrix, as a vector."""
    return j[torch.ones_like(j, dtype=torch.bool).tril(-1)]


@settings(max_examples=30, deadline=None)
@given(
    d=st.integers(1, 6),
    hidden=st.lists(st.integers(1, 10), min_size=1, max_size=3),
    context_dim=st.integers(0, 3),
    reverse=st.booleans(),
)
def test_made_is_autoregressive(d: int, hidden: list[int], context_dim: int, reverse: bool) -> None:
    made = MADE(d, context_dim, hidden, reverse).double()
    z = torch.randn(d, dtype=torch.float64)
    h = torch.randn(context_dim, dtype=torch.float64) if context_dim else None
    order = torch.arange(d).flip(0) if reverse else torch.arange(d)
    j = jacobian(lambda x: torch.cat(made(x, h)), z).view(2, d, d)
    j = j[:, order][:, :, order]  # rows and columns in MADE's order
    assert (j.triu() == 0).all()  # outputs i see only the variables before z_i


def test_every_allowed_connection_is_present() -> None:
    made = MADE(5, context_dim=3, hidden=(16, 16)).double()
    z, h = torch.randn(5, dtype=torch.float64), torch.randn(3, dtype=torch.float64)
    j = jacobian(lambda x: torch.cat(made(x, h)), z).view(2, 5, 5)
    assert (strictly_lower(j[0]) != 0).all() and (strictly_lower(j[1]) != 0).all()
    jh = jacobian(lambda c: torch.cat(made(z, c)), h)
    assert (jh != 0).all()  # the context reaches every output, the first variable's too


def test_iaf_step_jacobian_is_triangular_with_gate_diagonal() -> None:
    made = MADE(4, context_dim=2, hidden=(12,)).double()
    z, h = torch.randn(4, dtype=torch.float64), torch.randn(2, dtype=torch.float64)
    j = jacobian(lambda x: iaf(x, made, h, forget_bias=2.0)[0], z)
    assert (j.triu(1) == 0).all() and (strictly_lower(j) != 0).all()
    gate = torch.sigmoid(made(z, h)[1] + 2.0)
    torch.testing.assert_close(j.diagonal(), gate)


def test_consecutive_steps_reverse_the_order() -> None:
    flow = PosteriorFlow("iaf", length=3, z_dim=4, context_dim=2, hidden=(12,)).double()
    h = torch.randn(2, dtype=torch.float64)
    steps = flow(h)
    z = torch.randn(4, dtype=torch.float64)
    first, second, third = (jacobian(step, z) for step in steps)
    assert (first.triu(1) == 0).all() and (strictly_lower(first) != 0).all()
    assert (second.tril(-1) == 0).all() and (strictly_lower(second.T) != 0).all()
    assert (third.triu(1) == 0).all()
    both = jacobian(lambda x: steps[1](steps[0](x)), z)
    assert (both != 0).all()  # after two steps every variable depends on every other


def test_made_refuses_missing_or_unexpected_context() -> None:
    with pytest.raises(ValueError, match="context_dim=3"):
        MADE(2, context_dim=3)(torch.randn(2))
    with pytest.raises(ValueError, match="context_dim=0"):
        MADE(2)(torch.randn(2), torch.randn(3))
    with pytest.raises(ValueError, match="hidden"):
        MADE(2, hidden=())

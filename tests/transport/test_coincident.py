"""Coincident points: wasserstein_1d, sinkhorn_divergence and exact_w1 give 0 with finite
gradients (the subgradient 0 where the distance is 0, not NaN from 0^(1/p)), in float32 and
float64; and their bad inputs raise errors naming the argument."""

import numpy as np
import pytest
import torch

from reparam.transport import exact_w1, sinkhorn_divergence, wasserstein_1d

DTYPES = [torch.float32, torch.float64]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", [1, 1.5, 2, 3])
@pytest.mark.parametrize("weighted", [False, True])
def test_wasserstein_1d_at_coincident_samples(dtype, p, weighted) -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 7, generator=g, dtype=dtype).requires_grad_(True)
    y = x.detach().clone().requires_grad_(True)
    weights = {}
    if weighted:
        a = torch.rand(7, generator=g, dtype=dtype)
        weights = {"a": (a / a.sum()).requires_grad_(True), "b": (a / a.sum()).detach()}
    w = wasserstein_1d(x, y, p=p, **weights)
    assert torch.equal(w, torch.zeros_like(w))
    inputs = [x, y] + ([weights["a"]] if weighted else [])
    grads = torch.autograd.grad(w.sum(), inputs)
    for grad in grads:
        assert torch.isfinite(grad).all() and torch.equal(grad, torch.zeros_like(grad))


@pytest.mark.parametrize("dtype", DTYPES)
def test_wasserstein_1d_partly_coincident_matches_the_closed_form(dtype) -> None:
    """One batch row coincident, one shifted: the shifted row keeps its gradient."""
    x = torch.tensor([[0.0, 1.0, 3.0], [0.0, 1.0, 3.0]], dtype=dtype, requires_grad=True)
    y = torch.tensor([[0.0, 1.0, 3.0], [0.5, 1.5, 3.5]], dtype=dtype)
    w = wasserstein_1d(x, y, p=2)
    assert w.tolist() == pytest.approx([0.0, 0.5])
    (g,) = torch.autograd.grad(w.sum(), x)
    assert torch.equal(g[0], torch.zeros(3, dtype=dtype))
    assert g[1].tolist() == pytest.approx([-1 / 3] * 3, rel=1e-6)  # d/dx (mean (x−y)²)^½


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", [1, 1.5, 2])
def test_sinkhorn_divergence_at_coincident_clouds(dtype, p) -> None:
    g = torch.Generator().manual_seed(1)
    x = torch.rand(6, 2, generator=g, dtype=dtype).requires_grad_(True)
    s = sinkhorn_divergence(x, x.detach().clone(), eps=0.1, p=p)
    assert abs(float(s.detach())) < (1e-6 if dtype == torch.float32 else 1e-12)
    (grad,) = torch.autograd.grad(s, x)
    assert torch.isfinite(grad).all()
    assert grad.abs().max() < (1e-4 if dtype == torch.float32 else 1e-9)  # S ≥ 0, minimal here
    # Duplicate points inside one cloud (zero cost off the diagonal).
    dup = torch.cat([x.detach()[:3], x.detach()[:3]]).requires_grad_(True)
    (grad,) = torch.autograd.grad(sinkhorn_divergence(dup, x.detach(), eps=0.1, p=p), dup)
    assert torch.isfinite(grad).all()


def test_exact_w1_at_coincident_clouds() -> None:
    x = torch.randn(20, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    assert exact_w1(x, x) == 0.0
    assert exact_w1(x * 1e10, x * 1e10 + 1.0) == pytest.approx(3**0.5, rel=1e-12)
    assert exact_w1(x, x, method="kantorovich") == pytest.approx(0.0, abs=1e-12)
    assert exact_w1(x[:1], x[:1]) == 0.0  # one-point clouds


def test_bad_inputs_name_the_argument() -> None:
    x = torch.randn(5, dtype=torch.float64)
    nan = x.clone()
    nan[2] = float("nan")
    for p in (0, -1, 0.5, float("nan"), float("inf"), "2", True):
        with pytest.raises(ValueError, match=r"p must be a finite number ≥ 1, got"):
            wasserstein_1d(x, x, p=p)
    with pytest.raises(ValueError, match="y has non-finite entries \\(NaN\\)"):
        wasserstein_1d(x, nan)
    with pytest.raises(ValueError, match="x must be a non-empty sample"):
        wasserstein_1d(torch.zeros(0), x)
    with pytest.raises(ValueError, match="a must have 5 weights"):
        wasserstein_1d(x, x[:4], a=np.full(4, 0.25))
    with pytest.raises(ValueError, match="a has negative entries"):
        wasserstein_1d(x, x[:4], a=[1.5, -0.5, 0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="batch shapes do not broadcast: x \\(2,\\), y \\(3,\\)"):
        wasserstein_1d(torch.zeros(2, 4), torch.zeros(3, 4))
    clouds = x.reshape(5, 1)
    with pytest.raises(ValueError, match="x has non-finite entries"):
        sinkhorn_divergence(nan.reshape(5, 1), clouds, 0.1)
    for p in (0, -2, float("nan")):
        with pytest.raises(ValueError, match="p must be a finite positive number"):
            sinkhorn_divergence(clouds, clouds, 0.1, p=p)
    with pytest.raises(ValueError, match="eps must be a finite positive number"):
        sinkhorn_divergence(clouds, clouds, 0.0)
    with pytest.raises(ValueError, match="x and y must hold at least one point"):
        sinkhorn_divergence(clouds[:0], clouds, 0.1)
    with pytest.raises(ValueError, match=r"overflows torch\.float32"):
        sinkhorn_divergence(clouds.float() * 1e20, clouds.float(), 1.0)
    with pytest.raises(TypeError, match="unexpected keyword arguments \\['max_iters'\\]"):
        sinkhorn_divergence(clouds, clouds, 0.1, max_iters=3)
    with pytest.raises(ValueError, match="y has non-finite entries \\(infinite\\)"):
        exact_w1(clouds, clouds * float("inf"))
    with pytest.raises(ValueError, match="x and y must be non-empty point clouds"):
        exact_w1(clouds[:0], clouds)

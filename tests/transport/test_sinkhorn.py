"""Log-domain Sinkhorn against POT and the exact LP; batching, gradients, small ε,
the Sinkhorn divergence and closed-form 1-D Wasserstein distances."""

import numpy as np
import ot
import pytest
import torch

from reparam.convergence import ConvergenceWarning
from reparam.transport import kantorovich, sinkhorn, sinkhorn_divergence, wasserstein_1d

D = torch.float64


def clouds(seed: int, n: int = 12, m: int = 9):
    g = torch.Generator().manual_seed(seed)
    X = torch.rand(n, 2, generator=g, dtype=D)
    Y = torch.rand(m, 2, generator=g, dtype=D)
    a = torch.rand(n, generator=g, dtype=D) + 0.1
    b = torch.rand(m, generator=g, dtype=D) + 0.1
    return X, Y, a / a.sum(), b / b.sum()


def sqdist(X: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    return ((X[:, None] - Y[None]) ** 2).sum(-1)


@pytest.mark.parametrize("eps", [0.1, 0.05])
def test_matches_pot(eps: float) -> None:
    X, Y, a, b = clouds(0)
    C = sqdist(X, Y)
    res = sinkhorn(a, b, C, eps, tol=1e-12, max_iter=10_000)
    assert res.converged and res.marginal_error < 1e-12
    plan = ot.sinkhorn(a.numpy(), b.numpy(), C.numpy(), eps, stopThr=1e-13, numItermax=10**5)
    # POT's sinkhorn2 returns ⟨C, γ⟩ (no entropy term), like res.cost.
    value = ot.sinkhorn2(a.numpy(), b.numpy(), C.numpy(), eps, stopThr=1e-13, numItermax=10**5)
    assert float(res.cost) == pytest.approx(float(value), abs=1e-6)
    assert np.abs(res.plan.numpy() - plan).max() < 1e-6
    assert torch.allclose(res.plan.sum(0), b, atol=1e-12)
    assert torch.allclose(res.plan.sum(1), a, atol=1e-11)
    # The regularised objective is ⟨C, γ⟩ + ε KL(γ ‖ a⊗b) at convergence.
    kl = (res.plan * (res.plan / (a[:, None] * b[None])).log()).sum()
    assert float(res.objective) == pytest.approx(float(res.cost + eps * kl), abs=1e-9)


def test_batched_equals_looped() -> None:
    problems = [clouds(s) for s in range(3)]
    C = torch.stack([sqdist(X, Y) for X, Y, _, _ in problems])
    a = torch.stack([p[2] for p in problems])
    b = torch.stack([p[3] for p in problems])
    batched = sinkhorn(a, b, C, 0.05, tol=1e-11)
    assert batched.cost.shape == (3,) and batched.plan.shape == (3, 12, 9)
    for k in range(3):
        single = sinkhorn(a[k], b[k], C[k], 0.05, tol=1e-11)
        assert float(batched.cost[k]) == pytest.approx(float(single.cost), abs=1e-9)
        assert torch.allclose(batched.plan[k], single.plan, atol=1e-9)
    shared_b = sinkhorn(a, b[0], C, 0.05, tol=1e-11)  # broadcast over the batch
    assert float(shared_b.cost[0]) == pytest.approx(float(batched.cost[0]), abs=1e-9)


def test_gradient_matches_finite_difference() -> None:
    X, Y, a, b = clouds(1, 6, 5)
    X.requires_grad_(True)
    a.requires_grad_(True)
    res = sinkhorn(a, b, sqdist(X, Y), 0.1, tol=1e-13, max_iter=5000)
    gX, ga = torch.autograd.grad(res.cost, (X, a))
    assert torch.isfinite(gX).all() and torch.isfinite(ga).all()
    h = 1e-6
    with torch.no_grad():
        for i, j in [(0, 0), (3, 1)]:
            Xp, Xm = X.clone(), X.clone()
            Xp[i, j] += h
            Xm[i, j] -= h
            fd = (
                sinkhorn(a, b, sqdist(Xp, Y), 0.1, tol=1e-13, max_iter=5000).cost
                - sinkhorn(a, b, sqdist(Xm, Y), 0.1, tol=1e-13, max_iter=5000).cost
            ) / (2 * h)
            assert float(gX[i, j]) == pytest.approx(float(fd), rel=1e-4, abs=1e-7)
    # Gradient of the regularised objective w.r.t. C is the plan (envelope theorem).
    C = sqdist(X.detach(), Y).requires_grad_(True)
    for unroll in (True, False):
        res = sinkhorn(a.detach(), b, C, 0.1, tol=1e-13, max_iter=5000, unroll=unroll)
        (gC,) = torch.autograd.grad(res.objective, C)
        assert torch.allclose(gC, res.plan, atol=1e-8)


def test_approaches_exact_ot_as_eps_shrinks() -> None:
    X, Y, a, b = clouds(2)
    C = sqdist(X, Y)
    exact = float(kantorovich(a, b, C).cost)
    gaps = []
    for eps in (1.0, 0.1, 0.01):
        res = sinkhorn(a, b, C, eps, tol=1e-9, max_iter=10_000)
        assert res.converged
        gaps.append(float(res.cost) - exact)
    assert all(g > -1e-9 for g in gaps)
    assert gaps[0] > gaps[1] > gaps[2]
    assert gaps[-1] / exact < 5e-2


def test_small_eps_stays_finite() -> None:
    """ε = 1e-3 with costs of order 1: e^{-C/ε} underflows (the kernel has exact zeros, so
    kernel-form Sinkhorn is fragile), the log domain stays finite and near the LP."""
    X, Y, a, b = clouds(3, 10, 8)
    C = sqdist(X, Y) * 2
    assert (torch.exp(-C / 1e-3) == 0).any()
    res = sinkhorn(a, b, C, 1e-3, tol=1e-6, max_iter=20_000)
    exact = float(kantorovich(a, b, C).cost)
    assert res.converged and res.iterations > 1
    assert torch.isfinite(res.plan).all() and torch.isfinite(res.f).all()
    assert torch.isfinite(res.cost) and torch.isfinite(res.objective)
    assert float(res.cost) >= exact - 1e-5
    assert float(res.cost) == pytest.approx(exact, rel=1e-2)
    X.requires_grad_(True)
    (g,) = torch.autograd.grad(sinkhorn(a, b, sqdist(X, Y), 1e-3, max_iter=200).cost, X)
    assert torch.isfinite(g).all()


def test_convergence_flag_and_eps_scaling() -> None:
    X, Y, a, b = clouds(4)
    C = sqdist(X, Y)
    with pytest.warns(ConvergenceWarning, match="row-marginal L1 error"):
        short = sinkhorn(a, b, C, 0.01, max_iter=3, eps_scaling=None)
    assert short.iterations == 3 and not short.converged and short.marginal_error > 1e-9
    full = sinkhorn(a, b, C, 0.01, tol=1e-10, max_iter=10_000)
    assert full.converged and 3 < full.iterations < 10_000 and full.marginal_error < 1e-10
    scaled = sinkhorn(a, b, C, 0.01, tol=1e-10, max_iter=10_000, eps_scaling=0.5)
    assert scaled.converged
    assert float(scaled.cost) == pytest.approx(float(full.cost), abs=1e-8)


def test_float32_and_zero_weights() -> None:
    X, Y, _, _ = clouds(5, 4, 3)
    a = torch.tensor([0.5, 0.0, 0.25, 0.25], requires_grad=True)
    b = torch.full((3,), 1 / 3)
    C = sqdist(X, Y).float()
    res = sinkhorn(a, b, C, 0.05, tol=1e-5)
    assert res.cost.dtype == torch.float32 and res.plan[1].abs().max() == 0
    (g,) = torch.autograd.grad(res.objective, a)
    assert torch.isfinite(g).all()


def test_divergence() -> None:
    X, Y, a, b = clouds(6, 10, 10)
    assert float(sinkhorn_divergence(X, X, 0.05, a, a)) == pytest.approx(0.0, abs=1e-12)
    for eps in (1.0, 0.1, 0.03):
        s = float(sinkhorn_divergence(X, Y, eps, a, b, tol=1e-9, max_iter=5000))
        assert s >= 0
    shifted = sinkhorn_divergence(X, X + 0.3, 0.03, tol=1e-8, max_iter=5000)
    assert float(shifted) > 0.1  # ≈ W2² = 0.18 for the shift (0.3, 0.3)
    p1 = sinkhorn_divergence(X, X + 0.3, 0.03, p=1, tol=1e-8, max_iter=5000)
    assert float(p1) > 0
    batch = sinkhorn_divergence(torch.stack([X, X]), torch.stack([X, Y]), 0.1, tol=1e-10)
    assert batch.shape == (2,) and abs(float(batch[0])) < 1e-12 and float(batch[1]) > 0
    Xg = X.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(sinkhorn_divergence(Xg, Y, 0.1, p=1), Xg)
    assert torch.isfinite(g).all()


@pytest.mark.parametrize("p", [1, 2, 3])
def test_wasserstein_1d(p: int) -> None:
    rng = np.random.default_rng(p)
    x, y = rng.normal(size=9), rng.normal(1, 2, size=7)
    a = rng.random(9)
    a /= a.sum()
    ours = wasserstein_1d(torch.tensor(x), torch.tensor(y), p=p, a=torch.tensor(a))
    # ot.wasserstein_1d returns W_p^p.
    assert float(ours) ** p == pytest.approx(ot.wasserstein_1d(x, y, a, p=p), rel=1e-10)
    C = np.abs(x[:, None] - y[None]) ** p
    exact = float(kantorovich(a, np.full(7, 1 / 7), C).cost)
    assert float(ours) ** p == pytest.approx(exact, rel=1e-9, abs=1e-12)
    z = rng.normal(size=9)
    equal = wasserstein_1d(torch.tensor(x), torch.tensor(z), p=p)
    assert float(equal) ** p == pytest.approx(ot.wasserstein_1d(x, z, p=p), rel=1e-10)
    weighted_path = wasserstein_1d(torch.tensor(x), torch.tensor(z), p=p, a=np.full(9, 1 / 9))
    assert float(weighted_path) == pytest.approx(float(equal), rel=1e-10)


def test_wasserstein_1d_batched() -> None:
    x, y = torch.randn(4, 3, 8, dtype=D), torch.randn(4, 3, 5, dtype=D)
    out = wasserstein_1d(x, y, p=2)
    assert out.shape == (4, 3)
    assert float(out[2, 1]) == pytest.approx(float(wasserstein_1d(x[2, 1], y[2, 1], p=2)))
    same = wasserstein_1d(x, x + 1.5)
    assert torch.allclose(same, torch.full((4, 3), 1.5, dtype=D))


def test_bad_inputs() -> None:
    X, Y, a, b = clouds(7, 4, 3)
    C = sqdist(X, Y)
    with pytest.raises(ValueError, match="negative"):
        sinkhorn(torch.tensor([1.5, -0.5, 0.0, 0.0], dtype=D), b, C, 0.1)
    with pytest.raises(ValueError, match="sum to 1"):
        sinkhorn(a * 2, b, C, 0.1)
    with pytest.raises(ValueError, match="shape"):
        sinkhorn(a, b, C.T, 0.1)
    with pytest.raises(ValueError, match="broadcast"):
        sinkhorn(a.expand(2, 4), b.expand(3, 3), C, 0.1)
    bad = C.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(ValueError, match="non-finite"):
        sinkhorn(a, b, bad, 0.1)
    for eps in (0.0, -1.0, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="eps"):
            sinkhorn(a, b, C, eps)
    with pytest.raises(ValueError, match="eps_scaling"):
        sinkhorn(a, b, C, 0.1, eps_scaling=1.5)
    with pytest.raises(ValueError, match="point clouds"):
        sinkhorn_divergence(X, Y[:, :1], 0.1)
    with pytest.raises(ValueError, match="p must"):
        wasserstein_1d(X[:, 0], Y[:, 0], p=0.5)
    with pytest.raises(ValueError, match="sum to 1"):
        wasserstein_1d(X[:, 0], Y[:, 0], a=a * 0.5)
    with pytest.raises(ValueError, match="non-empty"):
        wasserstein_1d(torch.tensor([]), Y[:, 0])


def test_float32_matches_float64_at_small_eps() -> None:
    """The no-grad loop's single shift per problem must fall back to per-row maxima when
    float32 terms near underflow (exp(-C/ε) with C/ε up to 100)."""
    C = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    a, b = torch.tensor([0.5, 0.5]), torch.tensor([0.25, 0.75])
    single = sinkhorn(a, b, C, eps=0.01)
    double = sinkhorn(a.double(), b.double(), C.double(), eps=0.01)
    assert abs(float(single.cost) - float(double.cost)) < 1e-5
    assert abs(float(double.cost) - 0.25) < 1e-6

"""emd_1d: the 1-D plan, cost and potentials against POT (ot.emd, ot.emd_1d,
ot.emd_1d_dual_backprop, wasserstein_1d's plans) on the cases of POT's test_1d_solver.py, and
against the LP (kantorovich) on small cases with ties and zero weights."""

import numpy as np
import ot
import pytest
import torch
from scipy.stats import wasserstein_distance

from reparam.transport import emd_1d, kantorovich, wasserstein_1d


def pot_data(weights: bool) -> tuple[np.ndarray, ...]:
    n, m = 20, 30
    rng = np.random.RandomState(0)
    u = rng.randn(n, 1)
    v = rng.randn(m, 1)
    if not weights:
        return u, v, ot.unif(n), ot.unif(m)
    w_u = rng.uniform(0.0, 1.0, n)
    w_v = rng.uniform(0.0, 1.0, m)
    return u, v, w_u / w_u.sum(), w_v / w_v.sum()


@pytest.mark.parametrize("weights", [True, False])
def test_emd_1d_emd2_1d(weights: bool) -> None:
    # ported from POT test_1d_solver.py::test_emd_1d_emd2_1d_with_weights and
    # ::test_emd_1d_emd2_1d (empty weights: uniform); same data and tolerances
    u, v, w_u, w_v = pot_data(weights)
    a, b = (w_u, w_v) if weights else ([], [])
    M = ot.dist(u, v, metric="sqeuclidean")
    G, log = ot.emd(w_u, w_v, M, log=True)
    res = emd_1d(u[:, 0], v[:, 0], a, b, p=2)
    np.testing.assert_allclose(log["cost"], float(res.cost))
    euclidean = emd_1d(u[:, 0], v[:, 0], a, b, p=1)
    wass_sp = wasserstein_distance(u[:, 0], v[:, 0], *((w_u, w_v) if weights else ()))
    np.testing.assert_allclose(wass_sp, float(euclidean.cost))
    np.testing.assert_allclose(w_u, res.plan.sum(1).numpy())
    np.testing.assert_allclose(w_v, res.plan.sum(0).numpy())
    np.testing.assert_allclose(G, res.plan.numpy(), atol=1e-15)
    G_1d = ot.emd_1d(u, v, w_u, w_v, metric="sqeuclidean")
    np.testing.assert_allclose(G_1d, res.plan.numpy(), atol=1e-15)
    with pytest.raises(ValueError, match="p must be"):
        emd_1d(u[:, 0], v[:, 0], p=0.5)


def test_emd1d_dual_with_weights() -> None:
    # ported from POT test_1d_solver.py::test_emd1d_dual_with_weights, and our potentials
    # against ot.emd_1d_dual_backprop's (both in POT's center_ot_dual gauge)
    u, v, w_u, w_v = pot_data(True)
    M = ot.dist(u, v, metric="sqeuclidean")
    _, log = ot.emd(w_u, w_v, M, log=True)
    res = emd_1d(u[:, 0], v[:, 0], w_u, w_v, p=2)
    np.testing.assert_allclose(log["cost"], float(res.cost))
    np.testing.assert_allclose(
        log["cost"], float(res.phi @ torch.tensor(w_u) + res.psi @ torch.tensor(w_v))
    )
    f, g, _ = ot.emd_1d_dual_backprop(*(torch.tensor(x) for x in (u, v, w_u, w_v)), p=2)
    np.testing.assert_allclose(res.phi.numpy(), f[:, 0].numpy(), atol=1e-12)
    np.testing.assert_allclose(res.psi.numpy(), g[:, 0].numpy(), atol=1e-12)
    assert (res.phi[:, None] + res.psi[None, :] - torch.tensor(M)).max() < 1e-12


def test_emd1d_dual_backprop_batch() -> None:
    # ported from POT test_1d_solver.py::test_emd1d_dual_backprop_batch (their batch is the
    # trailing axis of (n, 2) samples, ours the leading axis)
    rng = np.random.RandomState(0)
    n = 20
    rho_u = np.abs(rng.randn(n))
    rho_u /= rho_u.sum()
    rho_v = np.abs(rng.randn(n))
    rho_v /= rho_v.sum()
    X = torch.tensor(np.stack((np.linspace(0, 5, n), np.linspace(0, 5, n) * 10), -1).T)
    res = emd_1d(X, X, torch.tensor(rho_u), torch.tensor(rho_v), p=2)
    cost_dual = (res.phi * torch.tensor(rho_u)).sum(-1) + (res.psi * torch.tensor(rho_v)).sum(-1)
    np.testing.assert_almost_equal(100 * float(res.cost[0]), float(res.cost[1]), decimal=4)
    np.testing.assert_allclose(cost_dual.numpy(), res.cost.numpy())


def test_wasserstein_1d_plan() -> None:
    # ported from POT test_1d_solver.py::test_wasserstein_1d_plan (dense and sparse plans)
    n, m = 10, 4
    rng = np.random.RandomState(0)
    x = rng.randn(n, 1)
    y = rng.randn(m, 1)
    a = rng.uniform(0, 1, n)
    a /= a.sum()
    b = rng.uniform(0, 1, m)
    b /= b.sum()
    plan_emd = ot.emd(a, b, ot.dist(x, y))
    res = emd_1d(x[:, 0], y[:, 0], a, b, p=2)
    np.testing.assert_allclose(res.plan.numpy(), plan_emd, atol=1e-05)
    sparse = emd_1d(x[:, 0], y[:, 0], a, b, p=2, dense=False).plan
    assert sparse.is_sparse and sparse._nnz() <= n + m - 1
    np.testing.assert_allclose(sparse.to_dense().numpy(), plan_emd, atol=1e-05)
    # and W_p of wasserstein_1d is the p-th root of the cost
    assert float(wasserstein_1d(x[:, 0], y[:, 0], p=2, a=a, b=b)) ** 2 == pytest.approx(
        float(res.cost), rel=1e-12
    )


@pytest.mark.parametrize("p", [1, 1.5, 2, 3])
def test_against_the_lp_with_ties_and_zero_weights(p: float) -> None:
    x = torch.tensor([0.0, 1.0, 1.0, 2.0, 3.0, 0.5], dtype=torch.float64)
    y = torch.tensor([0.0, 1.0, 2.0, 2.0, -1.0], dtype=torch.float64)
    a = torch.tensor([0.2, 0.2, 0.0, 0.2, 0.2, 0.2], dtype=torch.float64)
    b = torch.tensor([0.3, 0.1, 0.2, 0.0, 0.4], dtype=torch.float64)
    C = (x[:, None] - y[None, :]).abs() ** p
    res, lp = emd_1d(x, y, a, b, p=p), kantorovich(a, b, C)
    assert float(res.cost) == pytest.approx(float(lp.cost), abs=1e-14)
    assert torch.allclose(res.plan.sum(1), a, atol=1e-15)
    assert torch.allclose(res.plan.sum(0), b, atol=1e-15)
    assert (res.phi[:, None] + res.psi[None, :] - C).max() < 1e-14  # feasible, zero bins too
    assert float(res.phi @ a) == pytest.approx(float(res.cost) / 2, abs=1e-15)
    assert float(res.psi @ b) == pytest.approx(float(res.cost) / 2, abs=1e-15)


def test_batched_sparse_and_gradients() -> None:
    g = torch.Generator().manual_seed(0)
    X = torch.randn(3, 2, 7, dtype=torch.float64, generator=g, requires_grad=True)
    Y = torch.randn(2, 5, dtype=torch.float64, generator=g)
    a = torch.rand(7, dtype=torch.float64, generator=g) + 0.1
    a = (a / a.sum()).requires_grad_()
    dense, sparse = emd_1d(X, Y, a, p=1.5), emd_1d(X, Y, a, p=1.5, dense=False)
    assert dense.plan.shape == (3, 2, 7, 5) and dense.cost.shape == (3, 2)
    assert torch.equal(sparse.plan.to_dense(), dense.plan)
    for i in range(3):
        for j in range(2):
            C = (X[i, j, :, None] - Y[j, None, :]).detach().abs() ** 1.5
            exact = float(kantorovich(a.detach(), None, C).cost)
            assert float(dense.cost[i, j].detach()) == pytest.approx(exact, abs=1e-13)
    # The derivative of the cost in the weights is the potential (up to a constant).
    dense.cost[1, 0].backward()
    grad = a.grad - a.grad.mean()
    assert torch.allclose(grad, dense.phi[1, 0] - dense.phi[1, 0].mean(), atol=1e-12)
    assert X.grad is not None and torch.isfinite(X.grad).all()


def test_bad_inputs_name_the_argument() -> None:
    x = torch.zeros(3)
    with pytest.raises(ValueError, match="x must be a non-empty"):
        emd_1d(torch.zeros(0), x)
    with pytest.raises(ValueError, match="y has non-finite"):
        emd_1d(x, torch.tensor([0.0, float("nan")]))
    with pytest.raises(ValueError, match="a must have 3 weights"):
        emd_1d(x, x, a=[0.5, 0.5])
    with pytest.raises(ValueError, match="b must sum to 1"):
        emd_1d(x, x, b=[0.5, 0.5, 0.5])
    with pytest.raises(TypeError, match="dense"):
        emd_1d(x, x, dense="yes")

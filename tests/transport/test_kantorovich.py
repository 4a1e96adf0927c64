"""Exact OT by linear programming: marginals, strong duality, feasibility, complementary
slackness, agreement with POT, and input validation."""

import math

import numpy as np
import ot
import pytest
import torch

from reparam.transport import kantorovich


def problem(rng: np.random.Generator, n: int, m: int):
    a = rng.random(n) + 0.05
    b = rng.random(m) + 0.05
    return a / a.sum(), b / b.sum(), rng.random((n, m)) * 3


@pytest.mark.parametrize("seed", range(6))
def test_primal_dual_optimality(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, m = (int(k) for k in rng.integers(3, 31, 2))
    a, b, C = problem(rng, n, m)
    res = kantorovich(torch.tensor(a), torch.tensor(b), torch.tensor(C))
    plan, phi, psi = res.plan.numpy(), res.phi.numpy(), res.psi.numpy()
    assert plan.shape == (n, m) and res.plan.dtype == torch.float64
    assert np.abs(plan.sum(1) - a).max() < 1e-9
    assert np.abs(plan.sum(0) - b).max() < 1e-9
    assert plan.min() >= 0
    assert float(res.cost) == pytest.approx((plan * C).sum(), abs=1e-12)
    assert abs(phi @ a + psi @ b - float(res.cost)) < 1e-8  # strong duality
    slack = C - phi[:, None] - psi[None, :]
    assert slack.min() >= -1e-9  # dual feasibility
    assert np.abs(slack[plan > 1e-12]).max() < 1e-8  # complementary slackness


@pytest.mark.parametrize("seed", range(4))
def test_agrees_with_pot(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    n, m = (int(k) for k in rng.integers(3, 31, 2))
    a, b, C = problem(rng, n, m)
    res = kantorovich(a, b, C)
    assert float(res.cost) == pytest.approx(ot.emd2(a, b, C), abs=1e-8)
    _, log = ot.emd(a, b, C, log=True)
    # Potentials are not unique; their dual objective values must agree.
    pot_dual = log["u"] @ a + log["v"] @ b
    ours_dual = res.phi.numpy() @ a + res.psi.numpy() @ b
    assert ours_dual == pytest.approx(pot_dual, abs=1e-8)


def test_identity_cost_and_lists() -> None:
    res = kantorovich([0.5, 0.5], [0.5, 0.5], [[0.0, 1.0], [1.0, 0.0]])
    assert torch.allclose(res.plan, torch.eye(2, dtype=torch.float64) / 2)
    assert float(res.cost) == 0.0


@pytest.mark.parametrize(
    ("a", "b", "C", "match"),
    [
        ([1.2, -0.2], [0.5, 0.5], np.ones((2, 2)), "negative"),
        ([0.5, 0.6], [0.5, 0.5], np.ones((2, 2)), "sum to 1"),
        ([0.5, 0.5], [0.5, 0.5, 0.0], np.ones((2, 2)), "shape"),
        ([0.5, 0.5], [0.5, 0.5], np.ones((2, 3)), "shape"),
        ([0.5, 0.5], [0.5, 0.5], np.array([[0.0, np.inf], [1.0, 0.0]]), "non-finite"),
        ([0.5, 0.5], [0.5, 0.5], np.array([[0.0, np.nan], [1.0, 0.0]]), "non-finite"),
        ([], [1.0], np.ones((0, 1)), "non-empty"),
        ([[0.5, 0.5]], [0.5, 0.5], np.ones((2, 2)), "1-D"),
        ([0.5, np.nan], [0.5, 0.5], np.ones((2, 2)), "a has non-finite"),
        ([0.5, 0.5], [np.inf, 0.5], np.ones((2, 2)), "b has non-finite"),
        (["x", "y"], [0.5, 0.5], np.ones((2, 2)), "a must be a tensor or an array of numbers"),
    ],
)
def test_bad_inputs(a, b, C, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        kantorovich(a, b, C)


# POT's own test cases (PythonOT/POT test/test_ot.py): Gaussian histograms on many bins, whose
# masses go down to 1e-300 and to exact zeros, far below HiGHS's default absolute tolerance.
def gauss_bins(n: int, mean: float, std: float) -> np.ndarray:
    h = np.exp(-((np.arange(n, dtype=np.float64) - mean) ** 2) / (2 * std**2))
    return h / h.sum()


def check_exact(res, a: np.ndarray, b: np.ndarray, C: np.ndarray, exact: float) -> None:
    """Cost exact to 1e-9 relative, strong duality to 1e-9 relative, dual feasibility to
    1e-9 · max|C|, exact marginals."""
    plan, phi, psi, cost = res.plan.numpy(), res.phi.numpy(), res.psi.numpy(), float(res.cost)
    assert cost == pytest.approx(exact, rel=1e-9)
    assert phi @ a + psi @ b == pytest.approx(cost, rel=1e-9)
    assert (phi[:, None] + psi[None, :] - C).max() <= 1e-9 * np.abs(C).max()
    assert np.abs(plan.sum(1) - a).sum() < 1e-9 and np.abs(plan.sum(0) - b).sum() < 1e-9
    assert plan.min() >= 0


def test_pot_dual_variables() -> None:
    """POT's test_dual_variables: 500 vs 600 bins, N(300, 5²) against N(400, 10²), cost
    |i − j|: W1 = |300 − 400| (both Gaussians are symmetric about their means), POT's
    tolerances (7 decimals, constraint violation < 1e-8). HiGHS called this infeasible."""
    a, b = gauss_bins(500, 300, 5), gauss_bins(600, 400, 10)
    C = np.abs(np.arange(500.0)[:, None] - np.arange(600.0)[None, :])
    res = kantorovich(a, b, C)
    check_exact(res, a, b, C, 100.0)
    assert float(res.cost) == pytest.approx(ot.emd2(a, b, C), abs=1e-7)
    assert (res.phi.numpy()[:, None] + res.psi.numpy()[None, :] - C).max() < 1e-8
    # Symmetry (POT: emd(b, a, Cᵀ)), on a coarser copy to keep the test short.
    a2, b2 = gauss_bins(120, 60, 3), gauss_bins(150, 90, 6)
    C2 = np.abs(np.arange(120.0)[:, None] - np.arange(150.0)[None, :])
    forward, backward = kantorovich(a2, b2, C2), kantorovich(b2, a2, C2.T)
    assert float(forward.cost) == pytest.approx(float(backward.cost), rel=1e-12)
    assert float(forward.cost) == pytest.approx(30.0, rel=1e-9)


@pytest.mark.parametrize("mean", [20, 480])
def test_pot_emd2_multi(mean: int) -> None:
    """POT's test_emd2_multi (two of its 24 targets): 500 bins, N(20, 5²) against
    N(mean, 10²), squared cost, against ot.emd2 and with POT's duality-gap check."""
    x = np.arange(500.0)
    a, b = gauss_bins(500, 20, 5), gauss_bins(500, mean, 10)
    C = (x[:, None] - x[None, :]) ** 2
    res = kantorovich(a, b, C)
    check_exact(res, a, b, C, ot.emd2(a, b, C))
    plan, phi, psi = res.plan.numpy(), res.phi.numpy(), res.psi.numpy()
    support = plan > 0  # POT's check: zero reduced cost on the transport arcs
    np.testing.assert_array_almost_equal((C - phi[:, None] - psi[None, :])[support], 0.0)


@pytest.mark.parametrize(
    ("m1", "s1", "m2", "s2"), [(3, 1, 8, 1), (4, 0.5, 9.1, 0.7), (2, 1.5, 12, 0.4)]
)
def test_small_bins_exact_against_the_closed_form(m1, s1, m2, s2) -> None:
    """17 bins, cost |i − j|: W1 = Σ_k |F_a(k) − F_b(k)| exactly. The LP as given to HiGHS
    returned 5.09977191 for 5.09977197 (1e-8 relative, HiGHS's 1e-7 absolute tolerance)."""
    a, b = gauss_bins(17, m1, s1), gauss_bins(17, m2, s2)
    C = np.abs(np.arange(17.0)[:, None] - np.arange(17.0)[None, :])
    exact = math.fsum(abs(math.fsum(a[: k + 1]) - math.fsum(b[: k + 1])) for k in range(16))
    check_exact(kantorovich(a, b, C), a, b, C, exact)


def test_zero_mass_bins_get_feasible_potentials() -> None:
    a = np.array([0.5, 0.0, 0.5, 0.0])
    b = np.array([0.0, 0.25, 0.75])
    C = np.array([[0.0, 1.0, 2.0], [1.0, 0.0, 1.0], [2.0, 1.0, 0.0], [5.0, -3.0, 4.0]])
    res = kantorovich(a, b, C)
    check_exact(res, a, b, C, ot.emd2(a, b, C))
    assert torch.isfinite(res.phi).all() and torch.isfinite(res.psi).all()
    assert res.plan[1].abs().max() == 0 and res.plan[:, 0].abs().max() == 0


def test_scales_and_one_point_supports() -> None:
    rng = np.random.default_rng(7)
    a, b, C = problem(rng, 9, 6)
    base = float(kantorovich(a, b, C).cost)
    for scale in (1e-30, 1e30):
        res = kantorovich(a, b, C * scale)
        assert float(res.cost) == pytest.approx(base * scale, rel=1e-9)
        check_exact(res, a, b, C * scale, base * scale)
    one = kantorovich([1.0], b, C[:1])
    assert float(one.cost) == pytest.approx(float(C[0] @ b), rel=1e-12)
    assert torch.allclose(one.plan[0], torch.tensor(b))


def test_float32_weights_follow_their_dtype() -> None:
    """Weights normalised in float32 sum to 1 only within float32 rounding; they are checked
    against 4 n ε_32 and renormalised in float64, so the LP is feasible."""
    g = torch.Generator().manual_seed(0)
    a = torch.rand(50, generator=g)
    a /= a.sum()
    b = torch.rand(40, generator=g)
    b /= b.sum()
    assert abs(float(a.double().sum()) - 1) > 1e-9 or abs(float(b.double().sum()) - 1) > 1e-9
    C = torch.rand(50, 40, generator=g, dtype=torch.float64)
    res = kantorovich(a, b, C)
    a64, b64 = a.double() / a.double().sum(), b.double() / b.double().sum()
    assert float(res.cost) == pytest.approx(ot.emd2(a64.numpy(), b64.numpy(), C.numpy()), rel=1e-9)
    assert torch.allclose(res.plan.sum(1), a64, atol=1e-12)
    with pytest.raises(ValueError, match=r"a must sum to 1 .*within 1\.0e-09 for torch\.float64"):
        kantorovich(a.double(), b, C)
    with pytest.raises(ValueError, match=r"a must sum to 1 .*within 2.4e-05 for torch.float32"):
        kantorovich(a * 1.01, b, C)

"""Exact OT by linear programming: marginals, strong duality, feasibility, complementary
slackness, agreement with POT, and input validation."""

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
        ([0.5, np.nan], [0.5, 0.5], np.ones((2, 2)), "non-finite"),
    ],
)
def test_bad_inputs(a, b, C, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        kantorovich(a, b, C)

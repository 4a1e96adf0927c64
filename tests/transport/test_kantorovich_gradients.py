"""kantorovich's cost carries its gradients (the plan for C, the centred potentials for a and
b): against POT's ``ot.emd2`` on torch tensors, against central differences, and POT's
test_ot.py cases for empty weights."""

import numpy as np
import ot
import pytest
import torch

from reparam.transport import kantorovich


def leaves(*arrays: np.ndarray) -> list[torch.Tensor]:
    return [torch.tensor(x, requires_grad=True) for x in arrays]


def test_emd2_gradients() -> None:
    # ported from POT test_ot.py::test_emd2_gradients (same data; shapes, the duals, and
    # the scaling of the gradient, bug #309)
    n_samples = 100
    rng = np.random.RandomState(0)
    x = rng.randn(n_samples, 2)
    y = rng.randn(n_samples, 2)
    a = ot.utils.unif(n_samples)
    M = ot.dist(x, y)

    a1, b1, M1 = leaves(a, a, M)
    res = kantorovich(a1, b1, M1)
    res.cost.backward()
    assert a1.shape == a1.grad.shape and b1.shape == b1.grad.shape and M1.shape == M1.grad.shape
    assert np.allclose(a1.grad.numpy(), (res.phi - res.phi.mean()).numpy())
    assert np.allclose(b1.grad.numpy(), (res.psi - res.psi.mean()).numpy())

    a2, b2, M2 = leaves(a, a, M)
    (10.0 * kantorovich(a2, b2, M2).cost).backward()
    assert np.allclose(10.0 * a1.grad.numpy(), a2.grad.numpy())
    assert np.allclose(10.0 * b1.grad.numpy(), b2.grad.numpy())
    assert np.allclose(10.0 * M1.grad.numpy(), M2.grad.numpy())

    # dcost/dC is the plan, the same assignment as POT's (unique on these points). The
    # potentials of this assignment problem are not unique (its LP is degenerate), so the
    # gradients in a and b are compared with POT's on the nondegenerate case below.
    a3, b3, M3 = leaves(a, a, M)
    ot.emd2(a3, b3, M3).backward()
    assert torch.allclose(M1.grad, M3.grad, atol=1e-15)


@pytest.mark.parametrize("seed", range(2))
def test_gradients_match_pot_emd2(seed: int) -> None:
    rng = np.random.RandomState(seed)
    a, b = rng.rand(30), rng.rand(40)
    a, b = a / a.sum(), b / b.sum()
    M = ot.dist(rng.randn(30, 2), rng.randn(40, 2))
    ours, theirs = leaves(a, b, M), leaves(a, b, M)
    cost = kantorovich(*ours).cost
    value = ot.emd2(*theirs)
    torch.autograd.backward([cost, value])
    assert float(cost.detach()) == pytest.approx(float(value.detach()), rel=1e-12)
    for mine, pot in zip(ours, theirs, strict=True):
        # Random weights: a nondegenerate LP, whose potentials are unique up to a constant.
        assert torch.allclose(mine.grad, pot.grad, atol=1e-10, rtol=0)


def test_gradients_match_central_differences() -> None:
    rng = np.random.default_rng(3)
    n, m = 6, 5
    a, b = rng.random(n) + 0.1, rng.random(m) + 0.1
    a, b = a / a.sum(), b / b.sum()
    C = rng.random((n, m))
    at, bt, Ct = leaves(a, b, C)
    kantorovich(at, bt, Ct).cost.backward()

    def cost(a_: np.ndarray, b_: np.ndarray, C_: np.ndarray) -> float:
        return float(kantorovich(a_, b_, C_).cost)

    h = 1e-7  # the cost is piecewise linear: central differences are exact off the kinks
    E = np.zeros_like(C)
    for i, j in [(0, 0), (2, 3), (5, 4), (1, 2)]:
        E[:] = 0
        E[i, j] = h
        fd = (cost(a, b, C + E) - cost(a, b, C - E)) / (2 * h)
        assert fd == pytest.approx(float(Ct.grad[i, j]), abs=1e-6)
    # Along directions that keep the masses at 1, the derivative is ⟨grad, d⟩.
    for _ in range(3):
        da, db = rng.standard_normal(n), rng.standard_normal(m)
        da, db = da - da.mean(), db - db.mean()
        fd = (cost(a + h * da, b + h * db, C) - cost(a - h * da, b - h * db, C)) / (2 * h)
        exact = float(at.grad @ torch.tensor(da) + bt.grad @ torch.tensor(db))
        assert fd == pytest.approx(exact, abs=1e-6)
    assert abs(float(at.grad.sum())) < 1e-12 and abs(float(bt.grad.sum())) < 1e-12


def test_gradient_dtype_device_and_no_grad() -> None:
    C = torch.rand(4, 3, requires_grad=True)  # float32: the gradient comes back in float32
    res = kantorovich(None, None, C)
    res.cost.backward()
    assert C.grad.dtype == torch.float32 and torch.allclose(C.grad.double(), res.plan)
    with torch.no_grad():
        assert not kantorovich(None, None, C).cost.requires_grad
    assert not kantorovich([0.5, 0.5], [1.0], [[0.0], [1.0]]).cost.requires_grad


def test_emd_empty() -> None:
    # ported from POT test_ot.py::test_emd_empty: [] means uniform, the identity plan
    n = 100
    rng = np.random.RandomState(0)
    x = rng.randn(n, 2)
    u = ot.utils.unif(n)
    M = ot.dist(x, x)
    res = kantorovich([], [], M)
    np.testing.assert_allclose(res.plan.numpy(), np.eye(n) / n)
    np.testing.assert_allclose(u, res.plan.sum(1).numpy())
    np.testing.assert_allclose(u, res.plan.sum(0).numpy())
    np.testing.assert_allclose(float(res.cost), 0)
    assert torch.equal(kantorovich(None, None, M).plan, res.plan)

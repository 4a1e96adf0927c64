"""sinkhorn's warm starts, empty weights (POT's test_bregman.py cases) and the kernel form of
its iterations against the log-domain form."""

import warnings

import numpy as np
import ot
import pytest
import torch

from reparam import ConvergenceWarning
from reparam.transport import sinkhorn, sinkhorn_divergence
from reparam.transport import sinkhorn_solver as solver
from reparam.transport.sinkhorn_steps import kernel_limit


def pot_problem(n: int = 100) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.RandomState(0)
    x = rng.randn(n, 2)
    return ot.utils.unif(n), ot.dist(x, x)


def test_sinkhorn_empty() -> None:
    # ported from POT test_bregman.py::test_sinkhorn_empty (and ::test_sinkhorn): [] means
    # uniform; the marginals at atol 1e-5
    u, M = pot_problem()
    for a in ([], None):
        res = sinkhorn(a, a, M, 1, tol=1e-10)
        np.testing.assert_allclose(u, res.plan.sum(1).numpy(), atol=1e-05)
        np.testing.assert_allclose(u, res.plan.sum(0).numpy(), atol=1e-05)
    with pytest.warns(ConvergenceWarning):  # test_sinkhorn: one iteration does not converge
        sinkhorn(u, u, M, 1, max_iter=1, eps_scaling=None)


def test_sinkhorn_warmstart() -> None:
    # ported from POT test_bregman.py::test_sinkhorn_warmstart: a warm start from the exact
    # LP's potentials reaches the plan of a cold start (atol 1e-5)
    m, n = 10, 20
    a, b = ot.unif(m), ot.unif(n)
    M = ot.dist((np.arange(m) * 1.0).reshape(-1, 1), (np.arange(n) * 1.0).reshape(-1, 1))
    _, log = ot.lp.emd(a, b, M, log=True)
    reg = 1
    cold = sinkhorn(a, b, M, reg)
    warm = sinkhorn(a, b, M, reg, warmstart=(log["u"], log["v"]))
    pot = ot.sinkhorn(a, b, M, reg, method="sinkhorn_log", warmstart=(log["u"], log["v"]))
    np.testing.assert_allclose(cold.plan.numpy(), warm.plan.numpy(), atol=1e-05)
    np.testing.assert_allclose(cold.plan.numpy(), pot, atol=1e-05)


def test_converged_warm_start_takes_one_iteration() -> None:
    rng = np.random.default_rng(0)
    C = torch.tensor(rng.random((2, 20, 15)))
    for eps in (0.1, 1e-3):  # the kernel form; ε-scaling and the log domain
        cold = sinkhorn(None, None, C, eps)
        assert cold.converged
        warm = sinkhorn(None, None, C, eps, warmstart=(cold.f, cold.g))
        assert warm.iterations == 1 and warm.converged
        torch.testing.assert_close(warm.cost, cold.cost, rtol=1e-9, atol=0)
    # POT's log-domain potentials are ours shifted by log a, log b.
    a, M = pot_problem(30)
    _, log = ot.sinkhorn(a, a, M, 1.0, method="sinkhorn_log", stopThr=1e-13, log=True)
    f = 1.0 * (log["log_u"] - np.log(a))
    res = sinkhorn(a, a, M, 1.0, warmstart=(f, 1.0 * (log["log_v"] - np.log(a))))
    assert res.iterations == 1


def test_kernel_form_matches_the_log_domain(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(1)
    x, y = torch.tensor(rng.random((2, 25, 2))), torch.tensor(rng.random((2, 20, 2)))
    C = torch.cdist(x, y) ** 2
    kernel = sinkhorn(None, None, C, 0.05, tol=1e-12)
    grads = []
    for forced in (False, True):
        if forced:
            monkeypatch.setattr(solver, "kernel_limit", lambda dtype: 0.0)
        xs = x.clone().requires_grad_()
        sinkhorn_divergence(xs, y, 0.05).sum().backward()
        grads.append(xs.grad)
    log_domain = sinkhorn(None, None, C, 0.05, tol=1e-12)
    assert kernel.iterations == log_domain.iterations
    torch.testing.assert_close(kernel.cost, log_domain.cost, rtol=1e-12, atol=0)
    torch.testing.assert_close(kernel.plan, log_domain.plan, rtol=1e-10, atol=1e-15)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-9, atol=1e-12)


def test_kernel_limit_keeps_sums_normal() -> None:
    assert kernel_limit(torch.float64) == pytest.approx(236.13, abs=0.01)
    assert kernel_limit(torch.float32) == pytest.approx(29.11, abs=0.01)
    # At the limit the smallest kernel entry is tiny^(1/3), far from underflow.
    a = torch.full((2,), 0.5, dtype=torch.float32)
    C = torch.tensor([[0.0, 29.0], [29.0, 0.0]], dtype=torch.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        res = sinkhorn(a, a, C, 1.0)
    assert torch.isfinite(res.plan).all() and res.converged


def test_bad_warm_starts_name_the_argument() -> None:
    a = torch.full((4,), 0.25, dtype=torch.float64)
    C = torch.rand(4, 3, dtype=torch.float64)
    b = torch.full((3,), 1 / 3, dtype=torch.float64)
    with pytest.raises(ValueError, match="warmstart must be a pair"):
        sinkhorn(a, b, C, 0.1, warmstart=a)
    with pytest.raises(ValueError, match=r"warmstart g must have shape \[\.\.\., 3\]"):
        sinkhorn(a, b, C, 0.1, warmstart=(a, a))
    with pytest.raises(ValueError, match="warmstart f has non-finite"):
        sinkhorn(a, b, C, 0.1, warmstart=(a * np.nan, b))
    with pytest.raises(ValueError, match="warmstart f has batch shape"):
        sinkhorn(a, b, C, 0.1, warmstart=(a.expand(2, 4), b))

"""sinkhorn_unbalanced against POT's ot.unbalanced.sinkhorn_unbalanced(2) on the cases of POT's
test/unbalanced/test_sinkhorn.py (reg = 1, reg_m = 1, random 2-D points), its fixed-point
equations, warm starts, relaxation pairs, batches, the warning and bad inputs."""

import warnings

import numpy as np
import ot
import pytest
import torch

from reparam import ConvergenceWarning
from reparam.transport import sinkhorn_unbalanced

POT_OPTIONS = {"stopThr": 1e-14, "numItermax": 100_000}  # POT run to its fixed point


def points(n: int, seed: int = 42, unbalanced: bool = True) -> tuple[np.ndarray, ...]:
    rng = np.random.RandomState(seed)
    x = rng.randn(n, 2)
    a = ot.utils.unif(n)
    b = ot.utils.unif(n) * (1.5 if unbalanced else 1.0)
    return a, b, ot.dist(x, x)


@pytest.mark.parametrize("n", [5, 20, 100])
def test_unbalanced_convergence(n: int) -> None:
    # ported from POT test_sinkhorn.py::test_unbalanced_convergence (method "sinkhorn",
    # reg_type "kl"; its n = 100, and 5, 20): the fixed-point equations in the log domain at
    # atol 1e-5, and plan and cost against POT's at rtol 1e-5
    a, b, M = points(n)
    epsilon, reg_m = 1.0, 1.0
    res = sinkhorn_unbalanced(a, b, M, epsilon, reg_m)
    assert res.converged
    logu, logv = res.f / epsilon, res.g / epsilon
    fi = reg_m / (reg_m + epsilon)
    loga, logb = np.log(a + 1e-16), np.log(b + 1e-16)
    Mt, log_ab = torch.tensor(M), torch.tensor(loga[:, None] + logb[None, :])
    logKtu = torch.logsumexp(logu[None, :] - Mt.T / epsilon + log_ab.T, 1)
    logKv = torch.logsumexp(logv[None, :] - Mt / epsilon + log_ab, 1)
    np.testing.assert_allclose(fi * (loga - logKv.numpy()), logu.numpy(), atol=1e-05)
    np.testing.assert_allclose(fi * (logb - logKtu.numpy()), logv.numpy(), atol=1e-05)
    np.testing.assert_allclose(float((res.plan * Mt).sum()), float(res.cost), atol=1e-5)

    G, log = ot.unbalanced.sinkhorn_unbalanced(a, b, M, epsilon, reg_m, log=True, **POT_OPTIONS)
    loss = ot.unbalanced.sinkhorn_unbalanced2(a, b, M, epsilon, reg_m, **POT_OPTIONS)
    np.testing.assert_allclose(res.plan.numpy(), G, rtol=1e-5, atol=0)
    np.testing.assert_allclose(float(res.cost), float(loss), rtol=1e-5)
    np.testing.assert_allclose(logu.numpy(), log["logu"], atol=1e-8)
    # POT's "total" leaves the mass terms out of its three KL divergences.
    total = ot.unbalanced.sinkhorn_unbalanced2(
        a, b, M, epsilon, reg_m, returnCost="total", **POT_OPTIONS
    )
    P = res.plan.numpy()
    masses = epsilon * (a.sum() * b.sum() - P.sum()) + reg_m * (a.sum() + b.sum() - 2 * P.sum())
    np.testing.assert_allclose(float(res.objective), float(total) + masses, rtol=1e-8)


def test_unbalanced_marginals_empty_weights() -> None:
    # ported from POT test_sinkhorn.py::test_unbalanced_marginals: [] means uniform
    a, b, M = points(100, unbalanced=False)
    res0 = sinkhorn_unbalanced(a, b, M, 1.0, 1.0)
    res = sinkhorn_unbalanced([], [], M, 1.0, 1.0)
    np.testing.assert_allclose(res.f.numpy(), res0.f.numpy(), atol=1e-05)
    np.testing.assert_allclose(res.g.numpy(), res0.g.numpy(), atol=1e-05)
    np.testing.assert_allclose(res.plan.numpy(), res0.plan.numpy(), atol=1e-05)
    np.testing.assert_allclose(float(res.cost), float(res0.cost), atol=1e-5)


def test_unbalanced_warmstart() -> None:
    # ported from POT test_sinkhorn.py::test_unbalanced_warmstart: zero potentials, and the
    # exact LP's potentials, as warm starts reach the same solution; a converged warm start
    # stops after one iteration
    a, b, M = points(100, unbalanced=False)
    res0 = sinkhorn_unbalanced(a, b, M, 1.0, 1.0)
    res = sinkhorn_unbalanced(a, b, M, 1.0, 1.0, warmstart=(np.zeros(100), np.zeros(100)))
    _, log_emd = ot.lp.emd(a, b, M, log=True)
    res1 = sinkhorn_unbalanced(a, b, M, 1.0, 1.0, warmstart=(log_emd["u"], log_emd["v"]))
    for other in (res, res1):
        np.testing.assert_allclose(other.f.numpy(), res0.f.numpy(), atol=1e-05)
        np.testing.assert_allclose(other.g.numpy(), res0.g.numpy(), atol=1e-05)
        np.testing.assert_allclose(other.plan.numpy(), res0.plan.numpy(), atol=1e-05)
        np.testing.assert_allclose(float(other.cost), float(res0.cost), atol=1e-5)
    assert res.iterations == res0.iterations  # zeros: POT's start
    assert sinkhorn_unbalanced(a, b, M, 1.0, 1.0, warmstart=(res0.f, res0.g)).iterations == 1


@pytest.mark.parametrize("reg_m", [(1.0, float("inf")), (float("inf"), 1.0), (2.0, 0.5)])
def test_unbalanced_relaxation_parameters_pair(reg_m: tuple[float, float]) -> None:
    # after POT test_sinkhorn.py::test_unbalanced_relaxation_parameters_pair (RandomState(50),
    # b = rng.rand(n)); against POT's plan at rtol 1e-5
    rng = np.random.RandomState(50)
    n = 30
    x = rng.randn(n, 2)
    a, b, M = ot.utils.unif(n), rng.rand(n), ot.dist(x, x)
    res = sinkhorn_unbalanced(a, b, M, 1.0, reg_m)
    G = ot.unbalanced.sinkhorn_unbalanced(a, b, M, 1.0, reg_m, **POT_OPTIONS)
    np.testing.assert_allclose(res.plan.numpy(), G, rtol=1e-5, atol=1e-12)
    assert torch.equal(res.plan, sinkhorn_unbalanced(a, b, M, 1.0, list(reg_m)).plan)
    if reg_m[0] == float("inf"):  # the exact side
        np.testing.assert_allclose(res.plan.sum(1).numpy(), a, atol=1e-8)


def test_unbalanced_multiple_inputs_batched() -> None:
    # after POT test_sinkhorn.py::test_unbalanced_multiple_inputs (b: two histograms) and
    # test_stabilized_vs_sinkhorn (two Gaussian histograms, M / median): a batch of problems
    n = 100
    a = ot.datasets.make_1D_gauss(n, m=20, s=5)
    b = np.stack([ot.datasets.make_1D_gauss(n, m=60, s=8), ot.datasets.make_1D_gauss(n, m=30, s=4)])
    M = ot.utils.dist0(n)
    M /= np.median(M)
    res = sinkhorn_unbalanced(a, b, M, 1.0, 1.0)
    assert res.plan.shape == (2, n, n) and res.cost.shape == (2,)
    for k in range(2):
        G = ot.unbalanced.sinkhorn_unbalanced(a, b[k], M, 1.0, 1.0, **POT_OPTIONS)
        loss = ot.unbalanced.sinkhorn_unbalanced2(a, b[k], M, 1.0, 1.0, **POT_OPTIONS)
        np.testing.assert_allclose(res.plan[k].numpy(), G, atol=1e-5 * G.max())
        np.testing.assert_allclose(float(res.cost[k]), float(loss), rtol=1e-5)


def test_small_eps_log_domain_and_gradients() -> None:
    # (max C − min C)/ε = 294, beyond the kernel form's 236: the log-domain sums, against
    # POT's kernel-space iterations (e^-294 does not underflow in float64)
    rng = np.random.RandomState(0)
    x, y = rng.rand(15, 2), rng.rand(12, 2)
    C = torch.tensor(ot.dist(x, y), requires_grad=True)
    res = sinkhorn_unbalanced(None, None, C, 5e-3, 0.1, tol=1e-10)
    G = ot.unbalanced.sinkhorn_unbalanced(
        ot.unif(15), ot.unif(12), C.detach().numpy(), 5e-3, 0.1, **POT_OPTIONS
    )
    assert res.converged
    np.testing.assert_allclose(res.plan.detach().numpy(), G, rtol=1e-5, atol=1e-12 * G.max())
    res.cost.backward()
    assert torch.isfinite(C.grad).all()


def test_warns_when_it_stops_early_and_not_otherwise() -> None:
    a, b, M = points(10)
    with pytest.warns(ConvergenceWarning, match="sinkhorn_unbalanced did not converge"):
        res = sinkhorn_unbalanced(a, b, M, 1.0, 1.0, max_iter=2)
    assert not res.converged and res.iterations == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        assert sinkhorn_unbalanced(a, b, M, 1.0, 1.0).converged


def test_bad_inputs_name_the_argument() -> None:
    a, b, M = points(4)
    with pytest.raises(ValueError, match="reg_m"):
        sinkhorn_unbalanced(a, b, M, 1.0, -1.0)
    with pytest.raises(ValueError, match="reg_m"):
        sinkhorn_unbalanced(a, b, M, 1.0, (1.0, 2.0, 3.0))
    with pytest.raises(ValueError, match="eps"):
        sinkhorn_unbalanced(a, b, M, 0.0, 1.0)
    with pytest.raises(ValueError, match="b has negative"):
        sinkhorn_unbalanced(a, -b, M, 1.0, 1.0)
    with pytest.raises(ValueError, match="a must have shape"):
        sinkhorn_unbalanced(a[:3], b, M, 1.0, 1.0)
    with pytest.raises(ValueError, match="a must have positive mass"):
        sinkhorn_unbalanced(0 * a, b, M, 1.0, 1.0)
    with pytest.raises(ValueError, match="C has non-finite"):
        sinkhorn_unbalanced(a, b, M * np.nan, 1.0, 1.0)
    with pytest.raises(ValueError, match="warmstart g"):
        sinkhorn_unbalanced(a, b, M, 1.0, 1.0, warmstart=(a, b[:2]))
    with pytest.raises(TypeError, match="max_iter"):
        sinkhorn_unbalanced(a, b, M, 1.0, 1.0, max_iter=2.5)

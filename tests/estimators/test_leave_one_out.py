"""VIMCO's leave-one-out bounds in O(k) memory, against the k × k formula, brute force in
long double and TensorFlow Probability's tests (tfp.stats.log_soomean_exp, tfp.vi.csiszar_vimco)."""

import math

import numpy as np
import pytest
import torch
from torch.distributions import Independent, MultivariateNormal, Normal

from reparam.estimators import VIMCO
from reparam.estimators.bounds import leave_one_out_bounds
from reparam.estimators.logweights import log_sum_exp_but_one, mean_but_one
from reparam.objectives import iwae

INF = math.inf


def k_by_k(log_w: torch.Tensor) -> torch.Tensor:
    """The formula before: k copies of the log-weights, each with its own entry replaced."""
    k = log_w.shape[0]
    replaced = log_w.unsqueeze(0).repeat(k, *[1] * log_w.dim())
    index = torch.arange(k)
    replaced[index, index] = (log_w.sum(0, keepdim=True) - log_w) / (k - 1)
    return torch.logsumexp(replaced, 1) - math.log(k)


def brute_force(log_w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(log-mean-exp, the swap-one-out bounds) along axis 0 by plain sums in long double,
    as TFP's test does: log((Σ_{j≠i} u_j + exp(mean_{j≠i} log u_j)) / k)."""
    log_u = np.asarray(log_w, dtype=np.longdouble)
    k = log_u.shape[0]
    others = ~np.eye(k, dtype=bool).reshape(k, k, *[1] * (log_u.ndim - 1))
    with np.errstate(divide="ignore"):
        geometric = np.exp(np.where(others, log_u[None], 0).sum(1) / (k - 1))
        loo_sum = np.where(others, np.exp(log_u)[None], 0).sum(1)
        return np.log(np.exp(log_u).mean(0)), np.log(loo_sum + geometric) - np.log(k)


def plain_log_sum_exp(values: list[float]) -> float:
    """log Σ exp(values), shifted by their largest; -inf for no weight."""
    top = max(values)
    if top == -INF:
        return -INF
    return top + math.log(math.fsum(math.exp(v - top) for v in values))


def test_the_o_k_bounds_equal_the_k_by_k_formula_to_a_few_ulps_in_float64() -> None:
    for k in (2, 3, 10, 50):
        for scale in (1e-3, 1.0, 100.0, 1e3):
            log_w = torch.randn(k, 32, dtype=torch.float64) * scale
            torch.testing.assert_close(
                leave_one_out_bounds(log_w), k_by_k(log_w), rtol=16 * 2**-52, atol=16 * 2**-52
            )


@pytest.mark.parametrize(
    "log_w",
    [
        [0.3, -1.2, 0.7, 2.0],
        [0.0, 0.0, 0.0],  # ties with the largest
        [0.0, 40.0, -3.0],  # the largest dominates the sum: its leave-one-out sum is the others'
        [-INF, 0.5, -1.0, 2.0],  # one sample of zero weight
        [-INF, -INF, 1.5],  # every other sample of zero weight
        [-INF, 2.0],
        [-1e4, -1e4 + 1.0, -1e4 - 2.0],
    ],
)
def test_against_brute_force_with_zero_weights(log_w: list[float]) -> None:
    log_w64 = torch.tensor(log_w, dtype=torch.float64)
    _, expected = brute_force(np.array(log_w))
    torch.testing.assert_close(
        leave_one_out_bounds(log_w64),
        torch.tensor(expected.astype(np.float64)),
        rtol=1e-14,
        atol=1e-15,
    )
    sums = [plain_log_sum_exp(log_w[:i] + log_w[i + 1 :]) for i in range(len(log_w))]
    torch.testing.assert_close(
        log_sum_exp_but_one(log_w64), torch.tensor(sums, dtype=torch.float64), rtol=1e-14, atol=0
    )


def test_zero_weight_rows_and_the_geometric_means() -> None:
    log_w = torch.tensor([[-INF, 1.0], [-INF, 3.0], [-INF, -INF]])
    torch.testing.assert_close(leave_one_out_bounds(log_w)[:, 0], torch.full((3,), -INF))
    torch.testing.assert_close(mean_but_one(log_w)[:, 1], torch.tensor([-INF, -INF, 2.0]))


# TFP's LogSooMeanTest (tensorflow_probability/python/stats/leave_one_out_test.py), its data
# and tolerances: a batch, overflow and underflow.
@pytest.mark.parametrize(
    ("log_x", "rtol_mean", "rtol_soo", "atol_soo"),
    [
        (np.linspace(-100.0, 100.0, 100).reshape([10, 2, 5]), 1e-8, 1e-7, 0.0),
        (np.float32([0.0, 700, -1, 1]), 1e-6, 1e-5, 0.0),
        (np.float32([0.0, -1000, -1, 1]), 1e-5, 1e-4, 1e-15),
    ],
)
def test_tfp_log_soomean_exp(log_x: np.ndarray, rtol_mean: float, rtol_soo: float, atol_soo: float):
    expected_mean, expected_soo = brute_force(log_x)
    log_w = torch.from_numpy(np.array(log_x))
    mean = torch.logsumexp(log_w, 0) - math.log(log_w.shape[0])
    np.testing.assert_allclose(mean.numpy(), expected_mean.astype(np.float64), rtol=rtol_mean)
    np.testing.assert_allclose(
        leave_one_out_bounds(log_w).numpy(),
        expected_soo.astype(np.float64),
        rtol=rtol_soo,
        atol=atol_soo,
    )


def test_tfp_log_loosum_vs_loomean() -> None:
    """TFP's LogLooMeanTest.test_sum_vs_mean: the leave-one-out sums of [0, -1000, -1, 1]."""
    log_x = torch.tensor([0.0, -1000, -1, 1])
    sums = log_sum_exp_but_one(log_x)
    expected = [math.log(math.exp(-1) + math.exp(1)), math.log(1 + math.exp(-1) + math.e)]
    expected += [math.log(1 + math.e), math.log(1 + math.exp(-1))]
    torch.testing.assert_close(sums, torch.tensor(expected), rtol=1e-5, atol=0)


def tridiag(d: int, diag: float, off: float) -> torch.Tensor:
    """d × d with ``diag`` on the diagonal and ``off`` on the first super- and sub-diagonal."""
    return torch.eye(d) * diag + off * (
        torch.diag(torch.ones(d - 1), 1) + torch.diag(torch.ones(d - 1), -1)
    )


@pytest.mark.parametrize(
    ("dtype", "rtol", "atol"), [(torch.float32, 0.03, 1e-3), (torch.float64, 1e-9, 1e-9)]
)
def test_tfp_vimco_value_and_gradient(dtype: torch.dtype, rtol: float, atol: float) -> None:
    """TFP's CsiszarVIMCOTest.test_vimco_and_gradient: 1000 draws of q = N(0, s² I₅) for a
    batch of 3, p = N(0, tridiag(1, 0.5)), f = −log u (the reverse KL); the loss and its
    gradient in s against the naive long-double VIMCO (TFP's tolerances in float32)."""
    dims, draws, batch = 5, 1000, 3
    p = MultivariateNormal(torch.zeros(dims, dtype=dtype), tridiag(dims, 1.0, 0.5).to(dtype))
    s = torch.tensor(1.0, dtype=dtype, requires_grad=True)
    q = Independent(Normal(torch.zeros(batch, dims, dtype=dtype), s), 1)
    torch.manual_seed(1)
    loss = -iwae(p.log_prob, q, draws, VIMCO()).mean()
    (grad,) = torch.autograd.grad(loss, s)

    torch.manual_seed(1)
    x = q.sample((draws,))
    log_u = p.log_prob(x) - q.log_prob(x)
    log_avg_u, log_sooavg_u = brute_force(log_u.detach().double().numpy())
    np.testing.assert_allclose(float(loss.detach()), float(-log_avg_u.mean()), rtol=1e-4, atol=1e-5)
    grad_f_log_avg_u = torch.autograd.grad(
        -(torch.logsumexp(log_u, 0) - math.log(draws)).mean(), s
    )[0]
    jacobian_log_q = -dims / s.detach() + (x**2).sum(-1) / s.detach() ** 3  # ∂ log q(x_i) / ∂s
    signals = -(log_avg_u - log_sooavg_u).astype(np.float64)  # f(log_avg_u) − f(log_sooavg_u)
    expected = float(grad_f_log_avg_u) + float(
        (jacobian_log_q.double() * torch.from_numpy(signals)).sum(0).mean()
    )
    np.testing.assert_allclose(float(grad), expected, rtol=rtol, atol=atol)


def test_tfp_vimco_with_joint_q_at_k_3e5_in_o_k_memory() -> None:
    """TFP's CsiszarVIMCOTest.test_vimco_with_joint_q: p(z, x) = N(z; 0, 1) N(x; z, 1) and the
    factored q = N(0, 1) × N(0, 2) in either order, k = 3·10⁵ draws (a k × k matrix would be
    360 GB). Both orders give the same reverse KL (atol 0.02, TFP's), and it is 0 to 0.02: p is
    normalized, so L_k → log 1."""

    def p_log_prob(v: torch.Tensor) -> torch.Tensor:
        z, x = v[..., 0], v[..., 1]
        return Normal(0.0, 1.0).log_prob(z) + Normal(z, 1.0).log_prob(x)

    scale = torch.tensor([1.0, math.sqrt(2.0)], requires_grad=True)
    sequential = iwae(p_log_prob, Independent(Normal(torch.zeros(2), scale), 1), 300_000, "vimco")
    named = iwae(
        lambda v: p_log_prob(v.flip(-1)),
        Independent(Normal(torch.zeros(2), scale.flip(0)), 1),
        300_000,
        "vimco",
    )
    reverse_kl = -torch.stack([sequential, named])
    torch.testing.assert_close(reverse_kl[0], reverse_kl[1], atol=0.02, rtol=0)
    assert reverse_kl.abs().max() < 0.02
    (grad,) = torch.autograd.grad(reverse_kl.sum(), scale)
    assert torch.isfinite(grad).all()

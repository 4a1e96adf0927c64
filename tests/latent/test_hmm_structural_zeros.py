"""Structural zeros of an HMM (π, A or emissions of probability 0): the log-likelihood and its
gradient against brute-force enumeration of every state path and against finite differences,
in float32 and float64; sequences no path explains; both fits keep the zeros."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from reparam.latent import HMM, backward, forward, posteriors, viterbi

F64 = torch.float64
INF = math.inf

# A left-right chain: it starts in state 0 and never goes back.
PI = [1.0, 0.0, 0.0]
A = [[0.6, 0.4, 0.0], [0.0, 0.7, 0.3], [0.0, 0.0, 1.0]]


def inputs(dtype, forbid_emission: bool = True, seed: int = 0):
    """log π, log A and log b [2, 4, 3] with structural zeros, as leaves."""
    gen = torch.Generator().manual_seed(seed)
    log_pi = torch.tensor(PI, dtype=F64).log()
    log_A = torch.tensor(A, dtype=F64).log()
    log_b = torch.randn(2, 4, 3, generator=gen, dtype=F64).log_softmax(-1)
    if forbid_emission:
        log_b[0, 2, 1] = -INF  # state 1 cannot emit sequence 0's third symbol
    return [v.to(dtype).requires_grad_() for v in (log_pi, log_A, log_b)]


def brute_force(log_pi, log_A, log_b):
    """log p(x) of each sequence as a logsumexp over all K^T paths (autograd-differentiable:
    a path of probability 0 has weight exactly 0)."""
    T, K = log_b.shape[1:]
    paths = torch.tensor(list(itertools.product(range(K), repeat=T)))  # [K^T, T]
    joint = log_pi[paths[:, 0]] + log_b[:, torch.arange(T), paths].sum(-1)  # [B, K^T]
    joint = joint + log_A[paths[:, :-1], paths[:, 1:]].sum(-1)
    return torch.logsumexp(joint, -1)


@pytest.mark.parametrize("dtype", [torch.float32, F64])
@pytest.mark.parametrize("forbid_emission", [False, True])
def test_log_likelihood_and_gradient_match_brute_force(dtype, forbid_emission):
    tol = {"atol": 1e-5, "rtol": 1e-5} if dtype == torch.float32 else {"atol": 1e-12, "rtol": 0}
    ours = inputs(dtype, forbid_emission)
    exact = inputs(dtype, forbid_emission)
    _, ll = forward(*ours)
    ll_exact = brute_force(*exact)
    torch.testing.assert_close(ll, ll_exact, **tol)
    ll.sum().backward()
    ll_exact.sum().backward()
    for got, want in zip(ours, exact, strict=True):
        assert torch.isfinite(got.grad).all()
        torch.testing.assert_close(got.grad, want.grad, **tol)
    log_pi, log_A, log_b = ours
    # zero where the parameter cannot matter: the unreachable starts, the backward moves
    assert (log_pi.grad[1:] == 0).all() and (log_A.grad[torch.tensor(A) == 0] == 0).all()
    assert (log_b.grad[:, 0, 1:] == 0).all()  # at t = 0 only state 0 is possible


def test_gradient_matches_finite_differences():
    leaves = inputs(F64)
    forward(*leaves)[1].sum().backward()
    h = 1e-6
    for leaf in leaves:
        value = leaf.detach()
        for index in torch.isfinite(value).nonzero().tolist():
            up, down = (value.clone() for _ in range(2))
            up[tuple(index)] += h
            down[tuple(index)] -= h
            args = [v.detach() for v in leaves]
            slot = next(i for i, v in enumerate(leaves) if v is leaf)
            args[slot] = up
            f_up = forward(*args)[1].sum()
            args[slot] = down
            f_down = forward(*args)[1].sum()
            numeric = (f_up - f_down).item() / (2 * h)
            assert leaf.grad[tuple(index)].item() == pytest.approx(numeric, abs=1e-7)


@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_posteriors_and_viterbi_with_structural_zeros(dtype):
    log_pi, log_A, log_b = (v.detach() for v in inputs(dtype))
    gamma, xi, ll = posteriors(log_pi, log_A, log_b)
    for value in (gamma, xi, ll):
        assert torch.isfinite(value).all()
    assert (gamma[:, 0, 1:] == 0).all() and (gamma[0, 2, 1] == 0).all()
    assert (xi[:, torch.tensor(A) == 0] == 0).all()
    torch.testing.assert_close(gamma.sum(-1), torch.ones(2, 4, dtype=dtype))
    path, score = viterbi(log_pi, log_A, log_b)
    assert (path[:, 0] == 0).all() and (path[:, 1:] >= path[:, :-1]).all()  # left to right
    assert torch.isfinite(score).all()
    beta = backward(log_pi, log_A, log_b)
    assert not beta.isnan().any()


@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_a_sequence_no_path_explains(dtype):
    """Both sequences end in a state the chain cannot reach by then (state 2 needs two steps):
    log p = −∞, γ = ξ = 0, Viterbi path −1, and a zero gradient, not NaN."""
    log_pi, log_A, _ = inputs(dtype)
    log_b = torch.zeros(2, 4, 3, dtype=dtype)
    log_b[0, 1, :2] = -INF  # sequence 0: at t = 1 only state 2 could emit, unreachable there
    log_b[1, :, :] = -INF  # sequence 1: nothing can emit its first symbol
    log_b.requires_grad_()
    _, ll = forward(log_pi, log_A, log_b)
    assert ll.tolist() == [-INF, -INF]
    ll.sum().backward()
    for leaf in (log_pi, log_A, log_b):
        assert (leaf.grad == 0).all()
    gamma, xi, ll = posteriors(log_pi.detach(), log_A.detach(), log_b.detach())
    assert (gamma == 0).all() and (xi == 0).all() and (ll == -INF).all()
    path, score = viterbi(log_pi.detach(), log_A.detach(), log_b.detach())
    assert (path == -1).all() and (score == -INF).all()


def left_right(emission: str = "categorical") -> HMM:
    hmm = HMM(3, emission, n_symbols=2, dim=1, dtype=F64, seed=0)
    hmm.set_params(pi=PI, A=A)
    if emission == "categorical":
        hmm.set_params(emissionprob=[[0.9, 0.1], [0.5, 0.5], [0.1, 0.9]])
    else:
        hmm.set_params(means=[[-2.0], [0.0], [2.0]], variances=[[1.0], [1.0], [1.0]])
    return hmm


@pytest.mark.parametrize("emission", ["categorical", "gaussian"])
def test_fit_gradient_keeps_structural_zeros_finite(emission):
    hmm = left_right(emission)
    _, x = hmm.sample(12, n=5, seed=1)
    losses = hmm.fit_gradient(x, steps=15)
    assert all(math.isfinite(v) for v in losses) and losses[-1] < losses[0]
    assert not any(p.isnan().any() for p in hmm.parameters())
    assert (hmm.log_pi.exp()[1:] == 0).all()
    assert (hmm.log_A.exp()[torch.tensor(A) == 0] == 0).all()
    hmm.zero_grad()
    hmm.log_likelihood(x).sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in hmm.parameters())


def test_baum_welch_keeps_structural_zeros():
    hmm = left_right()
    _, x = hmm.sample(12, n=5, seed=2)
    hmm.fit(x, n_iter=50, tol=1e-6)
    assert hmm.converged_
    assert (hmm.log_pi.exp()[1:] == 0).all()
    assert (hmm.log_A.exp()[torch.tensor(A) == 0] == 0).all()
    assert all(not p.isnan().any() for p in hmm.parameters())


def test_fit_on_data_the_model_rules_out_raises():
    hmm = HMM(2, "categorical", n_symbols=2, dtype=F64)
    hmm.set_params(pi=[1.0, 0.0], A=[[1.0, 0.0], [0.0, 1.0]], emissionprob=[[1.0, 0.0], [0, 1]])
    x = torch.tensor([[0, 0], [0, 1]])  # sequence 1 needs state 1, which is never entered
    with pytest.raises(ValueError, match=r"x has zero probability .*sequence 1"):
        hmm.fit(x)
    with pytest.raises(ValueError, match=r"x has zero probability .*sequence 1"):
        hmm.fit_gradient(x, steps=2)

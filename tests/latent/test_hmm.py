"""Hidden Markov model: forward–backward, Viterbi and Baum–Welch against a brute-force sum over
all state paths, against hmmlearn, and on edge cases."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from reparam import ConvergenceWarning
from reparam.latent.hmm import HMM, backward, forward, posteriors, viterbi

F64 = torch.float64


def random_hmm(K: int, emission: str, seed: int, M: int = 4, D: int = 2) -> HMM:
    gen = torch.Generator().manual_seed(seed)
    hmm = HMM(K, emission, n_symbols=M, dim=D, dtype=F64)
    pi = torch.rand(K, generator=gen, dtype=F64) + 0.1
    A = torch.rand(K, K, generator=gen, dtype=F64) + 0.1
    kwargs = {}
    if emission == "categorical":
        B = torch.rand(K, M, generator=gen, dtype=F64) + 0.1
        kwargs["emissionprob"] = B / B.sum(1, keepdim=True)
    else:
        kwargs["means"] = 2 * torch.randn(K, D, generator=gen, dtype=F64)
        kwargs["variances"] = torch.rand(K, D, generator=gen, dtype=F64) + 0.3
    return hmm.set_params(pi=pi / pi.sum(), A=A / A.sum(1, keepdim=True), **kwargs)


def brute_force(log_pi, log_A, log_b):
    """Enumerate all K^T paths of one sequence (log_b [T, K])."""
    T, K = log_b.shape
    K = log_pi.shape[0]
    joint = {}
    for z in itertools.product(range(K), repeat=T):
        lp = log_pi[z[0]] + log_b[0, z[0]]
        for t in range(1, T):
            lp = lp + log_A[z[t - 1], z[t]] + log_b[t, z[t]]
        joint[z] = lp
    values = torch.stack(list(joint.values()))
    ll = torch.logsumexp(values, 0)
    gamma = torch.zeros(T, K, dtype=F64)
    xi = torch.zeros(K, K, dtype=F64)
    for z, lp in joint.items():
        w = torch.exp(lp - ll)
        for t in range(T):
            gamma[t, z[t]] += w
        for t in range(1, T):
            xi[z[t - 1], z[t]] += w
    best = max(joint, key=lambda z: joint[z].item())
    return ll, gamma, xi, torch.tensor(best), joint[best]


def data(hmm: HMM, B: int, T: int, seed: int):
    return hmm.sample(T, n=B, seed=seed)[1]


# --------------------------------------------------------------------------- brute force


@pytest.mark.parametrize("emission", ["categorical", "gaussian"])
@pytest.mark.parametrize(("K", "T"), [(1, 3), (2, 1), (2, 6), (3, 5)])
def test_matches_brute_force(emission, K, T):
    hmm = random_hmm(K, emission, seed=10 * K + T)
    x = data(hmm, 3, T, seed=T)
    log_b, _ = hmm._log_b(x, None)
    gamma, xi, ll = hmm.posteriors(x)
    path, score = hmm.viterbi(x)
    for n in range(3):
        ll0, gamma0, xi0, path0, score0 = brute_force(hmm.log_pi, hmm.log_A, log_b[n].detach())
        torch.testing.assert_close(ll[n], ll0, atol=1e-10, rtol=1e-10)
        torch.testing.assert_close(gamma[n], gamma0, atol=1e-10, rtol=1e-10)
        torch.testing.assert_close(xi[n], xi0, atol=1e-10, rtol=1e-10)
        torch.testing.assert_close(path[n], path0)
        torch.testing.assert_close(score[n], score0, atol=1e-10, rtol=1e-10)
    alpha, ll_f = forward(hmm.log_pi, hmm.log_A, log_b)
    beta = backward(hmm.log_pi, hmm.log_A, log_b)
    torch.testing.assert_close(ll_f, ll)
    torch.testing.assert_close(torch.logsumexp(alpha + beta, -1), ll[:, None].expand(-1, T))


# --------------------------------------------------------------------------- masks


@pytest.mark.parametrize("emission", ["categorical", "gaussian"])
def test_unequal_lengths_match_single_sequences(emission):
    hmm = random_hmm(3, emission, seed=1)
    lengths = torch.tensor([7, 1, 4, 7, 2])
    x = data(hmm, 5, 7, seed=2)
    x = x.clone()
    for n, L in enumerate(lengths.tolist()):  # garbage in the padding
        x[n, L:] = 99 if emission == "categorical" else math.nan
    gamma, xi, ll = hmm.posteriors(x, lengths)
    path, score = hmm.viterbi(x, lengths)
    for n, L in enumerate(lengths.tolist()):
        g1, xi1, ll1 = hmm.posteriors(x[n : n + 1, :L])
        p1, s1 = hmm.viterbi(x[n : n + 1, :L])
        torch.testing.assert_close(ll[n], ll1[0])
        torch.testing.assert_close(gamma[n, :L], g1[0])
        assert (gamma[n, L:] == 0).all()
        torch.testing.assert_close(xi[n], xi1[0])
        torch.testing.assert_close(path[n, :L], p1[0])
        assert (path[n, L:] == -1).all()
        torch.testing.assert_close(score[n], s1[0])
    # gradients are finite and ignore the padding
    hmm.zero_grad()
    hmm.log_likelihood(x, lengths).sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in hmm.parameters())


# --------------------------------------------------------------------------- hmmlearn


def _hmmlearn(hmm: HMM, **kw):
    from hmmlearn import hmm as hl

    K = hmm.n_states
    common = dict(n_components=K, init_params="", n_iter=1, tol=-np.inf, **kw)
    if hmm.emission == "categorical":
        model = hl.CategoricalHMM(n_features=hmm.n_symbols, **common)
        model.emissionprob_ = hmm.log_emission.exp().detach().numpy()
    else:
        model = hl.GaussianHMM(
            covariance_type="diag", min_covar=0.0, covars_prior=0.0, covars_weight=1, **common
        )
        model.means_ = hmm.means.detach().numpy()
        model.covars_ = hmm.variances.detach().numpy()
    model.startprob_ = hmm.log_pi.exp().detach().numpy()
    model.transmat_ = hmm.log_A.exp().detach().numpy()
    return model


def _concat(x, lengths):
    parts = [x[n, :L].numpy() for n, L in enumerate(lengths.tolist())]
    X = np.concatenate(parts)
    return X.reshape(-1, 1) if X.ndim == 1 else X


@pytest.mark.parametrize("emission", ["categorical", "gaussian"])
def test_matches_hmmlearn(emission):
    pytest.importorskip("hmmlearn")
    hmm = random_hmm(3, emission, seed=5)
    lengths = torch.tensor([30, 12, 25])
    x = data(hmm, 3, 30, seed=6)
    X = _concat(x, lengths)
    model = _hmmlearn(hmm)
    gamma, _, ll = hmm.posteriors(x, lengths)
    path, score = hmm.viterbi(x, lengths)
    assert ll.sum().item() == pytest.approx(model.score(X, lengths.tolist()), abs=1e-6)
    mask = path >= 0
    np.testing.assert_allclose(
        gamma[mask].numpy(), model.predict_proba(X, lengths.tolist()), atol=1e-6
    )
    hl_score, hl_path = model.decode(X, lengths.tolist(), algorithm="viterbi")
    np.testing.assert_array_equal(path[mask].numpy(), hl_path)
    assert score.sum().item() == pytest.approx(hl_score, abs=1e-6)
    # one Baum–Welch step from the same start
    model.fit(X, lengths.tolist())
    with pytest.warns(ConvergenceWarning, match="n_iter=1"):
        hmm.fit(x, lengths, n_iter=1)
    assert hmm.n_iter_ == model.monitor_.iter == 1 and not hmm.converged_
    assert hmm.lower_bound_ == pytest.approx(model.monitor_.history[-1], abs=1e-6)
    np.testing.assert_allclose(hmm.log_pi.exp().detach().numpy(), model.startprob_, atol=1e-6)
    np.testing.assert_allclose(hmm.log_A.exp().detach().numpy(), model.transmat_, atol=1e-6)
    if emission == "categorical":
        got, want = hmm.log_emission.exp(), model.emissionprob_
        np.testing.assert_allclose(got.detach().numpy(), want, atol=1e-6)
    else:
        np.testing.assert_allclose(hmm.means.detach().numpy(), model.means_, atol=1e-6)
        np.testing.assert_allclose(hmm.variances.detach().numpy(), model._covars_, atol=1e-6)


# --------------------------------------------------------------------------- identities


def test_gradient_wrt_log_A_is_expected_transition_counts():
    hmm = random_hmm(3, "gaussian", seed=7)
    lengths = torch.tensor([9, 4, 6])
    x = data(hmm, 3, 9, seed=8)
    log_b, _ = hmm._log_b(x, lengths)
    log_b = log_b.detach()
    log_A = (hmm.log_A.detach() + 0.3 * torch.randn(3, 3, dtype=F64)).requires_grad_()  # free
    log_pi = hmm.log_pi.detach().requires_grad_()
    _, ll = forward(log_pi, log_A, log_b, lengths)
    ll.sum().backward()
    gamma, xi, ll2 = posteriors(log_pi.detach(), log_A.detach(), log_b, lengths)
    torch.testing.assert_close(log_A.grad, xi.sum(0))
    torch.testing.assert_close(log_pi.grad, gamma[:, 0].sum(0))
    torch.testing.assert_close(ll.detach(), ll2)


@pytest.mark.parametrize("emission", ["categorical", "gaussian"])
def test_baum_welch_never_decreases(emission):
    truth = random_hmm(3, emission, seed=11)
    x = data(truth, 8, 40, seed=12)
    lengths = torch.tensor([40, 35, 20, 40, 5, 40, 33, 1])
    hmm = HMM(3, emission, n_symbols=4, dim=2, dtype=F64, seed=13)
    hmm.fit(x, lengths, n_iter=30, tol=-math.inf)
    h = torch.tensor(hmm.history_)
    assert len(h) == 30
    assert (h[1:] - h[:-1] >= -1e-8 * h.abs()[1:]).all()
    assert h[-1] > h[0]
    assert all(torch.isfinite(p).all() for p in hmm.parameters())
    final = hmm.log_likelihood(x, lengths).sum().item()
    assert final >= h[-1] - 1e-8 * abs(h[-1])


def test_unvisited_state_keeps_its_row():
    hmm = HMM(2, "categorical", n_symbols=2, dtype=F64)
    hmm.set_params(pi=[1.0, 0.0], A=[[1.0, 0.0], [0.3, 0.7]], emissionprob=[[0.6, 0.4], [0.2, 0.8]])
    hmm.fit(torch.tensor([[0, 1, 1, 0]]), n_iter=3)
    torch.testing.assert_close(hmm.log_A.exp()[1], torch.tensor([0.3, 0.7], dtype=F64))
    torch.testing.assert_close(hmm.log_emission.exp()[1], torch.tensor([0.2, 0.8], dtype=F64))
    assert all(not torch.isnan(p).any() for p in hmm.parameters())


def test_variance_floor():
    hmm = HMM(2, "gaussian", dim=1, dtype=F64, variance_floor=1e-3, seed=0)
    hmm.set_params(means=[[0.0], [5.0]], variances=[[1.0], [1.0]])
    x = torch.zeros(2, 10, 1, dtype=F64)
    x[1] = 5.0
    hmm.fit(x, n_iter=5)
    assert (hmm.variances >= 1e-3 * (1 - 1e-12)).all()
    assert torch.isfinite(hmm.means).all() and torch.isfinite(hmm.log_variances).all()
    assert not torch.isnan(hmm.log_A).any() and not torch.isnan(hmm.log_pi).any()


def test_fit_gradient_improves_likelihood():
    truth = random_hmm(2, "categorical", seed=3)
    x = data(truth, 6, 30, seed=4)
    for make in (
        lambda p: torch.optim.Adam(p, lr=0.05),
        lambda p: torch.optim.LBFGS(p, max_iter=5),
    ):
        hmm = HMM(2, "categorical", n_symbols=4, dtype=F64, seed=5)
        before = hmm.log_likelihood(x).mean().item()
        losses = hmm.fit_gradient(x, optimizer=make, steps=20)
        after = hmm.log_likelihood(x).mean().item()
        assert after > before and losses[-1] < losses[0]
    gauss = HMM(2, "gaussian", dim=2, dtype=F64, seed=6)
    losses = gauss.fit_gradient(data(random_hmm(2, "gaussian", 1), 4, 20, 2), steps=10)
    assert losses[-1] < losses[0]


def test_sample_shapes():
    states, obs = random_hmm(3, "gaussian", seed=0).sample(7, n=2, seed=0)
    assert states.shape == (2, 7) and obs.shape == (2, 7, 2)
    states, obs = random_hmm(3, "categorical", seed=0).sample(7, n=2, seed=0)
    assert obs.shape == (2, 7) and obs.dtype == torch.long


# --------------------------------------------------------------------------- extremes


def test_extreme_inputs_no_nan():
    K, T = 3, 6
    log_pi = torch.log(torch.tensor([0.2, 0.3, 0.5], dtype=F64))
    log_A = torch.log(torch.tensor([[0.8, 0.1, 0.1], [0.2, 0.6, 0.2], [0.3, 0.3, 0.4]], dtype=F64))
    for dtype in (torch.float32, F64):
        log_b = torch.full((2, T, K), -1e4, dtype=dtype)
        log_b[0, :, 1] = 0.0  # one state explains everything, the others are ~impossible
        gamma, xi, ll = posteriors(log_pi.to(dtype), log_A.to(dtype), log_b, [T, 3])
        path, score = viterbi(log_pi.to(dtype), log_A.to(dtype), log_b, [T, 3])
        for v in (gamma, xi, ll, score):
            assert torch.isfinite(v).all()
        assert (path[0] == 1).all()
        torch.testing.assert_close(gamma[:, :3].sum(-1), torch.ones(2, 3, dtype=dtype))
        assert ll[1].item() == pytest.approx(-3e4, rel=1e-4)
    # one state, T = 1
    one = HMM(1, "gaussian", dim=2, dtype=F64).set_params(means=[[0.0, 1.0]], variances=[[1, 1]])
    x = torch.tensor([[[0.0, 1.0]]], dtype=F64)
    gamma, xi, ll = one.posteriors(x)
    assert gamma.item() == 1.0 and xi.item() == 0.0
    assert ll.item() == pytest.approx(-math.log(2 * math.pi))
    assert one.viterbi(x)[0].tolist() == [[0]]
    one.fit(x, n_iter=3)
    assert all(torch.isfinite(p).all() for p in one.parameters())
    # T = 1 with several states
    hmm = random_hmm(3, "categorical", seed=0)
    gamma, xi, ll = hmm.posteriors(torch.tensor([[2]]))
    assert torch.isfinite(gamma).all() and (xi == 0).all()


# --------------------------------------------------------------------------- bad inputs


def test_bad_parameters_raise():
    hmm = HMM(2, "categorical", n_symbols=3, dtype=F64)
    with pytest.raises(ValueError, match="sum to one"):
        hmm.set_params(A=[[0.5, 0.4], [0.5, 0.5]])
    with pytest.raises(ValueError, match="non-negative"):
        hmm.set_params(A=[[1.5, -0.5], [0.5, 0.5]])
    with pytest.raises(ValueError, match="sum to one"):
        hmm.set_params(pi=[0.5, 0.6])
    with pytest.raises(ValueError, match="shape"):
        hmm.set_params(A=[[1.0]])
    with pytest.raises(ValueError, match="shape"):
        hmm.set_params(emissionprob=[[0.5, 0.5], [0.5, 0.5]])
    with pytest.raises(ValueError, match="gaussian"):
        hmm.set_params(means=[[0.0], [1.0]])
    gauss = HMM(2, "gaussian", dim=1, dtype=F64)
    with pytest.raises(ValueError, match="positive"):
        gauss.set_params(variances=[[1.0], [0.0]])
    with pytest.raises(ValueError):
        HMM(2, "poisson")
    with pytest.raises(ValueError):
        HMM(2, "gaussian", dim=2, covariance="banana")
    with pytest.raises(ValueError):
        HMM(2, "categorical")


def test_bad_inputs_raise():
    hmm = random_hmm(2, "categorical", seed=0)
    x = torch.tensor([[0, 1, 2], [1, 1, 0]])
    with pytest.raises(ValueError, match="lengths"):
        hmm.log_likelihood(x, lengths=[3, -1])
    with pytest.raises(ValueError, match="lengths"):
        hmm.log_likelihood(x, lengths=[3, 4])
    with pytest.raises(ValueError, match="lengths"):
        hmm.log_likelihood(x, lengths=[3])
    with pytest.raises(ValueError, match="symbols"):
        hmm.log_likelihood(torch.tensor([[0, 7]]))
    with pytest.raises(ValueError, match="shape"):
        hmm.log_likelihood(torch.zeros(2, 3, 4, dtype=torch.long))
    lp, la = hmm.log_pi.detach(), hmm.log_A.detach()
    with pytest.raises(ValueError, match="log_A"):
        forward(lp, la[:1], torch.zeros(1, 3, 2))
    with pytest.raises(ValueError, match="log_pi"):
        posteriors(lp[:1], la, torch.zeros(1, 3, 2))
    with pytest.raises(ValueError, match="log_b"):
        viterbi(lp, la, torch.zeros(3, 2))
    with pytest.raises(ValueError, match="lengths"):
        backward(lp, la, torch.zeros(2, 3, 2), lengths=torch.tensor([1.0, 2.0]))
    gauss = random_hmm(2, "gaussian", seed=0)
    with pytest.raises(ValueError, match="features"):
        gauss.log_likelihood(torch.zeros(1, 3, 5))

"""The fast paths of the HMM recursions: the scaled (probability-domain) posteriors against the
log-domain ones, the underflow test that sends a sequence back to the log domain, the
gradients (which always take the log domain), and the batch-last Viterbi recursion with its
deferred check of the emissions."""

from __future__ import annotations

import math

import pytest
import torch

from reparam.latent import forward, posteriors, viterbi
from reparam.latent.forward_backward import _log_posteriors, lengths_mask
from reparam.latent.scaled import scaled_posteriors

F64 = torch.float64
INF = math.inf


def model(B=6, T=12, K=4, seed=0, zeros=False, spread=1.0):
    """log π, log A, log b [B, T, K] in float64; with ``zeros``, structural zeros in all
    three (a left-right start, forbidden moves and forbidden emissions)."""
    gen = torch.Generator().manual_seed(seed)
    log_pi = torch.randn(K, generator=gen, dtype=F64).log_softmax(0)
    log_A = torch.randn(K, K, generator=gen, dtype=F64).log_softmax(1)
    log_b = (spread * torch.randn(B, T, K, generator=gen, dtype=F64)).log_softmax(-1)
    if zeros:
        log_pi[1:] = -INF
        log_A = log_A.masked_fill(torch.rand(K, K, generator=gen) < 0.3, -INF)
        log_A[:, 0] = 0.0  # every state can move to state 0
        log_b = log_b.masked_fill(torch.rand(B, T, K, generator=gen) < 0.2, -INF)
    return log_pi, log_A, log_b


@pytest.mark.parametrize("zeros", [False, True])
@pytest.mark.parametrize("unequal", [False, True])
def test_scaled_posteriors_equal_the_log_domain(zeros, unequal):
    log_pi, log_A, log_b = model(zeros=zeros)
    lengths = torch.tensor([12, 5, 1, 12, 9, 3]) if unequal else None
    mask = lengths_mask(lengths, 6, 12)
    log_b = log_b.masked_fill(~mask[..., None], 0.0)
    gamma, xi, ll, exact = scaled_posteriors(log_pi, log_A, log_b, mask)
    want = _log_posteriors(log_pi, log_A, log_b, mask)
    feasible = want[2] > -INF
    assert torch.equal(exact, feasible)  # impossible sequences go to the log domain
    assert exact.any()
    for got, expected in zip((gamma, xi, ll), want, strict=True):
        torch.testing.assert_close(got[exact], expected[exact], rtol=0, atol=1e-12)
    # structural zeros stay exact zeros
    assert (gamma[exact][want[0][exact] == 0] == 0).all()
    assert (xi[exact][:, torch.isneginf(log_A)] == 0).all()


def test_posteriors_merge_both_paths():
    """Impossible sequences and sequences the underflow test rejects are recomputed in the
    log domain inside ``posteriors``; the rest keep the scaled values."""
    log_pi, log_A, log_b = model(zeros=True, seed=3)
    gamma, xi, ll = posteriors(log_pi, log_A, log_b)
    want = _log_posteriors(log_pi, log_A, log_b, lengths_mask(None, 6, 12))
    assert (ll == -INF).any() and (ll > -INF).any()
    for got, expected in zip((gamma, xi, ll), want, strict=True):
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)


def test_float32_scaled_posteriors_against_float64():
    log_pi, log_A, log_b = model(B=4, T=50, K=3, seed=1)
    want = posteriors(log_pi, log_A, log_b)
    got = posteriors(log_pi.float(), log_A.float(), log_b.float())
    exact = scaled_posteriors(
        *(v.float() for v in (log_pi, log_A, log_b)), torch.ones(4, 50).bool()
    )[3]
    assert exact.all()
    for g, w, tol in zip(got, want, (1e-5, 1e-4, 1e-4), strict=True):
        torch.testing.assert_close(g.double(), w, rtol=tol, atol=tol)


def test_underflow_falls_back_to_the_log_domain():
    """State 1 starts with probability 1e-200, never moves, and is unlikely (e^-100) at the
    first four steps, so its filtered probability underflows float64 at the third step; the
    last two steps favour it by e^700 each, so that it explains the sequence after all.
    Unchecked, scaled α̂ calls it impossible and gets log p ≈ -1400 instead of ≈ -860.5: the
    underflow test rejects the sequence and ``posteriors`` takes the log domain."""
    log_pi = torch.tensor([1 - 1e-200, 1e-200], dtype=F64).log()
    log_A = torch.eye(2, dtype=F64).log()
    log_b = torch.tensor([[0.0, -100.0]] * 4 + [[-700.0, 0.0]] * 2, dtype=F64)[None]
    mask = torch.ones(1, 6, dtype=torch.bool)
    _, _, unchecked, exact = scaled_posteriors(log_pi, log_A, log_b, mask)
    assert unchecked.item() < -1399 and not exact.any()
    gamma, xi, ll = posteriors(log_pi, log_A, log_b)
    assert ll.item() == pytest.approx(math.log(1e-200) - 400, rel=1e-12)
    assert gamma[0, :, 1].min() > 1 - 1e-12  # state 1 throughout
    want = _log_posteriors(log_pi, log_A, log_b, mask)
    for got, expected in zip((gamma, xi, ll), want, strict=True):
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)


def test_emissions_spread_beyond_the_dtype_skip_the_recursions():
    log_pi, log_A, log_b = model(B=3, T=8, K=3, spread=1000.0)
    assert not scaled_posteriors(log_pi, log_A, log_b, torch.ones(3, 8).bool())[3].any()
    want = _log_posteriors(log_pi, log_A, log_b, torch.ones(3, 8).bool())
    for got, expected in zip(posteriors(log_pi, log_A, log_b), want, strict=True):
        torch.testing.assert_close(got, expected, rtol=0, atol=0)


def test_gradients_take_the_log_domain():
    """forward's log-likelihood passes gradcheck (float64), and posteriors' log-likelihood,
    which takes the log domain when autograd records, has the same gradient."""
    log_pi, log_A, log_b = (v.requires_grad_() for v in model(B=2, T=4, K=3))
    torch.autograd.gradcheck(lambda p, a, b: forward(p, a, b)[1], (log_pi, log_A, log_b))
    (grad_forward,) = torch.autograd.grad(forward(log_pi, log_A, log_b)[1].sum(), log_A)
    (grad_posteriors,) = torch.autograd.grad(posteriors(log_pi, log_A, log_b)[2].sum(), log_A)
    torch.testing.assert_close(grad_posteriors, grad_forward, rtol=0, atol=1e-12)
    # the identity behind fit_gradient: d log p / d log A = Σ_t ξ_t
    with torch.no_grad():
        xi = posteriors(log_pi, log_A, log_b)[1].sum(0)
    torch.testing.assert_close(grad_forward, xi, rtol=0, atol=1e-12)


def test_viterbi_ties_take_the_first_state_and_lengths_carry():
    K = 3
    zeros = torch.zeros(2, 5, K, dtype=F64)
    path, score = viterbi(torch.zeros(K, dtype=F64), torch.zeros(K, K, dtype=F64), zeros, [5, 2])
    assert path.tolist() == [[0] * 5, [0, 0, -1, -1, -1]] and score.tolist() == [0.0, 0.0]
    log_pi, log_A, log_b = model(B=3, T=7, K=K, zeros=True, seed=2)
    batch = viterbi(log_pi, log_A, log_b, [7, 4, 2])
    for n, length in enumerate([7, 4, 2]):
        alone = viterbi(log_pi, log_A, log_b[n : n + 1, :length])
        assert batch[0][n, :length].tolist() == alone[0][0].tolist()
        assert batch[1][n] == alone[1][0]


@pytest.mark.parametrize("bad", [math.nan, INF])
def test_viterbi_checks_the_emissions_it_used(bad):
    log_pi, log_A, log_b = model(B=2, T=5, K=3)
    log_b[1, 4, 0] = bad  # in the padding of sequence 1: ignored
    viterbi(log_pi, log_A, log_b, [5, 3])
    log_b[0, 2, 1] = bad
    with pytest.raises(ValueError, match=r"log_b must hold log-probabilities .* index \[0, 2, 1\]"):
        viterbi(log_pi, log_A, log_b, [5, 3])

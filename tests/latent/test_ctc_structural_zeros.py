"""CTC with log-probabilities of −∞ (a class forbidden at a frame) and labellings no alignment
reaches: loss and gradient against brute force over every path, in float32 and float64;
NaN inputs and other bad arguments raise, naming the argument."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from reparam.latent import (
    ctc_alpha_beta,
    ctc_loss,
    ctc_posteriors,
    greedy_decode,
    prefix_beam_search,
)

INF = math.inf
TARGETS = [[1, 2], [1, 1], [2], []]


def collapse(path, blank=0):
    out, prev = [], None
    for k in path:
        if k != prev and k != blank:
            out.append(k)
        prev = k
    return out


def log_probs(dtype, seed=0):
    """[T=4, N=4, C=3] with forbidden classes: sequence 0 cannot emit label 2 at frames 0–1
    (so its alignments are pinned), sequence 1 cannot emit a blank at frame 2."""
    gen = torch.Generator().manual_seed(seed)
    lp = torch.randn(4, len(TARGETS), 3, generator=gen, dtype=torch.float64).log_softmax(2)
    lp[:2, 0, 2] = -INF
    lp[2, 1, 0] = -INF
    lp[3, 2, :] = -INF  # sequence 2: nothing can be emitted at its last frame — no alignment
    return lp.to(dtype).requires_grad_()


def brute_force(lp, sequences):
    """-log p(l | x) of the ``sequences``, a logsumexp over all C^T paths that collapse to
    each one's target."""
    T, _, C = lp.shape
    losses = []
    for n in sequences:
        target = TARGETS[n]
        terms = [
            sum(lp[t, n, k] for t, k in enumerate(path))
            for path in itertools.product(range(C), repeat=T)
            if collapse(path) == target
        ]
        losses.append(-torch.logsumexp(torch.stack(terms), 0))
    return torch.stack(losses)


def padded():
    return torch.tensor([t + [1] * (2 - len(t)) for t in TARGETS])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_loss_and_gradient_match_brute_force(dtype):
    tol = {"atol": 1e-5, "rtol": 1e-5} if dtype == torch.float32 else {"atol": 1e-12, "rtol": 0}
    lengths = list(map(len, TARGETS))
    ours, exact = log_probs(dtype), log_probs(dtype)
    loss = ctc_loss(ours, padded(), [4] * 4, lengths, reduction="none")
    want = brute_force(exact, [0, 1, 3])
    assert loss[2] == INF and brute_force(exact.detach(), [2]).item() == INF
    torch.testing.assert_close(loss[[0, 1, 3]], want, **tol)
    (grad,) = torch.autograd.grad(loss[[0, 1, 3]].sum(), ours, retain_graph=True)
    (grad_exact,) = torch.autograd.grad(want.sum(), exact)
    assert torch.isfinite(grad).all()
    torch.testing.assert_close(grad, grad_exact, **tol)
    assert (grad[ours.detach() == -INF] == 0).all()  # a forbidden class gets no gradient
    # the sequence no alignment reaches: a zero gradient, and zero_infinity's loss 0
    (grad_inf,) = torch.autograd.grad(loss[2], ours)
    assert (grad_inf == 0).all()
    zeroed = ctc_loss(ours, padded(), [4] * 4, lengths, reduction="none", zero_infinity=True)
    assert zeroed[2] == 0 and torch.isfinite(zeroed).all()
    for reduction in ("sum", "mean"):
        total = ctc_loss(ours, padded(), [4] * 4, lengths, reduction=reduction, zero_infinity=True)
        (g,) = torch.autograd.grad(total, ours)
        assert torch.isfinite(total) and torch.isfinite(g).all()


def test_gradient_matches_finite_differences():
    lp = log_probs(torch.float64).detach()
    lengths = list(map(len, TARGETS))
    leaf = lp.clone().requires_grad_()
    loss = ctc_loss(leaf, padded(), [4] * 4, lengths, reduction="none")[[0, 1, 3]].sum()
    (grad,) = torch.autograd.grad(loss, leaf)
    h = 1e-6

    def f(value):
        return ctc_loss(value, padded(), [4] * 4, lengths, reduction="none")[[0, 1, 3]].sum()

    for index in torch.isfinite(lp).nonzero().tolist():
        up, down = lp.clone(), lp.clone()
        up[tuple(index)] += h
        down[tuple(index)] -= h
        numeric = (f(up) - f(down)).item() / (2 * h)
        assert grad[tuple(index)].item() == pytest.approx(numeric, abs=1e-7)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_lattice_of_structural_zeros_has_no_nan(dtype):
    lp = log_probs(dtype).detach()
    lengths = list(map(len, TARGETS))
    lattice = ctc_alpha_beta(lp, padded(), [4] * 4, lengths)
    assert not lattice.log_alpha.isnan().any() and not lattice.log_beta.isnan().any()
    gamma = ctc_posteriors(lp, padded(), [4] * 4, lengths)
    assert torch.isfinite(gamma).all() and (gamma[:, 2] == 0).all()
    torch.testing.assert_close(gamma[:, [0, 1, 3]].sum(2), torch.ones(4, 3, dtype=dtype))


def test_forced_alignment_at_t_equal_to_the_target_length():
    lp = torch.randn(3, 1, 4, dtype=torch.float64).log_softmax(2).requires_grad_()
    loss = ctc_loss(lp, torch.tensor([[1, 2, 3]]), [3], [3], reduction="sum")
    want = -(lp[0, 0, 1] + lp[1, 0, 2] + lp[2, 0, 3])  # the one path 1, 2, 3
    torch.testing.assert_close(loss, want)
    (grad,) = torch.autograd.grad(loss, lp)
    expected = torch.zeros_like(lp)
    expected[0, 0, 1] = expected[1, 0, 2] = expected[2, 0, 3] = -1
    torch.testing.assert_close(grad, expected)


# --------------------------------------------------------------------------- bad inputs


@pytest.mark.parametrize("bad", [math.nan, INF])
def test_nan_or_plus_inf_log_probs_raise_naming_the_frame(bad):
    lp = torch.randn(5, 2, 3).log_softmax(2)
    lp[3, 1, 2] = bad
    args = (torch.tensor([[1, 2], [2, 1]]), [5, 5], [2, 2])
    with pytest.raises(ValueError, match=r"log_probs .* at frame 3 of sequence 1"):
        ctc_loss(lp, *args)
    with pytest.raises(ValueError, match=r"log_probs .* at frame 3 of sequence 1"):
        ctc_posteriors(lp, *args)
    with pytest.raises(ValueError, match="log_probs"):
        greedy_decode(lp, [5, 5])
    with pytest.raises(ValueError, match="log_probs"):
        prefix_beam_search(lp, [5, 5])
    # past an input length the frame is padding: anything goes
    loss = ctc_loss(lp, args[0], [5, 3], [2, 2], reduction="none")
    assert torch.isfinite(loss).all()


@pytest.mark.parametrize("blank", [-1, 3, 1.0, True, "0"])
def test_bad_blank_raises(blank):
    lp = torch.randn(4, 1, 3).log_softmax(2)
    with pytest.raises(ValueError, match="blank must be an integer class index"):
        ctc_loss(lp, torch.tensor([[1]]), [4], [1], blank=blank)
    with pytest.raises(ValueError, match="blank"):
        greedy_decode(lp, [4], blank=blank)


def test_blank_may_be_a_numpy_integer():
    np = pytest.importorskip("numpy")
    lp = torch.randn(4, 1, 3).log_softmax(2)
    loss = ctc_loss(lp, torch.tensor([[1]]), [4], [1], blank=np.int64(2))
    assert torch.isfinite(loss)


def test_empty_batch():
    lp = torch.randn(3, 0, 4).log_softmax(2)
    empty = torch.zeros(0, 2, dtype=torch.long)
    assert ctc_loss(lp, empty, [], [], reduction="none").shape == (0,)
    assert ctc_loss(lp, empty, [], [], reduction="sum").item() == 0.0
    with pytest.raises(ValueError, match=r"log_probs holds no sequences.*reduction='mean'"):
        ctc_loss(lp, empty, [], [])
    assert greedy_decode(lp, []) == [] and prefix_beam_search(lp, []) == []

"""The one-recursion CTC lattice (β as α of the time- and position-reversed problem) against the
textbook two recursions, and its gradient against autograd through a plain α recursion."""

from __future__ import annotations

import pytest
import torch

from reparam.latent.ctc import ctc_alpha_beta, ctc_loss

NEG_INF = float("-inf")

# Repeats, an empty target, the shortest feasible input, an infeasible one (T < S + repeats),
# an empty input and slack; the padded width is set by the longest target.
TARGETS = [[1, 1, 2], [], [3, 4, 1, 2], [2, 2, 2], [4], [1, 2, 1, 3], [3, 3]]
INPUTS = [4, 6, 12, 5, 0, 9, 1]


def batch(dtype: torch.dtype, zeros: bool = False, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    T, C = 12, 5
    lp = torch.randn(T, len(TARGETS), C, generator=g, dtype=dtype).log_softmax(2)
    if zeros:  # structural zeros: forbidden classes at some frames
        lp = lp.masked_fill(torch.rand(lp.shape, generator=g) < 0.2, NEG_INF)
    S = max(map(len, TARGETS))
    targets = torch.tensor([t + [0] * (S - len(t)) for t in TARGETS])
    return lp, targets, torch.tensor(INPUTS), torch.tensor(list(map(len, TARGETS)))


def two_recursions(lp, targets, in_len, tgt_len):
    """The textbook forward and backward recursions, one sequence and one frame at a time."""
    T, N, _ = lp.shape
    L = 2 * targets.shape[1] + 1
    alphas = torch.full((T, N, L), NEG_INF, dtype=lp.dtype)
    betas = torch.full((T, N, L), NEG_INF, dtype=lp.dtype)
    for n in range(N):
        ext = [0] * (2 * int(tgt_len[n]) + 1)
        ext[1::2] = targets[n, : int(tgt_len[n])].tolist()
        Ln, Tn = len(ext), int(in_len[n])
        y = lp[:, n, ext]

        def skip(s, ext=ext):  # may a path reach s from s - 2
            return s >= 2 and ext[s] != 0 and ext[s] != ext[s - 2]

        for t in range(Tn):
            for s in range(Ln):
                if t == 0:
                    terms = [torch.tensor(0.0, dtype=lp.dtype)] if s < 2 else []
                else:
                    prev = alphas[t - 1, n]
                    terms = (
                        [prev[s]]
                        + ([prev[s - 1]] if s else [])
                        + ([prev[s - 2]] if skip(s) else [])
                    )
                terms = [x for x in terms if x > NEG_INF]  # a finite gradient through autograd
                if terms:
                    alphas[t, n, s] = torch.logsumexp(torch.stack(terms), 0) + y[t, s]
        for t in range(Tn - 1, -1, -1):
            for s in range(Ln):
                if t == Tn - 1:
                    if s >= Ln - 2:
                        betas[t, n, s] = 0.0
                    continue
                u = betas[t + 1, n, :Ln] + y[t + 1]
                terms = [u[s]] + ([u[s + 1]] if s + 1 < Ln else [])
                terms += [u[s + 2]] if s + 2 < Ln and skip(s + 2) else []
                betas[t, n, s] = torch.logsumexp(torch.stack(terms), 0)
    return alphas, betas


@pytest.mark.parametrize("zeros", [False, True])
def test_one_recursion_lattice_equals_the_two_recursions(zeros):
    lp, targets, in_len, tgt_len = batch(torch.float64, zeros)
    lat = ctc_alpha_beta(lp, targets, in_len, tgt_len)
    alphas, betas = two_recursions(lp, targets, in_len, tgt_len)
    L = 2 * tgt_len[:, None] + 1
    used = torch.arange(alphas.shape[2]) < L  # α past 2 S_n + 1 is not part of the lattice
    used = used[None].expand_as(alphas)
    torch.testing.assert_close(lat.log_alpha[used], alphas[used], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(lat.log_beta, betas, rtol=1e-12, atol=1e-12)


def alpha_only_loss(lp, targets, in_len, tgt_len):
    """-log p(l | x) by autograd through the α recursion alone (no β)."""
    alphas, _ = two_recursions(lp, targets, in_len, tgt_len)
    out = []
    for n in range(lp.shape[1]):
        Tn, Sn = int(in_len[n]), int(tgt_len[n])
        if Tn == 0:
            out.append(torch.tensor(0.0 if Sn == 0 else float("inf"), dtype=lp.dtype))
            continue
        ends = alphas[Tn - 1, n, max(2 * Sn - 1, 0) : 2 * Sn + 1]
        out.append(-torch.logsumexp(ends, 0))
    return torch.stack(out)


def test_gradient_equals_autograd_of_the_alpha_recursion():
    lp, targets, in_len, tgt_len = batch(torch.float64, seed=1)
    keep = [0, 2, 3, 5]  # feasible sequences with an input (autograd's gradient is finite)
    lp, targets, in_len, tgt_len = lp[:, keep], targets[keep], in_len[keep], tgt_len[keep]
    weights = torch.tensor([0.3, -1.0, 2.0, 0.5], dtype=lp.dtype)
    leaf = lp.clone().requires_grad_()
    (ctc_loss(leaf, targets, in_len, tgt_len, reduction="none") * weights).sum().backward()
    ref = lp.clone().requires_grad_()
    (alpha_only_loss(ref, targets, in_len, tgt_len) * weights).sum().backward()
    torch.testing.assert_close(leaf.grad, ref.grad, rtol=1e-10, atol=1e-12)


def test_loss_without_gradient_equals_loss_with_it():
    lp, targets, in_len, tgt_len = batch(torch.float32, zeros=True)
    with torch.no_grad():
        plain = ctc_loss(lp, targets, in_len, tgt_len, reduction="none")
    tracked = ctc_loss(lp.clone().requires_grad_(), targets, in_len, tgt_len, reduction="none")
    torch.testing.assert_close(plain, tracked.detach(), rtol=0, atol=0)

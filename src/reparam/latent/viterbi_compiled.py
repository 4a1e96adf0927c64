r"""Viterbi on the CPU as one compiled loop (numba), four sequences at a time.

The max-product recursion (Rabiner 1989, eqs. 32–35)

.. math:: δ_1(k) = \log π_k + \log b_k(x_1), \qquad
          δ_t(k) = \log b_k(x_t) + \max_j\,[δ_{t-1}(j) + \log A_{jk}]

is a chain of T small steps, which eager PyTorch pays for in op calls rather than in
arithmetic. Compiled, a step of four sequences is K² adds and maxes in registers. The
back-pointer of the chosen state is recomputed during the back-trace,
:math:`z_{t-1} = \arg\max_j δ_{t-1}(j) + \log A_{j z_t}`, from the stored δ of the block (first
index on ties, as ``torch.max``), so the forward pass stores δ and nothing else. A step at or
beyond a sequence's length carries δ over. π and A are checked before the call; the kernel
reports whether an emission at a valid step was NaN or +∞ (the caller then raises), the only
way a NaN could enter δ. The result equals the eager recursion's bit for bit
(the same adds and comparisons in the same order).

numba is optional (``pip install reparam[fast]``): :func:`available` says whether it is
installed, and :func:`reparam.latent.viterbi` uses this kernel on the CPU when it is, the eager
recursion otherwise. The first call compiles the kernel (a second or two; cached on disk after).

>>> import torch
>>> from reparam.latent.forward_backward import viterbi
>>> lp = torch.log(torch.tensor([0.5, 0.5]))
>>> la = torch.log(torch.tensor([[0.9, 0.1], [0.1, 0.9]]))
>>> lb = torch.log(torch.tensor([[[0.9, 0.1], [0.8, 0.2], [0.2, 0.8]]]))
>>> viterbi(lp, la, lb)[0]
tensor([[0, 0, 0]])
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import torch
from torch import Tensor

__all__ = ["applies", "available", "viterbi_compiled"]

_LANES = 4  # sequences advanced together; their δ stay in registers


@functools.cache
def available() -> bool:
    """Whether numba can be imported (the compiled kernel is then used on the CPU)."""
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


def applies(log_b: Tensor) -> bool:
    """Whether the kernel serves these emissions: on the CPU, in float32 or float64, with
    numba installed."""
    return (
        log_b.device.type == "cpu" and log_b.dtype in (torch.float32, torch.float64) and available()
    )


def viterbi_compiled(
    log_pi: Tensor, log_A: Tensor, log_b: Tensor, lengths: Tensor
) -> tuple[Tensor, Tensor, bool]:
    """The state path [B, T] (−1 beyond each length, and everywhere for a sequence no path
    explains), the score [B], and whether every emission at a valid step was a log-probability
    (no NaN, no +∞), for checked CPU inputs of one floating dtype. ``lengths`` [B] are integers
    in [1, T]."""
    B, T = log_b.shape[:2]
    path = torch.empty((B, T), dtype=torch.long)
    score = torch.empty(B, dtype=log_b.dtype)
    finite = _kernel()(
        log_pi.detach().contiguous().numpy(),
        log_A.detach().contiguous().numpy(),
        log_b.detach().contiguous().numpy(),
        lengths.to(torch.long).contiguous().numpy(),
        path.numpy(),
        score.numpy(),
    )
    return path, score, bool(finite)


@functools.cache
def _kernel() -> Any:
    import numba

    return numba.njit(cache=True, boundscheck=False, nogil=True)(_viterbi_lanes)


def _viterbi_lanes(log_pi, log_A, log_b, lengths, path, score):
    B, T, K = log_b.shape
    deltas = np.empty((T, K, _LANES), log_b.dtype)
    cur = np.empty((K, _LANES), log_b.dtype)
    # Σ of the valid emissions: NaN or +∞ where one is NaN or +∞ (−∞ alone gives −∞).
    total = 0.0
    for b0 in range(0, B, _LANES):
        rows = min(_LANES, B - b0)
        # Lanes past the batch's end repeat its last sequence; their results are dropped.
        n0, n1, n2, n3 = b0, min(b0 + 1, B - 1), min(b0 + 2, B - 1), min(b0 + 3, B - 1)
        L0, L1, L2, L3 = lengths[n0], lengths[n1], lengths[n2], lengths[n3]
        shortest, steps = min(min(L0, L1), min(L2, L3)), max(max(L0, L1), max(L2, L3))
        for k in range(K):
            e0, e1, e2, e3 = log_b[n0, 0, k], log_b[n1, 0, k], log_b[n2, 0, k], log_b[n3, 0, k]
            total += (e0 + e1) + (e2 + e3)
            deltas[0, k, 0] = log_pi[k] + e0
            deltas[0, k, 1] = log_pi[k] + e1
            deltas[0, k, 2] = log_pi[k] + e2
            deltas[0, k, 3] = log_pi[k] + e3
        for t in range(1, steps):
            prev = deltas[t - 1]
            for k in range(K):
                a = log_A[0, k]
                x0, x1, x2, x3 = prev[0, 0] + a, prev[0, 1] + a, prev[0, 2] + a, prev[0, 3] + a
                for j in range(1, K):
                    a = log_A[j, k]
                    c0, c1, c2, c3 = prev[j, 0] + a, prev[j, 1] + a, prev[j, 2] + a, prev[j, 3] + a
                    x0 = c0 if c0 > x0 else x0
                    x1 = c1 if c1 > x1 else x1
                    x2 = c2 if c2 > x2 else x2
                    x3 = c3 if c3 > x3 else x3
                cur[k, 0], cur[k, 1], cur[k, 2], cur[k, 3] = x0, x1, x2, x3
            out = deltas[t]
            if t < shortest:
                for k in range(K):
                    e0, e1, e2, e3 = (
                        log_b[n0, t, k],
                        log_b[n1, t, k],
                        log_b[n2, t, k],
                        log_b[n3, t, k],
                    )
                    total += (e0 + e1) + (e2 + e3)
                    out[k, 0] = cur[k, 0] + e0
                    out[k, 1] = cur[k, 1] + e1
                    out[k, 2] = cur[k, 2] + e2
                    out[k, 3] = cur[k, 3] + e3
            else:
                for i, (n, L) in enumerate(((n0, L0), (n1, L1), (n2, L2), (n3, L3))):
                    for k in range(K):
                        if t < L:
                            total += log_b[n, t, k]
                            out[k, i] = cur[k, i] + log_b[n, t, k]
                        else:
                            out[k, i] = prev[k, i]
        last = deltas[steps - 1]
        for i in range(rows):
            n, L = b0 + i, lengths[b0 + i]
            best, state = last[0, i], 0
            for k in range(1, K):
                if last[k, i] > best:
                    best, state = last[k, i], k
            score[n] = best
            if best == -np.inf:  # no path explains the sequence
                path[n, :] = -1
                continue
            path[n, L:] = -1
            path[n, L - 1] = state
            for t in range(L - 1, 0, -1):
                d = deltas[t - 1]
                best, previous = d[0, i] + log_A[0, state], 0
                for j in range(1, K):
                    c = d[j, i] + log_A[j, state]
                    if c > best:
                        best, previous = c, j
                state = previous
                path[n, t - 1] = state
    return total < np.inf

r"""Forward–backward in the probability domain with Rabiner's scaling: the HMM posteriors by
one ``[B, K] @ [K, K]`` product a step instead of a log-sum-exp over ``[B, K, K]``, and the
test of when that is exact up to rounding.

Rabiner (1989, §V.A; PRML §13.2.4) keeps α normalised at every step. With the emissions
shifted by their largest value at each step, :math:`m_t = \max_k \log b_k(x_t)` and
:math:`\tilde b_t(k) = e^{\log b_k(x_t) - m_t} \le 1`,

.. math:: v_t = (\hat α_{t-1} A) \odot \tilde b_t, \qquad c_t = \textstyle\sum_k v_t(k),
          \qquad \hat α_t = v_t / c_t, \qquad \log p(x) = \textstyle\sum_t (\log c_t + m_t),

started from :math:`v_1 = π \odot \tilde b_1`; backwards from :math:`\hat β_T = 1`,
:math:`u_{t+1} = \tilde b_{t+1} \odot \hat β_{t+1}` and :math:`\hat β_t = A u_{t+1} / d_t`
(any positive :math:`d_t`: here the sum, so that β̂ cannot overflow). Then
:math:`γ_t = \hat α_t \odot \hat β_t / n_t` with :math:`n_t = \sum_k \hat α_t(k) \hat β_t(k)`,
and :math:`ξ_t(j, k) = \hat α_{t-1}(j) A_{jk} u_t(k) / (c_t n_t)`, whose sum over t is one
batched matrix product.

**When it is exact.** A structural zero stays an exact zero (:math:`e^{-∞} = 0`, and
:math:`0 \cdot x = 0`). Every other number is a sum of products of positive factors, as
accurate as the log-domain recursion (relative error a few ulps a step) as long as no product
of non-zero factors falls below the smallest normal number ``tiny`` of the dtype
(:math:`2.2 \cdot 10^{-308}` in float64, :math:`1.2 \cdot 10^{-38}` in float32): an underflow
to 0 would silently turn an improbable state into an impossible one. So each sequence is
checked, conservatively, with the smallest non-zero factor of each kind at each step — the
products :math:`\min \hat α_{t-1} \cdot \min A \cdot \min \tilde b_t`,
:math:`\min A \cdot \min \tilde b_{t+1} \cdot \min \hat β_{t+1}` and
:math:`\min \hat α_t \cdot \min \hat β_t` must all exceed ``tiny`` — and so are
:math:`c_t, d_t, n_t` (positive and finite) and ξ (finite). A sequence that fails (a state
whose filtered probability drops below about :math:`e^{-700}/\min A` in float64, or
:math:`e^{-87}/\min A` in float32; emissions spread over more than that within one step; or a
sequence of probability 0) is reported, and :func:`reparam.latent.forward_backward.posteriors`
recomputes it in the log domain.

References:
    Rabiner (1989), A tutorial on hidden Markov models and selected applications in speech
    recognition, §V.A (scaling).
    Bishop (2006), Pattern Recognition and Machine Learning, §13.2.4.

>>> lp = torch.tensor([0.5, 0.5]).log()
>>> la = torch.tensor([[0.9, 0.1], [0.2, 0.8]]).log()
>>> gamma, xi, ll, exact = scaled_posteriors(lp, la, torch.zeros(1, 3, 2), torch.ones(1, 3).bool())
>>> ll.abs() < 1e-6, exact, xi.sum().item()
(tensor([True]), tensor([True]), 2.0)
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

INF = math.inf
_CHUNK_ELEMENTS = 1 << 18  # ξ is summed over blocks of steps of about this many numbers


def _smallest(x: Tensor, positive: bool, out: Tensor) -> None:
    """The smallest entry of ``x`` along its last axis into ``out``; with ``positive``, the
    smallest positive one (+∞ where there is none)."""
    torch.amin(torch.where(x > 0, x, INF) if positive else x, -1, out=out)


@torch.no_grad()
def scaled_posteriors(
    log_pi: Tensor, log_A: Tensor, log_b: Tensor, mask: Tensor
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    r"""γ [B, T, K], :math:`\sum_t ξ_t` [B, K, K] and :math:`\log p(x)` [B] by the scaled
    recursions, and ``exact`` [B]: False for the sequences the underflow test cannot vouch for
    (their other outputs are then meaningless). ``log_b`` must be finite or −∞ at the steps
    ``mask`` [B, T] marks valid, and finite (0, say) beyond them.

    α̂ is kept in γ's buffer, which the backward pass overwrites with γ step by step; β̂ and
    b̃ live one step at a time, and ξ is summed a block of steps at a time: no buffer of the
    size of ``log_b`` but the result."""
    B, T, K = log_b.shape
    full = bool(mask.all())
    valid = mask.T  # [T, B]
    finfo = torch.finfo(log_b.dtype)
    tiny = math.log(finfo.tiny) + 1.0  # a nat of margin for the rounding of these logs
    pi, A = log_pi.exp(), log_A.exp()
    lowest, shift = (v.T for v in torch.aminmax(log_b, dim=-1))  # [T, B]
    shift = shift.clamp_min(finfo.min)  # a step all −∞ gives b̃ = 0, so c = 0
    zeros = bool(torch.isneginf(lowest).any())
    if zeros:  # structural zeros in the emissions: the smallest finite log b
        lowest = torch.where(log_b > -INF, log_b, INF).amin(-1).T
    log_b_min = lowest - shift  # log min b̃_t, up to the rounding of exp
    log_A_min = torch.where(A > 0, A, INF).amin().log()
    if not bool(((log_A_min + log_b_min >= tiny) | ~valid).all(0).any()):
        # α̂, β̂ ≤ 1, so the test below fails for every sequence: skip the recursions
        nothing = log_b.new_empty(0)
        return nothing, nothing, nothing, mask[:, 0] & False
    # without structural zeros a zero in α̂ or β̂ is an underflow, which the plain min shows
    zeros = zeros or not bool((A > 0).all() and (pi > 0).all())

    def emission(t: int, out: Tensor) -> Tensor:
        return torch.sub(log_b[:, t], shift[t, :, None], out=out).exp_()

    gamma = torch.empty_like(log_b)  # α̂ first, then γ
    b, c = log_b.new_empty((B, K)), log_b.new_empty((T, B, 1))
    alpha_min, beta_min = log_b.new_empty((T, B)), log_b.new_ones((T, B))
    for t in range(T):
        alpha = gamma[:, t]
        emission(t, b)
        if t:
            torch.mm(gamma[:, t - 1], A, out=alpha).mul_(b)
        else:
            torch.mul(pi, b, out=alpha)
        torch.sum(alpha, -1, keepdim=True, out=c[t])
        alpha.div_(c[t])
        _smallest(alpha, zeros, alpha_min[t])

    beta, u, d = log_b.new_ones((B, K)), log_b.new_empty((B, K)), log_b.new_ones((T, B, 1))
    n, xi = log_b.new_empty((T, B, 1)), log_b.new_zeros((B, K, K))
    chunk = max(1, min(T - 1, _CHUNK_ELEMENTS // max(1, B * K)))
    before, after = log_b.new_empty((chunk, B, K)), log_b.new_empty((chunk, B, K))
    ends = None if full else (torch.arange(T, device=mask.device)[:, None] == mask.sum(1) - 1)
    for t in range(T - 1, -1, -1):
        # γ_t from α̂_t and β̂_t, in place of α̂_t
        torch.sum(gamma[:, t].mul_(beta), -1, keepdim=True, out=n[t])
        gamma[:, t].div_(n[t])
        if t == 0:
            break
        # ξ_t = α̂_{t-1} ⊗ u_t / (c_t n_t), summed a chunk of steps at a time (⊙ A at the end)
        i = (T - 1 - t) % chunk
        before[i].copy_(gamma[:, t - 1])
        torch.mul(emission(t, b), beta, out=u)
        torch.div(u, c[t] * n[t], out=after[i])
        if not full:
            after[i].masked_fill_(~valid[t, :, None], 0.0)
        if i == chunk - 1 or t == 1:
            xi += torch.einsum("ibj,ibk->bjk", before[: i + 1], after[: i + 1])
        # β̂_{t-1} = A u_t / d_{t-1}
        torch.mm(u, A.T, out=beta)
        torch.sum(beta, -1, keepdim=True, out=d[t - 1])
        beta.div_(d[t - 1])
        if ends is not None:  # a sequence's last step starts its own recursion
            beta.masked_fill_(ends[t - 1, :, None], 1.0)
            d[t - 1].masked_fill_(ends[t - 1, :, None], 1.0)
        _smallest(beta, zeros, beta_min[t - 1])
    xi.mul_(A)
    if not full:
        gamma.masked_fill_(~mask[..., None], 0.0)
    ll = (c.squeeze(-1).log() + shift).masked_fill(~valid, 0.0).sum(0)

    # the underflow test, step by step, on the valid steps only
    log_alpha_min, log_beta_min = alpha_min.log(), beta_min.log()
    first = torch.where(pi > 0, pi, INF).amin().log() + log_b_min[:1]
    into = torch.cat([first, log_alpha_min[:-1] + log_A_min + log_b_min[1:]])
    back = (log_A_min + log_b_min[1:] + log_beta_min[1:] >= tiny) | ~valid[1:]
    back = torch.cat([back, back.new_ones(1, B)])  # no step back from the last one
    ok = (into >= tiny) & back & (log_alpha_min + log_beta_min >= tiny)
    for scale in (c, d, n):
        ok &= ((scale > 0) & (scale < INF)).squeeze(-1)
    exact = (ok | ~valid).all(0) & torch.isfinite(xi).flatten(1).all(1)
    return gamma, xi, ll, exact

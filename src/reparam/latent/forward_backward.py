r"""Forward–backward and Viterbi for hidden Markov models, in log space, batched.

A hidden Markov model with K states has an initial distribution :math:`π_k = p(z_1 = k)`,
a transition matrix :math:`A_{jk} = p(z_{t+1} = k \mid z_t = j)` and emission densities
:math:`b_k(x) = p(x_t \mid z_t = k)`. Every quantity below is kept as a logarithm and
combined with ``logsumexp`` so that nothing underflows (Rabiner 1989, §V.A; Bishop 2006, PRML
§13.2.4 on scaling).

Forward and backward recursions (Rabiner 1989, eqs. 19–25; PRML eqs. 13.36–13.39):

.. math:: \log α_1(k) = \log π_k + \log b_k(x_1), \qquad
          \log α_t(k) = \log b_k(x_t) + \operatorname{logsumexp}_j\,[\log α_{t-1}(j) + \log A_{jk}],

.. math:: \log β_T(j) = 0, \qquad
          \log β_t(j) = \operatorname{logsumexp}_k\,[\log A_{jk} + \log b_k(x_{t+1}) + \log β_{t+1}(k)],

with :math:`\log p(x_{1:T}) = \operatorname{logsumexp}_k \log α_T(k)`. The posteriors are
:math:`γ_t(k) = α_t(k) β_t(k) / p(x)` and
:math:`ξ_t(j, k) = α_{t-1}(j) A_{jk} b_k(x_t) β_t(k) / p(x)` (PRML eqs. 13.33, 13.43); the
expected transition counts :math:`\sum_t ξ_t(j,k)` are also the gradient of
:math:`\log p(x)` with respect to unnormalised :math:`\log A_{jk}`. Viterbi (Rabiner 1989,
eqs. 30–35; PRML §13.2.5) replaces the logsumexp by a max and keeps back-pointers.

Structural zeros (:math:`\log π_k`, :math:`\log A_{jk}` or :math:`\log b_k(x_t) = -∞`: a
left-right model, a forbidden emission) are exact: a state unreachable at step t has
:math:`\log α_t(k) = -∞`, and the gradient of :math:`\log p(x)` is the expected count of each
parameter, 0 for one no path of positive probability uses (the logsumexp of a column that is
all −∞ passes a zero gradient, not autograd's 0 · ∞ = NaN). A sequence no path explains has
:math:`\log p(x) = -∞`, zero γ and ξ, a zero gradient and the Viterbi path −1.

Sequences of unequal length share a batch through ``lengths``: steps at or beyond a
sequence's length are ignored (their values may be anything, even NaN), and the outputs there
are :math:`\log α = \log β = -∞`, γ = 0, path = −1. At the valid steps ``log_b`` must hold
log-probabilities (−∞ allowed): NaN or +∞ there, or in ``log_pi`` or ``log_A``, is a
``ValueError``.

References:
    Rabiner (1989), A tutorial on hidden Markov models and selected applications in speech
    recognition.
    Bishop (2006), Pattern Recognition and Machine Learning, §13.2.

>>> lp = torch.tensor([1.0, 0.0, 0.0]).log()  # a left-right chain starts in state 0
>>> la = torch.tensor([[0.5, 0.5, 0.0], [0.0, 0.5, 0.5], [0.0, 0.0, 1.0]]).log().requires_grad_()
>>> _, ll = forward(lp, la, torch.zeros(1, 2, 3))
>>> ll.backward()
>>> la.grad  # expected transition counts; 0 where no path goes, not NaN
tensor([[0.5000, 0.5000, 0.0000],
        [0.0000, 0.0000, 0.0000],
        [0.0000, 0.0000, 0.0000]])
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from reparam.latent import viterbi_compiled
from reparam.latent.scaled import scaled_posteriors

Lengths = Tensor | Sequence[int] | None

_CHUNK_ELEMENTS = 1 << 18  # emissions transposed for Viterbi a block of this size at a time


class _LogSumExp(torch.autograd.Function):
    r"""``torch.logsumexp`` whose gradient is 0, not NaN, where every input is −∞: the weights
    :math:`e^{x_j - \operatorname{lse}(x)}` become :math:`e^{-∞ - 0} = 0` there."""

    @staticmethod
    def forward(ctx, x: Tensor, dim: int) -> Tensor:  # type: ignore[override]
        out = torch.logsumexp(x, dim)
        ctx.save_for_backward(x, out)
        ctx.dim = dim
        return out

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:  # type: ignore[override]
        x, out = ctx.saved_tensors
        out = out.masked_fill(out == -math.inf, 0.0).unsqueeze(ctx.dim)
        return grad.unsqueeze(ctx.dim) * (x - out).exp(), None


def _logsumexp_for(*inputs: Tensor) -> Callable[[Tensor, int], Tensor]:
    """The logsumexp for a recursion over ``inputs``: the zero-safe one when a gradient is
    recorded and an input holds −∞ (which can make a whole column −∞), else the plain kernel
    (its autograd node is cheaper by a Python call a step)."""
    if (
        torch.is_grad_enabled()
        and any(v.requires_grad for v in inputs)
        and any(bool(torch.isneginf(v).any()) for v in inputs)
    ):
        return _LogSumExp.apply
    return torch.logsumexp


# --------------------------------------------------------------------------- input checks


def lengths_mask(lengths: Lengths, B: int, T: int, device: torch.device | None = None) -> Tensor:
    """Check ``lengths`` (integers in [1, T], shape [B]; None: all T); return the mask [B, T]
    of valid steps (True where t < length)."""
    if lengths is None:
        return torch.ones(B, T, dtype=torch.bool, device=device)
    given = lengths
    lengths = torch.as_tensor(lengths, device=device)
    if lengths.numel() == 0 and not isinstance(given, Tensor):  # [] reads as float32
        lengths = lengths.long()
    if lengths.is_floating_point() or lengths.is_complex() or lengths.dtype == torch.bool:
        raise ValueError(f"lengths must be integers, got dtype {lengths.dtype}")
    lengths = lengths.long()
    if lengths.shape != (B,):
        raise ValueError(f"lengths must have shape [{B}], got {tuple(lengths.shape)}")
    bad = (lengths < 1) | (lengths > T)
    if bad.any():
        n = int(bad.nonzero()[0, 0])
        raise ValueError(f"lengths must lie in [1, T={T}], got {int(lengths[n])} at sequence {n}")
    return torch.arange(T, device=device) < lengths[:, None]


def _log_probabilities(value: Tensor, name: str) -> None:
    """Raise unless ``value`` is a floating tensor with no NaN and no +∞ (−∞ is a zero)."""
    if not isinstance(value, Tensor):
        raise TypeError(f"{name} must be a tensor, got {type(value).__name__}")
    if not value.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got dtype {value.dtype}")
    if value.numel() and not value.detach().max() < math.inf:  # NaN or +inf
        index = tuple((~(value < math.inf)).nonzero()[0].tolist())
        raise ValueError(
            f"{name} must hold log-probabilities (−inf allowed, NaN and +inf not), got "
            f"{value[index].item()} at index {list(index)}"
        )


def _check_model(log_pi: Tensor, log_A: Tensor, log_b: Tensor) -> None:
    """Validate the types and shapes of the three inputs and the values of π and A."""
    for value, name in ((log_pi, "log_pi"), (log_A, "log_A")):
        _log_probabilities(value, name)
    if not isinstance(log_b, Tensor):
        raise TypeError(f"log_b must be a tensor, got {type(log_b).__name__}")
    if not log_b.is_floating_point():
        raise ValueError(f"log_b must be a floating-point tensor, got dtype {log_b.dtype}")
    if log_b.dim() != 3:
        raise ValueError(f"log_b must have shape [B, T, K], got {tuple(log_b.shape)}")
    T, K = log_b.shape[1:]
    if T < 1 or K < 1:
        raise ValueError(f"log_b needs at least one step and one state, got {tuple(log_b.shape)}")
    if log_pi.shape != (K,):
        raise ValueError(f"log_pi must have shape [{K}], got {tuple(log_pi.shape)}")
    if log_A.shape != (K, K):
        raise ValueError(f"log_A must have shape [{K}, {K}], got {tuple(log_A.shape)}")


def check(log_pi: Tensor, log_A: Tensor, log_b: Tensor, lengths: Lengths) -> tuple[Tensor, Tensor]:
    """Validate shapes, values and lengths; return ``log_b`` with the padded steps set to 0
    and the valid-step mask [B, T]."""
    _check_model(log_pi, log_A, log_b)
    B, T, _ = log_b.shape
    mask = lengths_mask(lengths, B, T, log_b.device)
    if lengths is not None and not bool(mask.all()):
        log_b = log_b.masked_fill(~mask[..., None], 0.0)
    _log_probabilities(log_b, "log_b")
    return log_b, mask


# --------------------------------------------------------------------------- recursions


def _common_dtype(*values: Tensor) -> tuple[Tensor, ...]:
    """The inputs in their promoted dtype (the in-place recursions write into one)."""
    dtype = values[0].dtype
    for value in values[1:]:
        dtype = torch.promote_types(dtype, value.dtype)
    return tuple(value.to(dtype) for value in values)


def _forward(log_pi: Tensor, log_A: Tensor, log_b: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    logsumexp = _logsumexp_for(log_pi, log_A, log_b)
    carry = log_pi + log_b[:, 0]
    alphas = [carry]
    for t in range(1, log_b.shape[1]):
        new = logsumexp(carry[:, :, None] + log_A, 1) + log_b[:, t]
        carry = torch.where(mask[:, t, None], new, carry)
        alphas.append(carry)
    log_alpha = torch.stack(alphas, dim=1).masked_fill(~mask[..., None], -math.inf)
    return log_alpha, logsumexp(carry, -1)


def _backward(log_A: Tensor, log_b: Tensor, mask: Tensor) -> Tensor:
    logsumexp = _logsumexp_for(log_A, log_b)
    T = log_b.shape[1]
    carry = log_b.new_zeros(log_b.shape[0], log_b.shape[2])
    betas = [carry]
    for t in range(T - 2, -1, -1):
        new = logsumexp(log_A + (log_b[:, t + 1] + carry)[:, None, :], 2)
        carry = torch.where(mask[:, t + 1, None], new, torch.zeros_like(new))
        betas.append(carry)
    betas.reverse()
    return torch.stack(betas, dim=1).masked_fill(~mask[..., None], -math.inf)


def _posteriors(
    log_pi: Tensor, log_A: Tensor, log_b: Tensor, mask: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """γ, Σ_t ξ_t and log p(x): by the scaled recursions of :mod:`reparam.latent.scaled`
    (two matrix products a step), the sequences they cannot vouch for recomputed in the log
    domain; wholly in the log domain when autograd records (the scaled path writes in
    place)."""
    if torch.is_grad_enabled() and any(v.requires_grad for v in (log_pi, log_A, log_b)):
        return _log_posteriors(log_pi, log_A, log_b, mask)
    log_pi, log_A, log_b = _common_dtype(log_pi, log_A, log_b)
    if not bool(mask.all()):
        log_b = log_b.masked_fill(~mask[..., None], 0.0)
    gamma, xi, ll, exact = scaled_posteriors(log_pi, log_A, log_b, mask)
    if not bool(exact.any()):
        return _log_posteriors(log_pi, log_A, log_b, mask)
    if not bool(exact.all()):
        redo = (~exact).nonzero().squeeze(1)
        gamma[redo], xi[redo], ll[redo] = _log_posteriors(log_pi, log_A, log_b[redo], mask[redo])
    return gamma, xi, ll


def _log_posteriors(
    log_pi: Tensor, log_A: Tensor, log_b: Tensor, mask: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    log_alpha, ll = _forward(log_pi, log_A, log_b, mask)
    log_beta = _backward(log_A, log_b, mask)
    # steps to leave out: padding, and every step of a sequence no path explains
    off = ~mask | (ll == -math.inf)[:, None]
    # normalise each step by its own sum (= p(x) exactly) so rounding in log p(x) cancels
    gamma = torch.softmax((log_alpha + log_beta).masked_fill(off[..., None], 0.0), dim=-1)
    gamma = gamma.masked_fill(off[..., None], 0.0)
    B, T, K = log_b.shape
    xi = log_b.new_zeros(B, K, K)
    for t in range(1, T):
        skip = off[:, t, None, None]
        step = log_alpha[:, t - 1, :, None] + log_A + (log_b[:, t] + log_beta[:, t])[:, None, :]
        step = step.masked_fill(skip, 0.0).reshape(B, K * K)
        xi = xi + torch.softmax(step, -1).reshape(B, K, K).masked_fill(skip, 0.0)
    return gamma, xi, ll


def forward(
    log_pi: Tensor, log_A: Tensor, log_b: Tensor, lengths: Lengths = None
) -> tuple[Tensor, Tensor]:
    r"""Forward pass: :math:`\log α` [B, T, K] (−∞ beyond each length) and the log-likelihood
    :math:`\log p(x^{(n)})` [B].

    ``log_b[n, t, k]`` is :math:`\log b_k(x^{(n)}_t)`. ``log_A`` need not be normalised (the
    recursion is differentiable in every entry).

    >>> lp = torch.log(torch.tensor([0.5, 0.5]))
    >>> la = torch.log(torch.tensor([[0.9, 0.1], [0.1, 0.9]]))
    >>> alpha, ll = forward(lp, la, torch.zeros(1, 4, 2))  # uninformative emissions
    >>> ll.abs() < 1e-6
    tensor([True])
    """
    log_b, mask = check(log_pi, log_A, log_b, lengths)
    return _forward(log_pi, log_A, log_b, mask)


def backward(log_pi: Tensor, log_A: Tensor, log_b: Tensor, lengths: Lengths = None) -> Tensor:
    r"""Backward pass: :math:`\log β` [B, T, K], with :math:`\log β = 0` at each sequence's last
    step and −∞ beyond it.

    >>> lp = torch.log(torch.tensor([0.5, 0.5]))
    >>> la = torch.log(torch.tensor([[0.9, 0.1], [0.1, 0.9]]))
    >>> backward(lp, la, torch.zeros(1, 3, 2), lengths=[2]).exp().round(decimals=4)
    tensor([[[1., 1.],
             [1., 1.],
             [0., 0.]]])
    """
    log_b, mask = check(log_pi, log_A, log_b, lengths)
    return _backward(log_A, log_b, mask)


def posteriors(
    log_pi: Tensor, log_A: Tensor, log_b: Tensor, lengths: Lengths = None
) -> tuple[Tensor, Tensor, Tensor]:
    r"""Smoothed posteriors by forward–backward: γ [B, T, K] (zero beyond each length), the
    expected transition counts :math:`\sum_t ξ_t(j,k)` [B, K, K], and the log-likelihood [B].
    A sequence of zero probability (log-likelihood −∞) has γ = ξ = 0.

    >>> lp = torch.log(torch.tensor([0.5, 0.5]))
    >>> la = torch.log(torch.tensor([[0.9, 0.1], [0.1, 0.9]]))
    >>> gamma, xi, ll = posteriors(lp, la, torch.zeros(1, 3, 2))
    >>> xi.sum().item()  # T - 1 transitions
    2.0
    """
    return _posteriors(log_pi, log_A, *check(log_pi, log_A, log_b, lengths))


def viterbi(
    log_pi: Tensor, log_A: Tensor, log_b: Tensor, lengths: Lengths = None
) -> tuple[Tensor, Tensor]:
    r"""Most probable state path [B, T] (−1 beyond each length, and everywhere for a sequence
    no path explains) and its joint log-probability :math:`\max_z \log p(x, z)` [B].

    >>> lp = torch.log(torch.tensor([0.5, 0.5]))
    >>> la = torch.log(torch.tensor([[0.9, 0.1], [0.1, 0.9]]))
    >>> lb = torch.log(torch.tensor([[[0.9, 0.1], [0.8, 0.2], [0.2, 0.8]]]))
    >>> viterbi(lp, la, lb, lengths=[3])[0]
    tensor([[0, 0, 0]])
    """
    _check_model(log_pi, log_A, log_b)
    B, T = log_b.shape[:2]
    mask = lengths_mask(lengths, B, T, log_b.device)
    log_pi, log_A, log_b = _common_dtype(log_pi, log_A, log_b)
    if viterbi_compiled.applies(log_b):
        path, score, finite = viterbi_compiled.viterbi_compiled(log_pi, log_A, log_b, mask.sum(1))
        if not finite:
            check(log_pi, log_A, log_b, lengths)  # raises, naming the step
        return path, score
    path, score = _viterbi_eager(log_pi, log_A, log_b, mask)
    off = ~mask | (score == -math.inf)[:, None]
    return path.masked_fill(off, -1), score


def _viterbi_eager(
    log_pi: Tensor, log_A: Tensor, log_b: Tensor, mask: Tensor
) -> tuple[Tensor, Tensor]:
    """Viterbi in eager PyTorch ops (CUDA, and the CPU without numba): the path [B, T]
    (arbitrary beyond each length) and the score [B]."""
    T, B = mask.T.shape
    active = None if bool(mask.all()) else mask.T[:, None, :].contiguous()  # [T, 1, B]
    deltas = _viterbi_deltas(log_pi, log_A, log_b, active)
    score, state = deltas[-1].max(0)
    if not bool((score < math.inf).all()):  # NaN or +inf at a valid step travels to the end
        check(log_pi, log_A, log_b, mask.sum(1))  # raises, naming the step
    # Back-pointers are recomputed for the chosen state only: B·K work a step, not B·K·K.
    path = torch.empty((T, B), dtype=torch.long, device=log_b.device)
    path[-1] = state
    into = log_A.T.contiguous()  # into[k] = log A[:, k], a row to gather
    for t in range(T - 1, 0, -1):
        previous = (deltas[t - 1].T + into.index_select(0, state)).max(1).indices
        state = previous if active is None else torch.where(active[t, 0], previous, state)
        path[t - 1] = state
    return path.T, score


def _viterbi_deltas(log_pi: Tensor, log_A: Tensor, log_b: Tensor, active: Tensor | None) -> Tensor:
    r""":math:`δ_t(k) = \max_z \log p(x_{1:t}, z_{1:t-1}, z_t = k)` as ``[T, K, B]``: the
    batch is the contiguous axis, so that the step's max over j of
    :math:`δ_{t-1}(j) + \log A_{jk}` is a reduction over the leading axis of a ``[K, K, B]``
    block. The emissions are transposed to that layout a chunk of steps at a time. A padded
    step (``active`` False) carries δ over unchanged."""
    B, T, K = log_b.shape
    chunk = max(1, min(T, _CHUNK_ELEMENTS // max(1, B * K)))
    emissions = log_b.new_empty((chunk, K, B))
    deltas = log_b.new_empty((T, K, B))
    steps = log_b.new_empty((K, K, B))
    into = log_A[:, :, None]
    for t in range(T):
        c = t % chunk
        if c == 0:
            n = min(chunk, T - t)
            emissions[:n].copy_(log_b[:, t : t + n].permute(1, 2, 0))
        if t == 0:
            torch.add(log_pi[:, None], emissions[0], out=deltas[0])
            continue
        torch.add(deltas[t - 1][:, None, :], into, out=steps)
        torch.amax(steps, 0, out=deltas[t])
        deltas[t].add_(emissions[c])
        if active is not None:
            torch.where(active[t], deltas[t], deltas[t - 1], out=deltas[t])
    return deltas

r"""Connectionist temporal classification: loss, forward–backward lattice and decoding.

A network emits per-frame log-probabilities :math:`y_t(k) = \log p(k \mid t)` over C classes,
one of which is the blank. A path :math:`π \in \{0..C-1\}^T` maps to a labelling by
:math:`\mathcal B`: merge repeated symbols, then drop blanks. The likelihood of a labelling
:math:`l` of length S is the sum over all paths that collapse to it,

.. math:: p(l \mid x) = \sum_{π \in \mathcal B^{-1}(l)} \prod_{t=1}^T e^{y_t(π_t)},

computed on the blank-extended sequence :math:`l' = (b, l_1, b, l_2, …, l_S, b)` of length
2S+1 by the forward recursion (log space throughout, :math:`\oplus` = log-sum-exp)

.. math:: α_t(s) = y_t(l'_s) + \big[α_{t-1}(s) \oplus α_{t-1}(s-1)
          \oplus 𝟙[l'_s \ne b,\ l'_s \ne l'_{s-2}]\, α_{t-1}(s-2)\big],

started from :math:`α_0(0) = y_0(b)`, :math:`α_0(1) = y_0(l_1)`, and ended at
:math:`\log p(l \mid x) = α_{T-1}(2S) \oplus α_{T-1}(2S-1)`. The skip transition (s−2 → s) is
what lets a path leave out the blank between two different labels; between equal labels a
blank is mandatory, so a labelling with r adjacent repeats needs T ≥ S + r frames, and
shorter inputs have likelihood 0 (loss +∞). The backward variable
:math:`β_t(s) = \log p(y_{t+1:T} \text{ completes } l \mid s \text{ at } t)` runs the same
recursion from the end, and :math:`α_t(s) + β_t(s) - \log p(l \mid x)` is the log of the
occupation probability :math:`γ_t(s)` of extended position s at frame t; for every t,
:math:`\bigoplus_s α_t(s) + β_t(s) = \log p(l \mid x)`.

:func:`ctc_loss` has the signature and semantics of :func:`torch.nn.functional.ctc_loss`;
its gradient is Graves et al.'s (2006, eq. 16), from the occupation probabilities of the
backward pass, not autograd's record of the recursion. :func:`greedy_decode` takes the best
path; :func:`prefix_beam_search` is Hannun's prefix beam search, which sums over the paths of
each candidate prefix, and fuses a language model's score into the ranking when given one.

A log-probability of −∞ (a class forbidden at a frame) is a structural zero: the paths through
it drop out of the sum, its gradient is 0 and every other is finite (torch's ``ctc_loss``
gives NaN there); a labelling it leaves with no alignment has loss +∞ and gradient 0 (or loss
0 with ``zero_infinity``). NaN or +∞ at a frame within its input length is a ``ValueError``
that names the frame, in the loss, the lattice and the decoders.

References:
    Graves, Fernández, Gomez & Schmidhuber (2006), Connectionist temporal classification:
    labelling unsegmented sequence data with recurrent neural networks, ICML.
    Hannun (2017), Sequence modeling with CTC, Distill.
    Hannun, Maas, Jurafsky & Ng (2014), First-pass large vocabulary continuous speech
    recognition using bidirectional recurrent DNNs, arXiv:1408.2873.
"""

from __future__ import annotations

import itertools
import math
import operator
from collections.abc import Sequence
from typing import NamedTuple, Protocol

import torch
from torch import Tensor

from reparam import checks
from reparam.underflow import exp_underflowing_

REDUCTIONS = ("none", "mean", "sum")
NEG_INF = float("-inf")

Lengths = Tensor | Sequence[int]


class CTCLattice(NamedTuple):
    """Forward and backward variables of a batch, each ``[T, N, 2S+1]`` in log space and
    ``-inf`` at frames past the input length and positions past 2·target length."""

    log_alpha: Tensor
    log_beta: Tensor
    log_likelihood: Tensor  # [N], log p(l | x); -inf where no alignment exists
    extended_labels: Tensor  # [N, 2S+1], l' (blank at even positions and in the padding)
    input_lengths: Tensor
    target_lengths: Tensor


def _lengths(lengths: Lengths, name: str, n: int, device: torch.device) -> Tensor:
    out = torch.as_tensor(lengths, device=device)
    if out.numel() == 0 and not isinstance(lengths, Tensor):  # [] reads as float32
        out = out.long()
    if out.dtype.is_floating_point or out.dtype == torch.bool or out.dtype.is_complex:
        raise ValueError(f"{name} must be integers, got dtype {out.dtype}")
    out = out.long().reshape(-1) if out.dim() == 0 and n == 1 else out.long()
    if out.dim() != 1 or out.shape[0] != n:
        raise ValueError(
            f"{name} must have one entry per sequence (N = {n}), got shape {tuple(out.shape)}"
        )
    if (out < 0).any():
        raise ValueError(f"{name} must be non-negative, got {out.tolist()}")
    return out


def _prepare(
    log_probs: Tensor, targets: Tensor, input_lengths: Lengths, target_lengths: Lengths, blank: int
) -> tuple[Tensor, Tensor, Tensor]:
    """Checks the inputs; returns padded targets ``[N, S]`` (blank past each length) and the
    two length tensors."""
    in_len = _check_frames(log_probs, input_lengths, blank)
    N, C = log_probs.shape[1:]
    device = log_probs.device
    tgt_len = _lengths(target_lengths, "target_lengths", N, device)
    targets = torch.as_tensor(targets, device=device)
    if targets.dtype.is_floating_point or targets.dtype == torch.bool:
        raise ValueError(f"targets must be integer class indices, got dtype {targets.dtype}")
    targets = targets.long()
    if targets.dim() == 2:
        if targets.shape[0] != N:
            raise ValueError(
                f"padded targets must have N = {N} rows (the batch of log_probs), "
                f"got {targets.shape[0]}"
            )
        if (tgt_len > targets.shape[1]).any():
            raise ValueError(
                f"target_lengths must be at most S = {targets.shape[1]} (the width of the "
                f"padded targets), got {tgt_len.tolist()}"
            )
        padded = targets
    elif targets.dim() == 1:
        total = int(tgt_len.sum())
        if total > targets.shape[0]:
            raise ValueError(
                f"concatenated targets hold {targets.shape[0]} labels but target_lengths "
                f"sum to {total}"
            )
        width = int(tgt_len.max()) if N else 0
        padded = targets.new_full((N, width), blank)
        for i, piece in enumerate(torch.split(targets[:total], tgt_len.tolist())):
            padded[i, : piece.shape[0]] = piece
    else:
        raise ValueError(
            f"targets must be padded [N, S] or concatenated 1-D, got shape {tuple(targets.shape)}"
        )
    valid = torch.arange(padded.shape[1], device=device) < tgt_len[:, None]
    used = padded[valid]
    if ((used < 0) | (used >= C)).any():
        raise ValueError(f"target labels must lie in [0, {C}), got {sorted(set(used.tolist()))}")
    if (used == blank).any():
        raise ValueError(f"targets must not contain the blank label {blank}")
    return torch.where(valid, padded, blank), in_len, tgt_len


def _unbatched(log_probs: Tensor, targets: Tensor) -> tuple[Tensor, Tensor, bool]:
    """torch's unbatched form, ``log_probs`` [T, C] and ``targets`` [S] (or [1, S]), as a
    batch of one; and whether it was that form."""
    if not isinstance(log_probs, Tensor) or log_probs.dim() not in (2, 3):
        shape = tuple(log_probs.shape) if isinstance(log_probs, Tensor) else type(log_probs)
        raise ValueError(f"log_probs must be a 3-D tensor [T, N, C] or 2-D [T, C], got {shape}")
    if log_probs.dim() == 3:
        return log_probs, targets, False
    targets = torch.as_tensor(targets)
    return log_probs.unsqueeze(1), targets.unsqueeze(0) if targets.dim() == 1 else targets, True


def _extend(padded: Tensor, blank: int) -> tuple[Tensor, Tensor]:
    """l' of each target ``[N, 2S+1]`` and the mask of the skip move."""
    N, S = padded.shape
    ext = padded.new_full((N, 2 * S + 1), blank)
    ext[:, 1::2] = padded
    return ext, _skips(ext, blank)


def _skips(ext: Tensor, blank: int) -> Tensor:
    r"""May a path reach position s from s − 2: :math:`l'_s \ne b` and :math:`l'_s \ne l'_{s-2}`."""
    skip = torch.zeros(ext.shape, dtype=torch.bool, device=ext.device)
    skip[:, 2:] = (ext[:, 2:] != blank) & (ext[:, 2:] != ext[:, :-2])
    return skip


def _recursion(emit: Tensor, skip: Tensor, start: Tensor) -> Tensor:
    r"""The α recursion before each frame's emission,
    :math:`P_t(s) = α_{t-1}(s) \oplus α_{t-1}(s-1) \oplus 𝟙[\text{skip into } s]\, α_{t-1}(s-2)`
    with :math:`α_t = P_t + y_t`, for t = 0..T: ``[T+1, R, L+2]`` for emissions held in
    ``emit[:, 0]`` of ``[T, 2, R, L+2]``, whose last two columns are -inf (and no NaN anywhere);
    ``emit[:, 1]`` is overwritten. Row r starts from α_{-1} = 0 at position ``start[r]`` and
    -inf elsewhere, which makes the general step give the usual initialisation at t = 0;
    :math:`P_{T_n}(2S_n) = \log p(l \mid x)`, as the skip never reaches a blank. The R rows lie
    end to end in one flat buffer, each followed by its two -inf cells, so that α_{t-1}(s-1)
    and α_{t-1}(s-2) are contiguous views of it and each op runs over one vector; a second
    buffer holds α_{t-1}(s) + log 𝟙[skip from s into s + 2], written with α by the same add
    from ``emit[:, 1]`` = the emissions plus that mask."""
    T, _, R, W = emit.shape
    mask = torch.full((R, W), NEG_INF, dtype=emit.dtype, device=emit.device)
    mask[:, : W - 2][:, :-2].masked_fill_(skip[:, 2:], 0.0)  # from s into s + 2
    torch.add(emit[:, 0], mask, out=emit[:, 1])
    prefix = torch.empty((T + 1, R, W), dtype=emit.dtype, device=emit.device)
    slots = torch.full((2, 2, 2 + R * W), NEG_INF, dtype=emit.dtype, device=emit.device)
    slots[0, 0, 2:].view(R, W).scatter_(1, start[:, None], 0.0)
    stay, step = slots[:, 0, 2:].unbind(0), slots[:, 0, 1:-1].unbind(0)
    jump = slots[:, 1, :-2].unbind(0)
    write = slots[1, :, 2:], slots[0, :, 2:]  # α_t goes to the other slot
    before, emits = prefix.view(T + 1, R * W).unbind(0), emit.view(T, 2, R * W).unbind(0)
    for t, k in zip(range(T + 1), itertools.cycle((0, 1))):
        torch.logaddexp(stay[k], step[k], out=before[t])
        torch.logaddexp(before[t], jump[k], out=before[t])
        if t < T:
            torch.add(before[t], emits[t], out=write[k])
    return prefix


def _likelihood(prefix: Tensor, in_len: Tensor, tgt_len: Tensor) -> Tensor:
    """log p(l | x) = P_{T_n}(2 S_n) of the forward rows (the first N) of ``prefix``."""
    rows = torch.arange(in_len.shape[0], device=in_len.device)
    return prefix[in_len, rows, 2 * tgt_len]


@torch.no_grad()
def _lattice(
    log_probs: Tensor,
    ext: Tensor,
    skip: Tensor,
    in_len: Tensor,
    tgt_len: Tensor,
    blank: int,
    backward: bool = True,
) -> tuple[Tensor, Tensor | None, Tensor]:
    """α ``[T, N, L]`` (-inf past each input length), β (or None when not ``backward``;
    arbitrary past each input length) and log p(l | x). β is α's recursion run on the
    problem reversed in time and position, which starts at frame T − T_n and position L − L_n
    (L_n = 2 S_n + 1) of the flipped emissions, held there before it by an emission of 0 at
    that position and -inf elsewhere: β_t(s) = P^{rev}_{T-1-t}(L-1-s), the reversed α before
    its emission. Both run in one recursion over a batch of 2N rows."""
    T, N, L = log_probs.shape[0], *ext.shape
    R = 2 * N if backward else N
    pair = torch.empty((T, 2, R, L + 2), dtype=log_probs.dtype, device=log_probs.device)
    emit = pair[:, 0]
    frames = torch.arange(T, device=log_probs.device)[:, None]
    torch.gather(log_probs, 2, ext[None].expand(T, -1, -1), out=emit[:, :N, :L])
    emit[:, :N, :L].masked_fill_((frames >= in_len[None, :])[..., None], NEG_INF)
    emit[:, :, L:] = NEG_INF
    start = torch.zeros(R, dtype=torch.long, device=ext.device)
    if backward:
        start[N:] = L - 1 - 2 * tgt_len
        held = torch.full((N, L), NEG_INF, dtype=emit.dtype, device=emit.device)
        held.scatter_(1, start[N:, None], 0.0)
        waiting = (frames < T - in_len[None, :])[..., None]
        torch.where(waiting, held, emit[:, :N, :L].flip(0, 2), out=emit[:, N:, :L])
        skip = torch.cat((skip, _skips(ext.flip(1), blank)), dim=0)
    prefix = _recursion(pair, skip, start)
    log_likelihood = _likelihood(prefix, in_len, tgt_len)
    alphas = prefix[:T, :N, :L].add_(emit[:, :N, :L])
    betas = prefix[:T, N:, :L].flip(0, 2) if backward else None
    return alphas, betas, log_likelihood


def _occupation(alphas: Tensor, betas: Tensor, log_likelihood: Tensor) -> Tensor:
    """γ_t(s) = exp(α_t(s) + β_t(s) - log p(l | x)); zero for labellings with no alignment
    (and where α is -inf). Overwrites ``betas``."""
    shift = torch.where(torch.isfinite(log_likelihood), log_likelihood, math.inf)
    # most of the lattice's occupations underflow
    return exp_underflowing_(betas.add_(alphas).sub_(shift[None, :, None]))


class _NegativeLogLikelihood(torch.autograd.Function):
    r"""-log p(l | x) per sequence by the α recursion, with Graves et al.'s gradient (eq. 16)
    from the β recursion: :math:`∂(-\log p)/∂y_t(k) = -\sum_{s: l'_s = k} γ_t(s)`, computed
    without autograd's record of the T-step recursion. When ``log_probs`` needs a gradient the
    forward pass runs α and β together and keeps γ for the backward pass."""

    @staticmethod
    def forward(ctx, log_probs, ext, skip, in_len, tgt_len, blank):  # type: ignore[override]
        needed = ctx.needs_input_grad[0]
        alphas, betas, log_likelihood = _lattice(
            log_probs, ext, skip, in_len, tgt_len, blank, backward=needed
        )
        if needed:
            ctx.save_for_backward(ext, _occupation(alphas, betas, log_likelihood))
            ctx.shape = log_probs.shape
        return -log_likelihood

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        ext, gamma = ctx.saved_tensors
        index = ext.unsqueeze(0).expand_as(gamma)
        grad_log_probs = gamma.new_zeros(ctx.shape).scatter_add_(2, index, gamma)
        return grad_log_probs.mul_(-grad[None, :, None]), None, None, None, None, None


def ctc_loss(
    log_probs: Tensor,
    targets: Tensor,
    input_lengths: Lengths,
    target_lengths: Lengths,
    blank: int = 0,
    reduction: str = "mean",
    zero_infinity: bool = False,
) -> Tensor:
    r"""The CTC loss :math:`-\log p(l \mid x)`, as :func:`torch.nn.functional.ctc_loss`.

    ``log_probs`` is ``[T, N, C]`` (log-softmax outputs), ``targets`` padded ``[N, S]`` or the
    N targets concatenated in 1-D, the lengths tensors or sequences of N integers; or, as
    torch's unbatched form, ``log_probs`` ``[T, C]``, ``targets`` ``[S]`` and lengths of one
    entry (0-d or 1-element), the loss then 0-d for every reduction.
    ``reduction``: ``"none"`` gives ``[N]``, ``"sum"`` their sum, ``"mean"`` the batch mean of
    each loss divided by its target length (at least 1; an empty batch is an error).
    Labellings no alignment reaches (input too short, or every alignment through a
    log-probability of −∞) have loss +∞ and a zero gradient (torch's is NaN);
    ``zero_infinity`` turns the loss into 0. A log-probability of −∞ is a structural zero: no
    alignment uses it, its gradient is 0 and the others' are finite (torch's are NaN). NaN or
    +∞ at a frame within the input length is a ``ValueError``.
    The gradient is the exact one w.r.t. ``log_probs``; torch's adds :math:`e^{y_t(k)}` (it
    presumes a log-softmax), a term that log-softmax's backward removes, so the gradients of
    the logits agree.

    >>> lp = torch.tensor([[0.5, 0.5], [0.5, 0.5]]).log().unsqueeze(1)  # T = 2, N = 1, C = 2
    >>> ctc_loss(lp, torch.tensor([[1]]), [2], [1], reduction="none").neg().exp()
    tensor([0.7500])
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"unknown reduction {reduction!r}; choose from {', '.join(REDUCTIONS)}")
    log_probs, targets, unbatched = _unbatched(log_probs, targets)
    padded, in_len, tgt_len = _prepare(log_probs, targets, input_lengths, target_lengths, blank)
    if reduction == "mean" and log_probs.shape[1] == 0:
        raise ValueError(
            "log_probs holds no sequences (N = 0): reduction='mean' is undefined; use 'sum'"
        )
    ext, skip = _extend(padded, blank)
    loss = _NegativeLogLikelihood.apply(log_probs, ext, skip, in_len, tgt_len, blank)
    if zero_infinity:
        loss = torch.where(loss == math.inf, torch.zeros_like(loss), loss)
    if reduction == "none":
        return loss[0] if unbatched else loss
    if reduction == "sum":
        return loss.sum()
    return (loss / tgt_len.clamp_min(1).to(loss.dtype)).mean()


def ctc_alpha_beta(
    log_probs: Tensor,
    targets: Tensor,
    input_lengths: Lengths,
    target_lengths: Lengths,
    blank: int = 0,
) -> CTCLattice:
    r"""The forward and backward variables :math:`α_t(s)` and :math:`β_t(s)` of each
    sequence (arguments as :func:`ctc_loss`; the unbatched form gives ``[T, 2S+1]`` and 0-d
    fields). α includes frame t's emission, β does not, so
    :math:`\bigoplus_s α_t(s) + β_t(s) = \log p(l \mid x)` at every frame t < T_n.

    >>> lp = torch.full((3, 1, 2), 0.5).log()
    >>> lat = ctc_alpha_beta(lp, torch.tensor([[1]]), [3], [1])
    >>> gap = torch.logsumexp(lat.log_alpha + lat.log_beta, dim=2).squeeze(1) - lat.log_likelihood
    >>> bool(gap.abs().max() < 1e-6)
    True
    """
    log_probs, targets, unbatched = _unbatched(log_probs, targets)
    padded, in_len, tgt_len = _prepare(log_probs, targets, input_lengths, target_lengths, blank)
    ext, skip = _extend(padded, blank)
    log_alpha, log_beta, log_likelihood = _lattice(log_probs, ext, skip, in_len, tgt_len, blank)
    past = torch.arange(log_probs.shape[0], device=in_len.device)[:, None] >= in_len
    log_beta.masked_fill_(past[..., None], NEG_INF)
    lattice = CTCLattice(log_alpha, log_beta, log_likelihood, ext, in_len, tgt_len)
    if unbatched:  # the batch axis dropped, as the input had none
        lattice = CTCLattice(log_alpha[:, 0], log_beta[:, 0], *(v[0] for v in lattice[2:]))
    return lattice


def ctc_posteriors(
    log_probs: Tensor,
    targets: Tensor,
    input_lengths: Lengths,
    target_lengths: Lengths,
    blank: int = 0,
) -> Tensor:
    r"""Occupation probabilities :math:`γ_t(s) = \exp(α_t(s) + β_t(s) - \log p(l \mid x))`
    of the extended positions, ``[T, N, 2S+1]`` (unbatched: ``[T, 2S+1]``): each frame t < T_n
    sums to 1 over s; frames
    past the input length and labellings with no alignment are all zeros.

    >>> lp = torch.full((2, 1, 2), 0.5).log()
    >>> ctc_posteriors(lp, torch.tensor([[1]]), [2], [1])[:, 0]
    tensor([[0.3333, 0.6667, 0.0000],
            [0.0000, 0.6667, 0.3333]])
    """
    lat = ctc_alpha_beta(log_probs, targets, input_lengths, target_lengths, blank)
    if lat.log_alpha.dim() == 2:  # unbatched
        return _occupation(
            lat.log_alpha[:, None], lat.log_beta[:, None].clone(), lat.log_likelihood[None]
        )[:, 0]
    return _occupation(lat.log_alpha, lat.log_beta.clone(), lat.log_likelihood)


def _check_frames(log_probs: Tensor, input_lengths: Lengths, blank: int) -> Tensor:
    """Check ``log_probs``, ``blank`` and ``input_lengths`` (no NaN or +inf at the frames
    each length covers); return the input lengths."""
    if not isinstance(log_probs, Tensor) or log_probs.dim() != 3:
        shape = tuple(log_probs.shape) if isinstance(log_probs, Tensor) else type(log_probs)
        raise ValueError(f"log_probs must be a 3-D tensor [T, N, C], got {shape}")
    if not log_probs.dtype.is_floating_point:
        raise ValueError(f"log_probs must be floating point, got dtype {log_probs.dtype}")
    T, N, C = log_probs.shape
    try:
        index = None if isinstance(blank, bool) else operator.index(blank)
    except TypeError:
        index = None
    if index is None or not 0 <= index < C:
        raise ValueError(f"blank must be an integer class index in [0, {C}), got {blank!r}")
    in_len = _lengths(input_lengths, "input_lengths", N, log_probs.device)
    if (in_len > T).any():
        raise ValueError(f"input_lengths must be at most T = {T}, got {in_len.tolist()}")
    values = log_probs.detach()
    if values.numel() and not values.max() < math.inf:  # NaN or +inf: at a frame in use?
        active = torch.arange(T, device=values.device)[:, None] < in_len
        bad = (~(values < math.inf)).any(2) & active
        if bad.any():
            t, n = bad.nonzero()[0].tolist()
            value = values[t, n][~(values[t, n] < math.inf)][0].item()
            raise ValueError(
                f"log_probs must hold log-probabilities (-inf allowed, NaN and +inf not), got "
                f"{value} at frame {t} of sequence {n}"
            )
    return in_len


def greedy_decode(log_probs: Tensor, input_lengths: Lengths, blank: int = 0) -> list[list[int]]:
    """Best-path decoding: the most probable class of each frame, repeats merged, blanks
    dropped (not the most probable labelling, which sums over paths).

    >>> lp = torch.tensor([[0, 1, 1, 0, 2, 2]]).T.unsqueeze(2).eq(torch.arange(3)).float().log()
    >>> greedy_decode(lp, [6])
    [[1, 2]]
    """
    in_len = _check_frames(log_probs, input_lengths, blank)
    best = log_probs.argmax(2).T.tolist()  # [N, T]
    out = []
    for path, n in zip(best, in_len.tolist(), strict=True):
        labels, prev = [], None
        for k in path[:n]:
            if k != prev and k != blank:
                labels.append(k)
            prev = k
        out.append(labels)
    return out


def _logadd(a: float, b: float) -> float:
    if a == NEG_INF:
        return b
    if b == NEG_INF:
        return a
    m = max(a, b)
    return m + math.log1p(math.exp(-abs(a - b)))


class LanguageModel(Protocol):
    """What :func:`prefix_beam_search` asks of a language model over the labels (blank
    excluded): the log-probability of a label, or of the symbol ``end`` that closes a
    labelling, after a history of labels (:class:`reparam.latent.ngram.NGramLM` is one)."""

    end: int

    def log_prob(self, symbol: int, history: tuple[int, ...]) -> float: ...


class _Fusion(NamedTuple):
    r"""Shallow fusion's prior of a prefix, :math:`α \log p_{lm}(l) + β |l|`, one label at
    a time, and its end term; no language model when ``lm`` is None."""

    lm: LanguageModel | None
    lm_weight: float
    insertion_bonus: float

    def grown(self, prior: float, prefix: tuple[int, ...], label: int) -> float:
        """The prior of ``prefix`` + ``label`` from that of ``prefix``."""
        if self.lm is None:
            return prior + self.insertion_bonus
        return prior + self.lm_weight * self.lm.log_prob(label, prefix) + self.insertion_bonus

    def end(self, prefix: tuple[int, ...]) -> float:
        r""":math:`α \log p_{lm}(\text{end} \mid l)`, added once the frames are spent."""
        return 0.0 if self.lm is None else self.lm_weight * self.lm.log_prob(self.lm.end, prefix)


def prefix_beam_search(
    log_probs: Tensor,
    input_lengths: Lengths,
    beam_width: int = 8,
    blank: int = 0,
    *,
    lm: LanguageModel | None = None,
    lm_weight: float = 1.0,
    insertion_bonus: float = 0.0,
) -> list[tuple[list[int], float]]:
    r"""Hannun's CTC prefix beam search: per sequence, the best labelling found and its log
    probability :math:`\log p(l \mid x)`, or with a language model its fused score.

    Each prefix keeps two log scores, of the paths ending in a blank (:math:`p_b`) and in
    its last label (:math:`p_{nb}`); at each frame, a blank or a repeat of the last label
    keeps the prefix, a new label extends it (a repeat extends it only after a blank), and
    the ``beam_width`` prefixes of highest :math:`p_b \oplus p_{nb}` survive. With a beam as
    wide as the number of prefixes the search is exact.

    Shallow fusion (Hannun 2017, "Language models"; Hannun et al. 2014) ranks the prefixes
    by :math:`\log p_{ctc}(l \mid x) + α \log p_{lm}(l) + β |l|` instead, with
    :math:`α` = ``lm_weight`` (used only with an ``lm``; 0 ignores it) and :math:`β` =
    ``insertion_bonus``, which offsets the per-label cost of the language model; the
    labelling returned maximises that score plus :math:`α \log p_{lm}(\text{end} \mid l)`,
    which is the score given. The language model term of a prefix is the same for all its
    paths, so it rides beside :math:`p_b` and :math:`p_{nb}` rather than inside them.

    >>> lp = torch.tensor([[0.6, 0.4], [0.6, 0.4]]).log().unsqueeze(1)
    >>> [(labels, round(score, 4)) for labels, score in prefix_beam_search(lp, [2])]
    [([1], -0.4463)]
    >>> labels, score = prefix_beam_search(lp, [2], insertion_bonus=-1.0)[0]  # fewer labels
    >>> labels, round(score, 4)
    ([], -1.0217)
    """
    if beam_width < 1:
        raise ValueError(f"beam_width must be at least 1, got {beam_width}")
    fusion = _Fusion(
        lm if checks.real("lm_weight", lm_weight) else None,
        float(lm_weight),
        checks.real("insertion_bonus", insertion_bonus),
    )
    in_len = _check_frames(log_probs, input_lengths, blank)
    labels = [k for k in range(log_probs.shape[2]) if k != blank]
    table = log_probs.detach().double().transpose(0, 1).tolist()  # [N, T, C]
    return [
        _beam_search(frames[:n], labels, blank, beam_width, fusion)
        for frames, n in zip(table, in_len.tolist(), strict=True)
    ]


# a prefix's [log p_b, log p_nb, prior of shallow fusion]
_Beams = dict[tuple[int, ...], list[float]]


def _beam_search(
    frames: list[list[float]], labels: list[int], blank: int, beam_width: int, fusion: _Fusion
) -> tuple[list[int], float]:
    """The best labelling of one sequence's frames and its score."""
    beams: _Beams = {(): [0.0, NEG_INF, 0.0]}
    for y in frames:
        beams = _beam_step(beams, y, labels, blank, beam_width, fusion)
    scores = {
        prefix: _logadd(pb, pnb) + prior + fusion.end(prefix)
        for prefix, (pb, pnb, prior) in beams.items()
    }
    best = max(scores, key=scores.__getitem__)
    return list(best), scores[best]


def _beam_step(
    beams: _Beams, y: list[float], labels: list[int], blank: int, beam_width: int, fusion: _Fusion
) -> _Beams:
    """The ``beam_width`` best prefixes after one more frame of log-probabilities ``y``."""
    nxt: _Beams = {}
    for prefix, (pb, pnb, prior) in beams.items():
        total = _logadd(pb, pnb)
        stay = nxt.setdefault(prefix, [NEG_INF, NEG_INF, prior])
        stay[0] = _logadd(stay[0], total + y[blank])
        last = prefix[-1] if prefix else None
        for k in labels:
            longer = (*prefix, k)
            grown = nxt.get(longer)
            if grown is None:
                grown = nxt[longer] = [NEG_INF, NEG_INF, fusion.grown(prior, prefix, k)]
            if k == last:
                stay[1] = _logadd(stay[1], pnb + y[k])
                grown[1] = _logadd(grown[1], pb + y[k])
            else:
                grown[1] = _logadd(grown[1], total + y[k])
    ranked = sorted(nxt.items(), key=lambda item: -(_logadd(item[1][0], item[1][1]) + item[1][2]))
    return dict(ranked[:beam_width])

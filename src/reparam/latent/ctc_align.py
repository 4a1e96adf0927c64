r"""CTC forced alignment: the single best path of a known labelling, by Viterbi.

On the blank-extended sequence :math:`l' = (b, l_1, b, …, l_S, b)` of :mod:`reparam.latent.ctc`,
the max-product recursion replaces the forward recursion's :math:`\oplus` by max,

.. math:: δ_t(s) = y_t(l'_s) + \max\big(δ_{t-1}(s),\ δ_{t-1}(s-1),
          \ 𝟙[l'_s \ne b,\ l'_s \ne l'_{s-2}]\, δ_{t-1}(s-2)\big),

from :math:`δ_0(0) = y_0(b)`, :math:`δ_0(1) = y_0(l_1)`; the best path ends at the better of
positions 2S and 2S − 1 at frame T − 1 and is read back through the move kept at each cell
(ties go to staying, then to the next position). Its log-probability is
:math:`\max_{π \in \mathcal B^{-1}(l)} \sum_t y_t(π_t)`, and the frames spent at position
2j + 1 are label j's segment, contiguous and non-empty on every path.

References:
    Graves, Fernández, Gomez & Schmidhuber (2006), Connectionist temporal classification:
    labelling unsegmented sequence data with recurrent neural networks, ICML.
    Viterbi (1967), Error bounds for convolutional codes and an asymptotically optimum
    decoding algorithm, IEEE Trans. Information Theory 13(2).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from reparam.latent.ctc import NEG_INF, Lengths, _extend, _prepare, _unbatched

STAY, STEP, SKIP = 0, 1, 2  # the move into a position: from s, s − 1 or s − 2


class CTCAlignment(NamedTuple):
    """The Viterbi path of one sequence over its T_n frames."""

    states: Tensor  # [T_n], the extended position s of each frame (even: a blank)
    labels: Tensor  # [T_n], the class l'_s of each frame
    segments: Tensor  # [S_n, 2], the frames [start, end) of each target label
    log_prob: float  # the path's log-probability, the sum of its frames' log-probabilities


def ctc_forced_align(
    log_probs: Tensor,
    targets: Tensor,
    input_lengths: Lengths,
    target_lengths: Lengths,
    blank: int = 0,
) -> list[CTCAlignment] | CTCAlignment:
    r"""The most probable path that collapses to each target, by the max-product recursion
    :math:`δ_t(s)` of the module docstring (Graves et al. 2006; Viterbi 1967): per frame its
    extended position and class, per target label the frames ``[start, end)`` it holds, and
    the path's log-probability.

    Arguments as :func:`reparam.latent.ctc.ctc_loss`: ``[T, N, C]`` gives a list of N
    alignments, the unbatched ``[T, C]`` with a target ``[S]`` one alignment. A target that no
    path reaches (too few frames, or every path through a log-probability of −∞) is a
    ``ValueError``.

    >>> lp = torch.tensor([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4]]).log()  # T = 3, C = 2
    >>> a = ctc_forced_align(lp, torch.tensor([1]), 3, 1)
    >>> a.states.tolist(), a.labels.tolist(), a.segments.tolist(), round(a.log_prob, 4)
    ([0, 1, 2], [0, 1, 0], [[1, 2]], -1.0906)
    """
    log_probs, targets, unbatched = _unbatched(log_probs, targets)
    padded, in_len, tgt_len = _prepare(log_probs, targets, input_lengths, target_lengths, blank)
    ext, skip = _extend(padded, blank)
    delta, moves = _viterbi(log_probs.detach(), ext, skip, in_len)
    alignments = [
        _backtrack(delta[n], moves[:frames, n], ext[n], length, n)
        for n, (frames, length) in enumerate(zip(in_len.tolist(), tgt_len.tolist(), strict=True))
    ]
    return alignments[0] if unbatched else alignments


@torch.no_grad()
def _viterbi(log_probs: Tensor, ext: Tensor, skip: Tensor, in_len: Tensor) -> tuple[Tensor, Tensor]:
    """δ at each sequence's last frame ``[N, L]`` and the move into each cell ``[T, N, L]``.
    δ starts before the first frame at 0 in position 0, so the general step gives δ_0, and
    stays put past each input length."""
    T, N, L = log_probs.shape[0], *ext.shape
    emit = log_probs.gather(2, ext[None].expand(T, -1, -1))
    delta = torch.full((N, L + 2), NEG_INF, dtype=log_probs.dtype, device=log_probs.device)
    delta[:, 2] = 0.0  # columns 0 and 1 stay -inf: positions -2 and -1
    moves = torch.empty((T, N, L), dtype=torch.uint8, device=log_probs.device)
    for t in range(T):
        stay, step = delta[:, 2:], delta[:, 1:-1]
        jump = delta[:, :-2].masked_fill(~skip, NEG_INF)
        move = torch.where(step > stay, STEP, STAY)
        best = torch.maximum(stay, step)
        move = torch.where(jump > best, SKIP, move)
        best = torch.maximum(best, jump).add_(emit[t])
        moves[t] = move
        active = t < in_len
        delta[active, 2:] = best[active]
    return delta[:, 2:], moves


def _backtrack(
    delta: Tensor, moves: Tensor, ext: Tensor, length: int, sequence: int
) -> CTCAlignment:
    """Read one sequence's path back from the better of its two end positions."""
    ends = [2 * length, 2 * length - 1] if length else [0]
    s = max(ends, key=lambda e: delta[e].item())  # the first on a tie: the final blank
    log_prob = delta[s].item()
    if log_prob == NEG_INF:
        raise ValueError(
            f"the target of sequence {sequence} has no alignment within its {moves.shape[0]} "
            f"frames (too few, or every path crosses a log-probability of -inf)"
        )
    states = [0] * moves.shape[0]
    for t, row in zip(range(moves.shape[0] - 1, -1, -1), moves.flip(0).tolist(), strict=True):
        states[t] = s
        s -= row[s]
    path = torch.tensor(states, dtype=torch.long, device=ext.device)
    return CTCAlignment(path, ext[path], _segments(states, length, ext.device), log_prob)


def _segments(states: list[int], length: int, device: torch.device) -> Tensor:
    """The frames ``[start, end)`` at each label's position 2j + 1."""
    segments = [[0, 0] for _ in range(length)]  # end 0: not reached yet
    for t, s in enumerate(states):
        if s % 2:
            segment = segments[s // 2]
            if segment[1] == 0:
                segment[0] = t
            segment[1] = t + 1
    return torch.tensor(segments, dtype=torch.long, device=device).reshape(length, 2)

r"""A loss on, and measures of, the attention matrices of a sequence-to-sequence speech model:
the guided-attention penalty (Tachibana et al. 2018), the focus rate (Ren et al. 2019), how
diagonal and monotone an alignment is, and how well it agrees with the synthesizer's own word
times (:func:`word_agreement`). The distillation losses are in :mod:`reparam.speech.distillation`.

An alignment is ``[B, S, N]``: at decoder step s, a distribution over the N encoder positions.
``steps`` ``[B]`` and ``positions`` ``[B]`` give each utterance's valid decoder steps and
encoder positions (the rest is padding, left out of every sum). The guided-attention penalty is
:math:`\frac{1}{|V|}\sum_{(s,n) \in V} α_{sn} \big(1 - e^{-(n/N_b - s/S_b)^2 / 2g^2}\big)`
over the valid cells V, with g = 0.2; the focus rate is
:math:`\frac1{S_b}\sum_s \max_n α_{sn}`, averaged over utterances.

References:
    Tachibana, Uenoyama & Aihara (2018), Efficiently trainable text-to-speech system based on
    deep convolutional networks with guided attention, ICASSP.
    Ren, Ruan, Tan, Qin, Zhao, Zhao & Liu (2019), FastSpeech: fast, robust and controllable
    text to speech, NeurIPS.

Example:
    >>> eye = torch.eye(4).unsqueeze(0)            # a perfectly diagonal alignment
    >>> float(focus_rate(eye)), float(diagonal_mass(eye)), float(monotonicity(eye))
    (1.0, 1.0, 1.0)
    >>> float(guided_attention(eye)) < float(guided_attention(eye.flip(-1)))
    True
    >>> float(word_agreement(eye[0], torch.tensor([[0, 2], [2, 4]]), torch.tensor([[0, 2], [2, 4]])))
    1.0
"""

from __future__ import annotations

import torch
from torch import Tensor

from reparam import checks


def valid_cells(
    alignment: Tensor, steps: Tensor | None, positions: Tensor | None
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The lengths ``steps`` and ``positions`` as float ``[B]`` tensors (full when ``None``)
    and the valid steps ``[B, S]`` and cells ``[B, S, N]`` as masks; errors name the argument."""
    checks.tensor("alignment", alignment)
    if alignment.dim() != 3:
        raise ValueError(f"alignment must be [B, S, N], got shape {tuple(alignment.shape)}")
    B, S, N = alignment.shape
    device = alignment.device
    lengths = []
    for name, value, size in (("steps", steps, S), ("positions", positions, N)):
        if value is None:
            value = torch.full((B,), size, device=device)
        value = torch.as_tensor(value, device=device)
        if value.shape != (B,) or value.dtype.is_floating_point:
            raise ValueError(
                f"{name} must be B = {B} integers, got {value.dtype} {tuple(value.shape)}"
            )
        if bool(((value < 1) | (value > size)).any()):
            raise ValueError(f"{name} must lie in [1, {size}], got {value.tolist()}")
        lengths.append(value)
    valid_steps = torch.arange(S, device=device) < lengths[0][:, None]
    valid_positions = torch.arange(N, device=device) < lengths[1][:, None]
    cells = valid_steps[:, :, None] & valid_positions[:, None, :]
    return lengths[0].to(alignment.dtype), lengths[1].to(alignment.dtype), valid_steps, cells


def guided_attention(
    alignment: Tensor,
    steps: Tensor | None = None,
    positions: Tensor | None = None,
    width: float = 0.2,
) -> Tensor:
    """Tachibana et al.'s penalty on attention far from the diagonal, with g = ``width``."""
    width = checks.positive_real("width", width)
    S_b, N_b, _, cells = valid_cells(alignment, steps, positions)
    _, S, N = alignment.shape
    s = (
        torch.arange(S, dtype=alignment.dtype, device=alignment.device)[None, :, None]
        / S_b[:, None, None]
    )
    n = (
        torch.arange(N, dtype=alignment.dtype, device=alignment.device)[None, None, :]
        / N_b[:, None, None]
    )
    penalty = 1.0 - torch.exp(-((n - s) ** 2) / (2 * width**2))
    return (alignment * penalty).masked_fill(~cells, 0.0).sum() / cells.sum()


def focus_rate(
    alignment: Tensor, steps: Tensor | None = None, positions: Tensor | None = None
) -> Tensor:
    """The mean over utterances of the mean over valid steps of the largest weight (1 for a
    hard alignment, 1/N for a uniform one)."""
    S_b, _, valid_steps, cells = valid_cells(alignment, steps, positions)
    peaks = alignment.masked_fill(~cells, 0.0).amax(-1).masked_fill(~valid_steps, 0.0)
    return (peaks.sum(-1) / S_b).mean()


def diagonal_mass(
    alignment: Tensor,
    steps: Tensor | None = None,
    positions: Tensor | None = None,
    band: float = 0.1,
) -> Tensor:
    """The mean share of each valid step's weight within ``band`` (a fraction of the text) of
    the diagonal n/N = s/S: 1 when all the weight is there."""
    if not 0 < checks.real("band", band) <= 1:
        raise ValueError(f"band must lie in (0, 1], got {band!r}")
    S_b, N_b, valid_steps, cells = valid_cells(alignment, steps, positions)
    _, S, N = alignment.shape
    s = (torch.arange(S, dtype=alignment.dtype, device=alignment.device) + 0.5)[
        None, :, None
    ] / S_b[:, None, None]
    n = (torch.arange(N, dtype=alignment.dtype, device=alignment.device) + 0.5)[
        None, None, :
    ] / N_b[:, None, None]
    near = ((n - s).abs() <= band) & cells
    inside = alignment.masked_fill(~near, 0.0).sum(-1).masked_fill(~valid_steps, 0.0)
    return (inside.sum(-1) / S_b).mean()


def monotonicity(
    alignment: Tensor, steps: Tensor | None = None, positions: Tensor | None = None
) -> Tensor:
    """The share of consecutive valid steps whose most-attended position does not move back."""
    _, _, valid_steps, cells = valid_cells(alignment, steps, positions)
    path = alignment.masked_fill(~cells, -1.0).argmax(-1)
    pairs = valid_steps[:, 1:]
    if not bool(pairs.any()):
        return torch.ones((), dtype=alignment.dtype, device=alignment.device)
    forward = (path[:, 1:] >= path[:, :-1]) & pairs
    return forward.sum().to(alignment.dtype) / pairs.sum()


def word_agreement(alignment: Tensor, spans: Tensor, intervals: Tensor) -> Tensor:
    """The share of decoder steps spent in a word whose most-attended position lies in that
    word: how well one utterance's ``alignment`` ``[S, N]`` agrees with the synthesizer's
    word times. ``spans`` ``[W, 2]`` are each word's positions ``[start, end)`` in the text,
    ``intervals`` ``[W, 2]`` its decoder steps ``[start, end)`` (from the audio's word
    events); steps outside every interval are left out."""
    checks.tensor("alignment", alignment)
    if alignment.dim() != 2:
        raise ValueError(f"alignment must be [S, N], got shape {tuple(alignment.shape)}")
    for name, value in (("spans", spans), ("intervals", intervals)):
        if value.dim() != 2 or value.shape[-1] != 2 or value.dtype.is_floating_point:
            raise ValueError(
                f"{name} must be [W, 2] integers, got {value.dtype} {tuple(value.shape)}"
            )
    if spans.shape != intervals.shape:
        raise ValueError(
            f"spans {tuple(spans.shape)} and intervals {tuple(intervals.shape)} must match"
        )
    peak = alignment.argmax(-1)
    step = torch.arange(alignment.shape[0], device=alignment.device)
    inside = (step[None, :] >= intervals[:, :1]) & (step[None, :] < intervals[:, 1:])
    hit = (peak[None, :] >= spans[:, :1]) & (peak[None, :] < spans[:, 1:])
    counted = inside.sum()
    if int(counted) == 0:
        raise ValueError("intervals cover no decoder step of the alignment")
    return (inside & hit).sum().to(alignment.dtype) / counted

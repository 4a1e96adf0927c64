r"""Losses on, and measures of, the attention matrices of a sequence-to-sequence speech model:
attention distillation from a teacher (seed 000), the guided-attention penalty (Tachibana et
al. 2018), the focus rate (Ren et al. 2019) and how diagonal and monotone an alignment is.

An alignment is ``[B, S, N]``: at decoder step s, a distribution over the N encoder positions.
``steps`` ``[B]`` and ``positions`` ``[B]`` give each utterance's valid decoder steps and
encoder positions (the rest is padding, left out of every sum). With teacher weights
:math:`p^t` and student weights :math:`p^s`, the distillation loss is the mean over valid steps
of

.. math:: \mathrm{KL}(p^t_s \,\Vert\, p^s_s) = \sum_n p^t_{sn} \log \frac{p^t_{sn}}{p^s_{sn}},

whose gradient in the student is that of the cross-entropy :math:`-\sum_n p^t_{sn} \log p^s_{sn}`
(seed 000's form; the teacher's entropy is a constant). The guided-attention penalty is
:math:`\frac{1}{|V|}\sum_{(s,n) \in V} α_{sn} \big(1 - e^{-(n/N_b - s/S_b)^2 / 2g^2}\big)`
over the valid cells V, with g = 0.2; the focus rate is
:math:`\frac1{S_b}\sum_s \max_n α_{sn}`, averaged over utterances.

References:
    Hinton, Vinyals & Dean (2015), Distilling the knowledge in a neural network,
    arXiv:1503.02531.
    Tachibana, Uenoyama & Aihara (2018), Efficiently trainable text-to-speech system based on
    deep convolutional networks with guided attention, ICASSP.
    Ren, Ruan, Tan, Qin, Zhao, Zhao & Liu (2019), FastSpeech: fast, robust and controllable
    text to speech, NeurIPS.

Example:
    >>> eye = torch.eye(4).unsqueeze(0)            # a perfectly diagonal alignment
    >>> float(attention_distillation(eye, eye))
    0.0
    >>> float(focus_rate(eye)), float(diagonal_mass(eye)), float(monotonicity(eye))
    (1.0, 1.0, 1.0)
    >>> float(guided_attention(eye)) < float(guided_attention(eye.flip(-1)))
    True
"""

from __future__ import annotations

import torch
from torch import Tensor

from reparam import checks


def _valid(
    alignment: Tensor, steps: Tensor | None, positions: Tensor | None
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The lengths as float ``[B, 1, 1]`` tensors and the valid steps and cells as masks."""
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


def attention_distillation(
    teacher: Tensor, student: Tensor, steps: Tensor | None = None, positions: Tensor | None = None
) -> Tensor:
    """The mean over valid decoder steps of KL(teacher ‖ student) over the valid positions
    (see the module docstring). The teacher is treated as a constant (detached)."""
    _, _, valid_steps, cells = _valid(student, steps, positions)
    checks.tensor("teacher", teacher)
    if teacher.shape != student.shape:
        raise ValueError(
            f"teacher {tuple(teacher.shape)} and student {tuple(student.shape)} must have one shape "
            "(the same decoder steps over the same text)"
        )
    p = teacher.detach().masked_fill(~cells, 0.0)
    log_q = student.clamp_min(torch.finfo(student.dtype).tiny).log()
    terms = torch.xlogy(p, p) - p * log_q
    per_step = terms.masked_fill(~cells, 0.0).sum(-1)
    return per_step.masked_fill(~valid_steps, 0.0).sum() / valid_steps.sum()


def guided_attention(
    alignment: Tensor,
    steps: Tensor | None = None,
    positions: Tensor | None = None,
    width: float = 0.2,
) -> Tensor:
    """Tachibana et al.'s penalty on attention far from the diagonal, with g = ``width``."""
    width = checks.positive_real("width", width)
    S_b, N_b, _, cells = _valid(alignment, steps, positions)
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
    S_b, _, valid_steps, cells = _valid(alignment, steps, positions)
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
    S_b, N_b, valid_steps, cells = _valid(alignment, steps, positions)
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
    _, _, valid_steps, cells = _valid(alignment, steps, positions)
    path = alignment.masked_fill(~cells, -1.0).argmax(-1)
    pairs = valid_steps[:, 1:]
    if not bool(pairs.any()):
        return torch.ones((), dtype=alignment.dtype, device=alignment.device)
    forward = (path[:, 1:] >= path[:, :-1]) & pairs
    return forward.sum().to(alignment.dtype) / pairs.sum()

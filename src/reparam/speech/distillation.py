r"""Distillation from a teacher synthesizer to a student: the attention KL of seed 000 and
Hinton et al.'s soft targets, on frames.

With the teacher's attention :math:`p^t` and the student's :math:`p^s` over the same text and
decoder steps, :func:`attention_distillation` is the mean over valid steps of

.. math:: \mathrm{KL}(p^t_s \,\Vert\, p^s_s) = \sum_n p^t_{sn} \log \frac{p^t_{sn}}{p^s_{sn}},

whose gradient in the student is that of the cross-entropy :math:`-\sum_n p^t_{sn} \log p^s_{sn}`
(seed 000's form; the teacher's entropy is a constant). A synthesizer's output is regression,
not a softmax, so Hinton et al.'s soft targets become the teacher's predicted frames
:math:`\hat y^t`: :func:`frame_distillation` is the masked mean of
:math:`|\hat y^s_{tk} - \hat y^t_{tk}|` (or its square), added to the loss against the real
frames with a weight.

References:
    Hinton, Vinyals & Dean (2015), Distilling the knowledge in a neural network,
    arXiv:1503.02531.

Example:
    >>> eye = torch.eye(4).unsqueeze(0)            # a perfectly diagonal alignment
    >>> float(attention_distillation(eye, eye))
    0.0
    >>> frames = torch.randn(2, 6, 3)
    >>> float(frame_distillation(frames, frames, torch.tensor([6, 4])))
    0.0
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from reparam import checks
from reparam.speech.alignment import valid_cells


def attention_distillation(
    teacher: Tensor, student: Tensor, steps: Tensor | None = None, positions: Tensor | None = None
) -> Tensor:
    """The mean over valid decoder steps of KL(teacher ‖ student) over the valid positions
    (see the module docstring). The teacher is treated as a constant (detached)."""
    _, _, valid_steps, cells = valid_cells(student, steps, positions)
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


def frame_distillation(
    teacher: Tensor, student: Tensor, lengths: Tensor, distance: str = "l1"
) -> Tensor:
    """The mean over valid frames and bands of ``distance`` (``l1`` or ``mse``) between the
    student's frames ``[B, T, n]`` and the teacher's (detached); ``lengths`` ``[B]`` in frames."""
    checks.tensor("student", student)
    checks.tensor("teacher", teacher)
    if teacher.shape != student.shape or student.dim() != 3:
        raise ValueError(
            f"teacher {tuple(teacher.shape)} and student {tuple(student.shape)} must be one "
            "[B, T, n] shape"
        )
    if distance not in ("l1", "mse"):
        raise ValueError(f"distance must be 'l1' or 'mse', got {distance!r}")
    B, T, n = student.shape
    lengths = torch.as_tensor(lengths, device=student.device)
    if lengths.shape != (B,) or bool(((lengths < 1) | (lengths > T)).any()):
        raise ValueError(f"lengths must be B = {B} frame counts in [1, {T}]")
    valid = (torch.arange(T, device=student.device) < lengths[:, None])[:, :, None]
    measure = F.l1_loss if distance == "l1" else F.mse_loss
    terms = measure(student, teacher.detach(), reduction="none")
    return (terms * valid).sum() / (valid.sum() * n)

r"""Tacotron's reduction factor: a decoder step emits r frames at once (Wang et al. 2017), and
the frames must be grouped and ungrouped in time order.

With frames :math:`y_{b,t} \in \mathbb R^n` (``[B, T, n]``, T a multiple of r), group g of
utterance b is the concatenation of r consecutive frames,

.. math:: Y_{b,g} = (y_{b,gr},\ y_{b,gr+1},\ …,\ y_{b,gr+r-1}) \in \mathbb R^{rn},

so :func:`group_frames` maps ``[B, T, n]`` to ``[B, T/r, r·n]`` and :func:`ungroup_frames`
back. One decoder step's output ``[B, r·n]`` holds r frames per utterance: :func:`step_frames`
splits it into ``[r, B, n]`` by cutting each row into r pieces, and the frame fed back to the
next step is the last of each group (:func:`last_frames`). Seed 000 ("A reshaping bug") shows
the bug these functions exist to avoid: ``out.view(r, B, n)`` has the right shape but fills
frame 0 with the first rows' pieces instead of each row's first piece (tested).

Reference:
    Wang, Skerry-Ryan, Stanton, Wu, Weiss, Jaitly, Yang, Xiao, Chen, Bengio, Le, Agiomyrgiannakis,
    Clark & Saurous (2017), Tacotron: towards end-to-end speech synthesis, Interspeech.

Example:
    >>> y = torch.arange(12.0).reshape(1, 6, 2)   # six frames of two bands
    >>> group_frames(y, 3)[0].tolist()
    [[0.0, 1.0, 2.0, 3.0, 4.0, 5.0], [6.0, 7.0, 8.0, 9.0, 10.0, 11.0]]
    >>> bool(torch.equal(ungroup_frames(group_frames(y, 3), 3), y))
    True
    >>> last_frames(group_frames(y, 3), 3)[0].tolist()
    [[4.0, 5.0], [10.0, 11.0]]
"""

from __future__ import annotations

import torch
from torch import Tensor

from reparam import checks


def _three_dimensional(name: str, value: Tensor) -> None:
    checks.tensor(name, value)
    if value.dim() != 3:
        raise ValueError(f"{name} must be [B, T, n], got shape {tuple(value.shape)}")


def pad_to_multiple(frames: Tensor, r: int, value: float = 0.0) -> Tensor:
    """``frames`` ``[B, T, n]`` padded at the end of time with ``value`` to a multiple of r."""
    _three_dimensional("frames", frames)
    extra = -frames.shape[1] % checks.positive_int("r", r)
    if extra == 0:
        return frames
    return torch.nn.functional.pad(frames, (0, 0, 0, extra), value=value)


def group_frames(frames: Tensor, r: int) -> Tensor:
    """``[B, T, n]`` → ``[B, T/r, r·n]``: group g is frames gr … gr + r − 1, concatenated."""
    _three_dimensional("frames", frames)
    B, T, n = frames.shape
    if T % checks.positive_int("r", r):
        raise ValueError(f"frames has {T} frames, not a multiple of r = {r}; pad_to_multiple")
    return frames.reshape(B, T // r, r * n)


def ungroup_frames(groups: Tensor, r: int) -> Tensor:
    """``[B, T/r, r·n]`` → ``[B, T, n]``, the inverse of :func:`group_frames`."""
    _three_dimensional("groups", groups)
    B, G, width = groups.shape
    if width % checks.positive_int("r", r):
        raise ValueError(f"groups' last dimension {width} is not a multiple of r = {r}")
    return groups.reshape(B, G * r, width // r)


def step_frames(output: Tensor, r: int) -> Tensor:
    """One decoder step's output ``[B, r·n]`` as its r frames in time order, ``[r, B, n]``:
    frame j of utterance b is ``output[b, j·n:(j+1)·n]``."""
    checks.tensor("output", output)
    if output.dim() != 2:
        raise ValueError(f"output must be [B, r*n], got shape {tuple(output.shape)}")
    B, width = output.shape
    if width % checks.positive_int("r", r):
        raise ValueError(f"output's last dimension {width} is not a multiple of r = {r}")
    return output.view(B, r, width // r).transpose(0, 1)


def last_frames(groups: Tensor, r: int) -> Tensor:
    """The last frame of each group, ``[B, T/r, r·n]`` → ``[B, T/r, n]``: what a decoder step
    feeds back to the next."""
    _three_dimensional("groups", groups)
    width = groups.shape[-1]
    if width % checks.positive_int("r", r):
        raise ValueError(f"groups' last dimension {width} is not a multiple of r = {r}")
    return groups[..., width - width // r :]

"""Learning-rate schedules by epoch, and the warm-up of the speech trainers by step."""

from __future__ import annotations

import math


def burda_stage(epoch: int) -> int:
    r"""Stage i of the IWAE paper's schedule holding ``epoch``: stage i lasts :math:`3^i`
    passes, so stages 0..7 cover 3280 passes."""
    stage, end = 0, 1
    while epoch >= end:
        stage += 1
        end += 3**stage
    return stage


def learning_rate(schedule: str, base: float, epoch: int) -> float:
    r"""``constant``: ``base``; ``burda``: :math:`\text{base}\cdot 10^{-i/7}` in stage i
    (Burda, Grosse & Salakhutdinov 2016, §5: base 10⁻³, 3^i passes, i = 0..7).

    Example:
        >>> [round(learning_rate("burda", 1e-3, e) * 1e4, 3) for e in (0, 1, 3, 4, 12, 13)]
        [10.0, 7.197, 7.197, 5.179, 5.179, 3.728]
    """
    if schedule == "constant":
        return base
    return base * math.pow(10, -burda_stage(epoch) / 7)


BURDA_EPOCHS = sum(3**i for i in range(8))


def warmup_inverse_sqrt(step: int, warmup: int) -> float:
    r"""The learning rate's factor after ``step`` steps (0-based): a linear warm-up over
    ``warmup`` steps, then the inverse square root (Vaswani et al. 2017),
    :math:`\min(s / w, \sqrt{w / s})` with s = step + 1; it does not depend on the run's
    length, so a run resumed to more steps equals a straight one.

    Example:
        >>> [round(warmup_inverse_sqrt(s, 4), 3) for s in (0, 3, 15)]
        [0.25, 1.0, 0.5]
    """
    s = step + 1
    return min(s / warmup, math.sqrt(warmup / s))

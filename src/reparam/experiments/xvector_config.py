r"""The settings of an x-vector run (``reparam train xvector``), saved as ``config.json``.

``bayesian_layers`` = 0 is the baseline extractor; n > 0 makes the first n TDNN frame layers
Bayesian (seed 001's system: all five, ``--bayesian-layers 5``), with the KL term weighted by
``kl_weight`` / F for F training frames. Training crops ``segment`` frames at random
from each utterance; Adam with the warm-up and inverse-square-root decay of
:func:`~reparam.experiments.schedule.warmup_inverse_sqrt`. ``p_target`` is the DCF's prior
(0.01: the VoxCeleb setting of seed 001's table; 0.001: SRE10's).

Example:
    >>> XVectorConfig().bayesian_layers, XVectorConfig(bayesian_layers=5).kl_weight
    (0, 1.0)
    >>> XVectorConfig(bayesian_layers=6)
    Traceback (most recent call last):
        ...
    ValueError: --bayesian-layers must lie in [0, 5]; got 6
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from reparam.data.speech.recipe import RECIPES
from reparam.train.config import (
    RunConfig,
    device_option,
    flag,
    in_range,
    non_negative,
    one_of,
    positive,
    whole_periods,
)


@dataclass(frozen=True)
class XVectorConfig(RunConfig):
    """An x-vector run (see the module docstring)."""

    ENDS: ClassVar[tuple[str, ...]] = ("steps",)
    FREE: ClassVar[tuple[str, ...]] = ("device", "compile")

    recipe: str = "speakers"
    channels: int = 256
    pooled: int = 768
    embedding: int = 256
    bayesian_layers: int = 0
    kl_weight: float = 1.0
    segment: int = 200
    steps: int = 2000
    eval_every: int = 250
    batch_size: int = 64
    lr: float = 1e-3
    warmup: int = 200
    lda_dim: int = 128
    p_target: float = 0.01
    seed: int = 0
    device: str = "auto"
    compile: bool = False

    def __post_init__(self) -> None:
        one_of("--recipe", self.recipe, tuple(RECIPES))
        for name in ("channels", "pooled", "embedding", "segment", "steps", "eval_every",
                     "batch_size", "warmup", "lda_dim"):  # fmt: skip
            positive(flag(name), getattr(self, name), integer=True)
        in_range("--bayesian-layers", self.bayesian_layers, 0, 5)
        non_negative("--kl-weight", self.kl_weight)
        positive("--lr", self.lr)
        non_negative("--seed", self.seed)
        if not 0 < self.p_target < 1:
            raise ValueError(f"--p-target must lie in (0, 1); got {self.p_target}")
        device_option(self.device)
        whole_periods(self.steps, self.eval_every)

        if self.bayesian_layers == 0 and self.kl_weight != 1.0:
            raise ValueError(
                "--kl-weight weights the KL term: it needs --bayesian-layers 1 or more"
            )

    def applies(self, name: str) -> bool:
        return name != "kl_weight" or self.bayesian_layers > 0

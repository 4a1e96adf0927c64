r"""A WGAN run's settings, with the papers' defaults resolved from the options they depend on.

The two Lipschitz constraints come with their papers' optimisers and learning rates:

- ``clip``: RMSprop, lr :math:`5\cdot10^{-5}`, weights clipped to :math:`[-c, c]`, :math:`c =
  0.01` (Arjovsky, Chintala & Bottou 2017, Algorithm 1);
- ``gp``: Adam, lr :math:`10^{-4}`, betas (0.5, 0.9), penalty :math:`λ = 10` (Gulrajani et al.
  2017, Algorithm 1), except on the ring, where :math:`λ = 0.1`, the value of the authors'
  released toy script (``gan_toy.py``: "smaller lambda seems to help for toy tasks
  specifically"; with 10 the short ring run oscillates instead of converging);

both with :math:`n_{\text{critic}} = 5` critic steps per generator step. The ring (Gulrajani
et al.'s toy experiment) uses batches of 256 and noise of dimension 2; data sets batches of
64 and noise of dimension 64.

An option left unset (``None``) takes its default in ``__post_init__``, so ``config.json``
records the value used. Two defaults need the data: ``steps`` (on a data set, two passes of
the critic over its training rows) and ``log_every`` (``steps // 50``, at least 10); the
trainer fills them, with ``data_dim`` and ``images``, through :meth:`WGANConfig.for_data`.

Example:
    >>> config = WGANConfig(lipschitz="gp")
    >>> config.lr, config.gp_lambda, config.batch_size, config.steps, config.log_every
    (0.0001, 0.1, 256, 1500, 30)
    >>> sorted(set(WGANConfig(dataset="digits").to_dict()) - set(config.to_dict()))
    ['clip']
    >>> WGANConfig(dataset="digits").for_data(examples=1437, dim=64, images=True).steps
    9
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from reparam.data.arrays import is_array_file
from reparam.train.config import RunConfig, device_option, flag, one_of, positive
from reparam.transport.wgan import CRITIC_CONSTRAINTS

DATASETS = ("ring", "binarized-mnist", "digits")


@dataclass(frozen=True)
class Paper:
    """A constraint's optimiser, learning rate and Adam betas, as its paper trains it."""

    optimizer: str
    lr: float
    betas: tuple[float, float] | None


PAPER = {"clip": Paper("rmsprop", 5e-5, None), "gp": Paper("adam", 1e-4, (0.5, 0.9))}
CLIP = 0.01
GP_LAMBDA, RING_GP_LAMBDA = 10.0, 0.1
RING_STEPS, IMAGE_PASSES = 1500, 2
RING_BATCH, BATCH = 256, 64
RING_NOISE, NOISE = 2, 64

# The rules of the defaults, as the command line's help shows them.
DEFAULT_RULES = {
    "steps": f"{RING_STEPS} on the ring; on a data set {IMAGE_PASSES} passes of the critic "
    f"over the N training rows, ceil({IMAGE_PASSES}N / (batch-size * critic-steps))",
    "batch_size": f"{RING_BATCH} on the ring, else {BATCH}",
    "lr": "5e-5 with clip (RMSprop), 1e-4 with gp (Adam, betas 0.5, 0.9)",
    "clip": f"{CLIP:g}",
    "gp_lambda": f"{GP_LAMBDA:g}; {RING_GP_LAMBDA:g} on the ring",
    "noise_dim": f"{RING_NOISE} on the ring, else {NOISE}",
    "log_every": "steps // 50, at least 10 (or steps)",
}


@dataclass(frozen=True)
class WGANConfig(RunConfig):
    """A WGAN run: the data, the constraint, the networks, the length and the logging.

    ``steps`` counts generator steps, each after ``critic_steps`` critic steps; a metrics row
    is written after the first step, every ``log_every`` steps and at the end. ``data_dim``
    and ``images`` are not options: they record the data's width and whether it is images
    (the generator then ends in a sigmoid and the samples are drawn as a grid), so that the
    model can be rebuilt from the config alone.
    """

    ENDS: ClassVar[tuple[str, ...]] = ("steps",)
    FREE: ClassVar[tuple[str, ...]] = ("device", "compile", "data_dir")

    dataset: str = "ring"
    lipschitz: str = "clip"
    steps: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    critic_steps: int = 5
    clip: float | None = None
    gp_lambda: float | None = None
    noise_dim: int | None = None
    hidden: int = 256
    log_every: int | None = None
    eval_points: int = 512
    subset: int | None = None
    seed: int = 0
    device: str = "auto"
    compile: bool = False
    data_dir: str | None = None
    data_dim: int | None = None
    images: bool | None = None

    def __post_init__(self) -> None:
        if self.dataset not in DATASETS and not is_array_file(self.dataset):
            raise ValueError(
                f"unknown --dataset {self.dataset!r} for wgan; choose {', '.join(DATASETS)} "
                f"or a .npy, .npz or .csv file of rows"
            )
        one_of("--lipschitz", self.lipschitz, CRITIC_CONSTRAINTS)
        for name in ("steps", "batch_size", "critic_steps", "noise_dim", "hidden", "log_every"):
            positive(flag(name), getattr(self, name), integer=True)
        positive("--subset", self.subset, integer=True)
        positive("data_dim", self.data_dim, integer=True)
        positive("--lr", self.lr)
        positive("--clip", self.clip)
        positive("--gp-lambda", self.gp_lambda)
        positive("--eval-points", self.eval_points, integer=True)
        if self.eval_points < 2:
            raise ValueError(f"--eval-points must be >= 2; got {self.eval_points}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"--seed must be a whole number >= 0; got {self.seed!r}")
        device_option(self.device)
        self._refuse_what_does_not_apply()
        ring = self.ring
        self._set("batch_size", RING_BATCH if ring else BATCH)
        self._set("lr", PAPER[self.lipschitz].lr)
        self._set("noise_dim", RING_NOISE if ring else NOISE)
        if self.lipschitz == "clip":
            self._set("clip", CLIP)
        else:
            self._set("gp_lambda", RING_GP_LAMBDA if ring else GP_LAMBDA)
        if ring:
            self._set("steps", RING_STEPS)
            self._set("data_dim", 2)
            self._set("images", False)
            if self.data_dim != 2 or self.images:
                raise ValueError(f"the ring is 2-D points; got data_dim {self.data_dim}")
        if self.steps is not None:
            self._set("log_every", default_log_every(self.steps))

    @property
    def ring(self) -> bool:
        return self.dataset == "ring"

    @property
    def registry(self) -> bool:
        """Whether the data come from the data registry (and ``data_dir`` means something)."""
        return self.dataset in DATASETS and not self.ring

    def applies(self, name: str) -> bool:
        if name == "clip":
            return self.lipschitz == "clip"
        if name == "gp_lambda":
            return self.lipschitz == "gp"
        if name in ("subset", "data_dir"):
            return getattr(self, name) is not None
        return True

    def to_dict(self) -> dict[str, Any]:
        """The fields that apply, and (for the reader; not options) the optimiser used."""
        paper = PAPER[self.lipschitz]
        optimizer = {"optimizer": paper.optimizer} | ({"betas": paper.betas} if paper.betas else {})
        return {**super().to_dict(), **optimizer}

    @classmethod
    def resumed(cls, saved: dict[str, Any], given: dict[str, Any]) -> WGANConfig:
        """As :meth:`RunConfig.resumed`, and a given option the saved run has no use for
        (``--gp-lambda`` for a clipped critic) is refused rather than dropped."""
        config = super().resumed(saved, given)
        movable = (*cls.ENDS, *cls.FREE)
        stray = [
            k for k, v in given.items() if v is not None and k not in saved | dict.fromkeys(movable)
        ]
        if stray:
            names = ", ".join(flag(k) for k in stray)
            raise ValueError(
                f"--resume: {names} does not apply to this run (--lipschitz "
                f"{config.lipschitz} on {config.dataset})"
            )
        return config

    def for_data(self, *, examples: int, dim: int, images: bool) -> WGANConfig:
        """This config with the defaults that need the data filled: ``steps`` from the
        ``examples`` training rows, ``log_every`` from the steps, and ``data_dim`` and
        ``images``, which must agree with those already recorded (a resumed run's data)."""
        for name, value in (("data_dim", dim), ("images", images)):
            recorded = getattr(self, name)
            if recorded is not None and recorded != value:
                raise ValueError(
                    f"--dataset {self.dataset} has changed since the run began: it recorded "
                    f"{name} {recorded}, the data now give {value}"
                )
        assert self.batch_size is not None
        steps = self.steps or math.ceil(
            IMAGE_PASSES * examples / (self.batch_size * self.critic_steps)
        )
        return replace(
            self,
            steps=steps,
            log_every=self.log_every or default_log_every(steps),
            data_dim=dim,
            images=images,
        )

    def _refuse_what_does_not_apply(self) -> None:
        if self.lipschitz == "gp" and self.clip is not None:
            raise ValueError("--clip applies to --lipschitz clip only (gp penalises gradients)")
        if self.lipschitz == "clip" and self.gp_lambda is not None:
            raise ValueError("--gp-lambda applies to --lipschitz gp only (clip clips weights)")
        if not self.registry:
            where = "the ring" if self.ring else f"the file {self.dataset}"
            if self.data_dir is not None:
                raise ValueError(f"--data-dir applies to the registry's data sets, not {where}")
            if self.ring and self.subset is not None:
                raise ValueError("--subset applies to a data set, not the ring (it has no rows)")

    def _set(self, name: str, default: Any) -> None:
        if getattr(self, name) is None:
            object.__setattr__(self, name, default)


def default_log_every(steps: int) -> int:
    """Generator steps between metrics rows: ``steps // 50``, at least 10 (or ``steps``).

    >>> default_log_every(1500), default_log_every(200), default_log_every(4)
    (30, 10, 4)
    """
    return max(steps // 50, min(10, steps))

r"""The settings of one cell of Jang, Gu & Poole (2017)'s Table 1 — a model (row), an estimator
(column) and a learning rate — and the table's published numbers.

The paper's setup: binarized MNIST with its fixed binarization, SGD with momentum 0.9,
batch 100, the learning rate chosen on validation from
:data:`PAPER_LEARNING_RATES`, and the Gumbel temperature
:math:`\tau = \max(0.5, e^{-r t})` updated every N steps.

Example:
    >>> config = GumbelTable1Config(row="sbn-categorical", estimator="st-gumbel", steps=10)
    >>> config.relaxed, "temperature_rate" in config.to_dict()
    (True, True)
    >>> GumbelTable1Config(estimator="vimco", k=1)
    Traceback (most recent call last):
        ...
    ValueError: --estimator vimco draws several samples together (a multi-sample bound, antithetic pairs): it needs --k 2 or more; got --k 1
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from reparam.data import DATASETS
from reparam.train.config import RunConfig, finite, flag, non_negative, one_of, positive
from reparam.train.distributed import DEVICE_PATTERN

# The four rows of Table 1: (label, model family, latent kind).
ROWS: dict[str, tuple[str, str, str]] = {
    "sbn-bernoulli": ("SBN, Bernoulli (392-200-200-392)", "sbn", "bernoulli"),
    "sbn-categorical": ("SBN, categorical (392-(20x10)-(20x10)-392)", "sbn", "categorical"),
    "vae-bernoulli": ("VAE, 200 Bernoulli latents", "vae", "bernoulli"),
    "vae-categorical": ("VAE, 20x10 categorical latents", "vae", "categorical"),
}

# The columns: (short label, estimator spec). The paper's seven, then the extras.
COLUMNS: dict[str, str] = {
    "score": "SF",
    "nvil": "NVIL",
    "darn": "DARN",
    "muprop": "MuProp",
    "straight-through": "ST",
    "st-annealed": "annealed ST",
    "gumbel-softmax": "Gumbel",
    "st-gumbel": "ST Gumbel",
    "rebar": "REBAR",
    "relax": "RELAX",
    "vimco": "VIMCO",
    "arm": "ARM",
    "disarm": "DisARM",
}

# Table 1 of the paper (test negative log-likelihood of the SBNs, m = 1000; test -ELBO of
# the VAEs), columns SF, DARN, MuProp, ST, annealed ST, Gumbel, ST Gumbel.
PAPER: dict[str, dict[str, float]] = {
    row: dict(zip(("score", "darn", "muprop", "straight-through", "st-annealed",
                   "gumbel-softmax", "st-gumbel"), values, strict=True))
    for row, values in {
        "sbn-bernoulli": (72.0, 59.7, 58.9, 58.9, 58.7, 58.5, 59.3),
        "sbn-categorical": (73.1, 67.9, 63.0, 61.8, 61.1, 59.0, 59.7),
        "vae-bernoulli": (112.2, 110.9, 109.7, 116.0, 111.5, 105.0, 111.5),
        "vae-categorical": (110.6, 128.8, 107.0, 110.9, 107.8, 101.5, 107.8),
    }.items()
}  # fmt: skip

PAPER_LEARNING_RATES = (3e-5, 1e-5, 3e-4, 1e-4, 3e-3, 1e-3)
GUMBEL = ("gumbel-softmax", "st-gumbel", "st-gumbel-relaxed")
BOUNDS = ("vimco",)  # columns trained on the multi-sample bound, k >= 2
PAIRED = ("vimco", "arm", "disarm")  # columns that need k >= 2 samples (a bound, antithetic pairs)


@dataclass(frozen=True)
class GumbelTable1Config(RunConfig):
    """One cell's run: ``row`` of :data:`ROWS`, ``estimator`` a spec of the vocabulary (the
    per-sample ones, or ``vimco`` on the k-sample bound), ``steps`` SGD steps of
    ``batch_size`` rows, a validation row every ``eval_every`` steps (the table's metric with
    ``valid_samples`` samples on ``valid_subset`` validation rows, which picks ``best.pt``).

    ``lr`` is one learning rate, or a tuple of them: then the run trains one replica of the
    model per rate, side by side in one batched pass (:mod:`reparam.models.replicas`), from
    the same start, on the same minibatches."""

    ENDS: ClassVar[tuple[str, ...]] = ("steps",)
    FREE: ClassVar[tuple[str, ...]] = ("device", "data_dir")

    row: str = "sbn-bernoulli"
    estimator: str = "gumbel-softmax"
    dataset: str = "binarized-mnist"
    data_dir: str | None = None
    subset: int | None = None
    steps: int = 10_000
    eval_every: int = 1000
    batch_size: int = 100
    lr: float | tuple[float, ...] = 1e-4
    momentum: float = 0.9
    control_lr: float = 1e-3
    k: int = 1
    temperature_rate: float = 1e-4
    temperature_every: int = 500
    valid_samples: int = 100
    valid_subset: int | None = 1000
    seed: int = 0
    device: str = "auto"
    x_dim: int | None = None

    def __post_init__(self) -> None:
        one_of("--row", self.row, tuple(ROWS))
        if not isinstance(self.estimator, str) or not self.estimator:
            raise ValueError(f"--estimator must name a spec; got {self.estimator!r}")
        if self.dataset not in DATASETS or not DATASETS[self.dataset].binary:
            binary = ", ".join(name for name, d in DATASETS.items() if d.binary)
            raise ValueError(f"unknown --dataset {self.dataset!r}; choose one of {binary}")
        for name in ("subset", "steps", "eval_every", "batch_size", "k", "valid_samples"):
            positive(flag(name), getattr(self, name), integer=True)
        positive("--valid-subset", self.valid_subset, integer=True)
        positive("--x-dim", self.x_dim, integer=True)
        positive("--temperature-every", self.temperature_every, integer=True)
        if isinstance(self.lr, tuple) and not self.lr:
            raise ValueError("--lr names no learning rate")
        for name, value in [("control_lr", self.control_lr), *(("lr", r) for r in self.rates)]:
            if isinstance(value, bool) or not isinstance(value, float | int):
                raise ValueError(f"{flag(name)} must be a number; got {value!r}")
            positive(flag(name), value)
            finite(flag(name), value)
        finite("--momentum", self.momentum)
        non_negative("--momentum", self.momentum)
        finite("--temperature-rate", self.temperature_rate)
        non_negative("--temperature-rate", self.temperature_rate)
        non_negative("--seed", self.seed)
        if not isinstance(self.device, str) or not DEVICE_PATTERN.fullmatch(self.device):
            raise ValueError(f"unknown device {self.device!r}; choose auto, cpu, cuda or cuda:N")
        if self.estimator in PAIRED and self.k < 2:
            raise ValueError(
                f"--estimator {self.estimator} draws several samples together (a multi-sample "
                f"bound, antithetic pairs): it needs --k 2 or more; got --k {self.k}"
            )

    def applies(self, name: str) -> bool:
        if name in ("temperature_rate", "temperature_every"):
            return self.relaxed
        return True

    @property
    def rates(self) -> tuple[float, ...]:
        """The learning rates: one, or one a replica."""
        return self.lr if isinstance(self.lr, tuple) else (self.lr,)

    @property
    def replicas(self) -> int | None:
        """How many replicas the run trains (one a rate of a tuple ``lr``); ``None`` for one
        plain model."""
        return len(self.lr) if isinstance(self.lr, tuple) else None

    @property
    def relaxed(self) -> bool:
        """Whether the estimator is a Gumbel relaxation, whose temperature is annealed."""
        return self.estimator in GUMBEL

    @property
    def family(self) -> str:
        """``"sbn"`` or ``"vae"``."""
        return ROWS[self.row][1]

    @property
    def kind(self) -> str:
        """``"bernoulli"`` or ``"categorical"``."""
        return ROWS[self.row][2]

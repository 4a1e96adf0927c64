r"""The settings of a VAE-family run, one frozen dataclass a model, saved as ``config.json``.

Each model has exactly the fields that mean something for it (``flow`` only for ``flow-vae``,
``temperature_rate`` only for ``cat-vae``, ``layers`` only for ``vae`` and ``iwae``), with its
own defaults (``iwae``: :math:`\mathcal L_5`; the others: the ELBO with one sample). Every
field is checked when the config is made: a 0, a negative, a NaN or an unknown name is a
``ValueError`` that names the option, never replaced by a default. ``config.json`` keeps only
the fields that apply (``beta`` and ``kl_warmup`` with the ELBO only, ``temperature_rate``
with a Gumbel estimator only) and records ``x_dim``, the data's pixel count, so that the model
can be rebuilt without the data.

Example:
    >>> IWAEConfig().k, VAEConfig().objective
    (5, 'elbo')
    >>> "flow" in VAEConfig().to_dict(), "flow" in FlowVAEConfig().to_dict()
    (False, True)
    >>> IWAEConfig(k=0)
    Traceback (most recent call last):
        ...
    ValueError: --k must be > 0; got 0
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from reparam.data import DATASETS
from reparam.data.arrays import is_array_file
from reparam.estimators import names
from reparam.train.config import RunConfig, finite, flag, non_negative, one_of, positive
from reparam.train.distributed import DEVICE_PATTERN

OBJECTIVES = ("elbo", "iwae")
SCHEDULES = ("constant", "burda")
FLOWS = ("planar", "radial", "iaf")

# The Gumbel estimators, whose temperature a run anneals; the estimators that need k >= 2.
GUMBEL = ("gumbel-softmax", "st-gumbel", "st-gumbel-relaxed")
NEEDS_TWO_SAMPLES = ("score+leave-one-out", "score+optimal", "vimco")


@dataclass(frozen=True)
class LatentConfig(RunConfig):
    """What every model of the VAE family shares; see the module docstring."""

    MODEL: ClassVar[str] = ""
    LATENT: ClassVar[str] = "continuous"  # its posterior's family, as reparam.estimators names it
    FREE: ClassVar[tuple[str, ...]] = ("device", "compile", "data_dir")

    dataset: str = "digits"
    data_dir: str | None = None
    subset: int | None = None
    k: int = 1
    objective: str = "elbo"
    estimator: str = "auto"
    epochs: int = 60
    batch_size: int = 100
    lr: float = 1e-3
    schedule: str = "constant"
    kl_warmup: int = 0
    beta: float = 1.0
    device: str = "auto"
    seed: int = 0
    compile: bool = False
    x_dim: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.dataset, str) or not (
            self.dataset in DATASETS or is_array_file(self.dataset)
        ):
            raise ValueError(
                f"unknown dataset {self.dataset!r}; choose one of {', '.join(DATASETS)}, or a "
                f"file of your own (.npy, .npz or .csv)"
            )
        for name in ("subset", "k", "epochs", "batch_size", "x_dim"):
            positive(flag(name), getattr(self, name), integer=True)
        positive("--lr", self.lr)
        one_of("--objective", self.objective, OBJECTIVES)
        one_of("--schedule", self.schedule, SCHEDULES)
        whole("--kl-warmup", self.kl_warmup)
        non_negative("--kl-warmup", self.kl_warmup)
        finite("--beta", self.beta)
        non_negative("--beta", self.beta)
        whole("--seed", self.seed)
        non_negative("--seed", self.seed)
        if not isinstance(self.device, str) or not DEVICE_PATTERN.fullmatch(self.device):
            raise ValueError(f"unknown device {self.device!r}; choose auto, cpu, cuda or cuda:N")
        valid = names(self.objective, self.LATENT)
        if self.estimator not in valid:
            raise ValueError(
                f"--estimator {self.estimator!r} does not apply to {self.MODEL} with the "
                f"{self.objective} objective; choose one of {', '.join(valid)}"
            )
        if self.estimator in NEEDS_TWO_SAMPLES and self.k < 2:
            raise ValueError(
                f"--estimator {self.estimator} takes its baseline from the other samples: it "
                f"needs --k 2 or more; got --k {self.k}"
            )
        if self.objective != "elbo":
            for name in ("kl_warmup", "beta"):
                if getattr(self, name) != self.defaults()[name]:
                    raise ValueError(
                        f"{flag(name)} weights the ELBO's KL term: it does not "
                        f"apply to --objective {self.objective}"
                    )

    def applies(self, name: str) -> bool:
        if name in ("kl_warmup", "beta"):
            return self.objective == "elbo"
        return True

    @property
    def relaxed(self) -> bool:
        """Whether training uses a Gumbel relaxation (its temperature is annealed)."""
        return self.estimator in GUMBEL


def whole(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be a whole number; got {value!r}")


@dataclass(frozen=True)
class VAEConfig(LatentConfig):
    """The VAE of Kingma & Welling (2014) with the IWAE paper's architectures: ``layers`` 1
    (784–200–200–50) or 2 (…–100–…–50), trained on the ELBO."""

    MODEL: ClassVar[str] = "vae"
    layers: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        one_of("--layers", self.layers, (1, 2))
        if self.layers == 2 and self.estimator == "dreg":
            raise ValueError(
                "--estimator dreg needs a Gaussian posterior; with --layers 2 it is a chain of "
                "two Gaussian layers: use pathwise, or --layers 1"
            )


@dataclass(frozen=True)
class IWAEConfig(VAEConfig):
    r"""The IWAE of Burda, Grosse & Salakhutdinov (2016): the VAE's networks trained on
    :math:`\mathcal L_k`, k = 5 by default."""

    MODEL: ClassVar[str] = "iwae"
    k: int = 5
    objective: str = "iwae"


@dataclass(frozen=True)
class FlowVAEConfig(LatentConfig):
    """The one-layer VAE with a posterior flow (Rezende & Mohamed 2015): ``flow`` planar,
    radial or iaf, ``flow_length`` steps."""

    MODEL: ClassVar[str] = "flow-vae"
    LATENT: ClassVar[str] = "flow"
    flow: str = "planar"
    flow_length: int = 10

    def __post_init__(self) -> None:
        super().__post_init__()
        one_of("--flow", self.flow, FLOWS)
        positive("--flow-length", self.flow_length, integer=True)


@dataclass(frozen=True)
class CategoricalVAEConfig(LatentConfig):
    r"""The categorical VAE of Jang, Gu & Poole (2017): 20 ten-way latents, Gumbel-softmax by
    default, its temperature :math:`\tau = \max(0.5, e^{-r t})` with ``temperature_rate`` r."""

    MODEL: ClassVar[str] = "cat-vae"
    LATENT: ClassVar[str] = "discrete"
    estimator: str = "gumbel-softmax"
    temperature_rate: float = 1e-4

    def __post_init__(self) -> None:
        super().__post_init__()
        finite("--temperature-rate", self.temperature_rate)
        non_negative("--temperature-rate", self.temperature_rate)
        if not self.relaxed and self.temperature_rate != self.defaults()["temperature_rate"]:
            raise ValueError(
                f"--temperature-rate anneals the Gumbel-softmax temperature: it applies to "
                f"--estimator {' or '.join(GUMBEL)}, not {self.estimator}"
            )

    def applies(self, name: str) -> bool:
        if name == "temperature_rate":
            return self.relaxed
        return super().applies(name)


@dataclass(frozen=True)
class ConvVAEConfig(LatentConfig):
    """A VAE with a strided-convolution encoder and an unpool-and-convolve decoder, for square
    images whose side is a multiple of 4."""

    MODEL: ClassVar[str] = "conv-vae"

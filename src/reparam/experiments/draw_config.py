r"""The settings of a DRAW run (``reparam train draw``), saved as ``config.json``.

The defaults are the paper's binarized-MNIST model (Gregor et al. 2015, Table 3):
256-unit LSTMs, 100 latents a step, T = 64 glimpses, a 2 × 2 read and a 5 × 5 write with
attention, Adam; batches of 100 and gradients clipped to norm 10 (the paper gives neither
the batch nor the clipping). ``kl_warmup`` (by default 0, the paper's plain ELBO) raises the
KL term's weight linearly from 0 to 1 over that many steps
(:class:`~reparam.objectives.KLAnnealing`): on a short schedule the attention model's
posterior otherwise collapses (KL → 0) before its glimpses learn where to look. ``read_size``
and ``write_size`` apply with attention only (``config.json`` leaves them out without it).
``width`` and ``height`` are not options: they record the data's image size, so that the
model can be rebuilt without the data.

Example:
    >>> DRAWConfig().glimpses, "read_size" in DRAWConfig(attention=False).to_dict()
    (64, False)
    >>> DRAWConfig(glimpses=0)
    Traceback (most recent call last):
        ...
    ValueError: --glimpses must be > 0; got 0
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from reparam.data import DATASETS
from reparam.data.arrays import is_array_file
from reparam.train.config import RunConfig, device_option, flag, non_negative, positive

ATTENTION_ONLY = ("read_size", "write_size")


@dataclass(frozen=True)
class DRAWConfig(RunConfig):
    """A DRAW run: the data, the architecture, the optimiser and the length (see the module
    docstring)."""

    FREE: ClassVar[tuple[str, ...]] = ("device", "compile", "data_dir")

    dataset: str = "binarized-mnist"
    data_dir: str | None = None
    subset: int | None = None
    attention: bool = True
    glimpses: int = 64
    read_size: int = 2
    write_size: int = 5
    hidden: int = 256
    latent: int = 100
    epochs: int = 20
    batch_size: int = 100
    lr: float = 1e-3
    clip_norm: float = 10.0
    kl_warmup: int = 0
    device: str = "auto"
    seed: int = 0
    compile: bool = False
    width: int | None = None
    height: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.dataset, str) or not (
            self.dataset in DATASETS or is_array_file(self.dataset)
        ):
            raise ValueError(
                f"unknown --dataset {self.dataset!r}; choose one of {', '.join(DATASETS)}, or "
                f"a file of your own (.npy, .npz or .csv) of square binary images"
            )
        if not isinstance(self.attention, bool):
            raise ValueError(f"--attention must be true or false; got {self.attention!r}")
        for name in ("subset", "glimpses", "read_size", "write_size", "hidden", "latent",
                     "epochs", "batch_size", "width", "height"):  # fmt: skip
            positive(flag(name), getattr(self, name), integer=True)
        positive("--lr", self.lr)
        positive("--clip-norm", self.clip_norm)
        for name in ("kl_warmup", "seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{flag(name)} must be a whole number; got {value!r}")
            non_negative(flag(name), value)
        device_option(self.device)
        if not self.attention:
            for name in ATTENTION_ONLY:
                if getattr(self, name) != self.defaults()[name]:
                    raise ValueError(
                        f"{flag(name)} sizes the attention grid: it does not apply with "
                        f"--no-attention"
                    )

    def applies(self, name: str) -> bool:
        return self.attention or name not in ATTENTION_ONLY

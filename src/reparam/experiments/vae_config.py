"""Everything a training run is made of, saved as ``config.json`` in its folder."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

MODELS = ("vae", "iwae", "flow-vae", "cat-vae", "conv-vae")
SCHEDULES = ("constant", "burda")


@dataclass
class TrainConfig:
    """Settings of one run; ``reparam train`` exposes each as an option.

    ``model`` picks the architecture and its default objective: ``vae`` (ELBO), ``iwae``
    (:math:`\\mathcal L_k`), ``flow-vae`` (ELBO through a posterior flow), ``cat-vae`` (ELBO
    over 20 ten-way categorical latents), ``conv-vae`` (ELBO, convolutional).
    """

    model: str = "iwae"
    dataset: str = "digits"
    data_dir: str | None = None
    subset: int | None = None
    layers: int = 1
    k: int = 5
    objective: str | None = None
    estimator: str = "auto"
    flow: str = "planar"
    flow_length: int = 10
    epochs: int = 60
    batch_size: int = 100
    lr: float = 1e-3
    schedule: str = "constant"
    kl_warmup: int = 0
    beta: float = 1.0
    temperature_rate: float = 1e-4
    eval_k: int = 100
    device: str = "auto"
    seed: int = 0
    out: str = "runs/iwae-digits"

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ValueError(f"unknown model {self.model!r}; choose one of {', '.join(MODELS)}.")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; choose one of {SCHEDULES}.")
        if self.layers not in (1, 2):
            raise ValueError(f"layers must be 1 or 2; got {self.layers}.")
        for name in ("k", "epochs", "batch_size", "eval_k", "flow_length"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1; got {getattr(self, name)}.")
        if self.subset is not None and self.subset < 1:
            raise ValueError(f"subset must be >= 1; got {self.subset}.")
        if self.lr <= 0:
            raise ValueError(f"lr must be positive; got {self.lr}.")
        if self.objective is None:
            self.objective = "iwae" if self.model == "iwae" else "elbo"

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=1))

    @classmethod
    def load(cls, path: Path) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in json.loads(path.read_text()).items() if k in known})

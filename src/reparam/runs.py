"""Trained runs, back in Python: ``load_run(folder)`` gives the config, the model, the metrics
and the pictures of any run that ``reparam train`` wrote."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from reparam.train import RunConfig, RunFolder
from reparam.train.checkpoint import load as load_checkpoint
from reparam.train.distributed import resolve_device
from reparam.train.run_folder import read_metrics

WEIGHTS = ("best", "last")


@dataclass(frozen=True)
class Run:
    """A run folder read back: ``model`` is in eval mode on ``device`` with the ``weights``
    asked for (``best``: the best validation row's, else ``last``)."""

    folder: Path
    trainer: str
    config: RunConfig
    model: nn.Module
    weights: str
    metrics: list[dict[str, Any]]
    pictures: dict[str, Path] = field(default_factory=dict)

    def sample(self, n: int = 64) -> Tensor:
        """``n`` samples of a generative run (VAE family: decoder means; WGAN: generator)."""
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a whole number >= 1; got {n!r}")
        with torch.no_grad():
            return self.trainer_class().generate(self.model, self.config, n)

    def trainer_class(self) -> type:
        from reparam.experiments import trainer_class

        return trainer_class(self.trainer)

    def summary(self) -> str:
        return (
            f"{self.trainer} run in {self.folder}: {len(self.metrics)} rows, {self.weights} "
            f"weights, pictures {', '.join(self.pictures) or 'none'}"
        )


def load_run(path: str | Path, *, weights: str = "best", device: str = "cpu") -> Run:
    """Read the run in ``path``: its config, its model with the ``weights`` asked for
    (``"best"``, falling back to ``"last"`` for runs without validation), its metrics rows and
    its pictures.

    Example:
        >>> run = load_run("runs/iwae-digits")  # doctest: +SKIP
        >>> images = run.sample(16)             # doctest: +SKIP
    """
    from reparam.experiments import trainer_class

    if weights not in WEIGHTS:
        raise ValueError(f"weights must be one of {', '.join(WEIGHTS)}; got {weights!r}")
    folder = RunFolder(path)
    if not folder.path.is_dir():
        raise FileNotFoundError(f"no run folder at {folder.path}")
    saved = folder.read_config()
    name = saved.get("trainer")
    if name is None:
        raise ValueError(f"{folder.config_path} names no trainer: not written by this reparam")
    cls = trainer_class(name)
    config = cls.Config.from_dict(saved)
    model = cls.build_model(config)
    chosen = "best" if weights == "best" and folder.best_path.exists() else "last"
    source = folder.best_path if chosen == "best" else folder.checkpoint_path
    state = load_checkpoint(source, "cpu")
    try:
        model.load_state_dict(state["model"])
    except (KeyError, RuntimeError) as error:
        reason = str(error).strip().splitlines()[0][:300]
        raise ValueError(
            f"{source} does not fit the model its config.json describes: {reason}"
        ) from error
    model.to(resolve_device(device)).eval()
    pictures = {p.stem: p for p in sorted(folder.path.glob("*.png"))}
    return Run(
        folder.path, name, config, model, chosen, read_metrics(folder.metrics_path), pictures
    )

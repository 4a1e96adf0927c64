"""``reparam train vae|iwae|flow-vae|cat-vae|conv-vae``: one sub-command a model.

Each command's options are its config's fields (:mod:`reparam.experiments.vae_config`), with
the model's own defaults shown as defaults, plus the run folder's options; a field another
model has (``--flow``, ``--temperature-rate``, ``--layers``) is not an option of this one.
Values are checked by the config, whose ``ValueError`` the console prints as one line.
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

from reparam.cli.options import Compile, DataDir, Device, Seed, config_command, option
from reparam.cli.train import train_app
from reparam.data import DATASETS
from reparam.data.arrays import is_array_file
from reparam.estimators import names
from reparam.experiments.vae import (
    CategoricalVAETrainer,
    ConvVAETrainer,
    FlowVAETrainer,
    IWAETrainer,
    LatentTrainer,
    VAETrainer,
)
from reparam.experiments.vae_config import FLOWS, OBJECTIVES, SCHEDULES

TRAINERS: tuple[type[LatentTrainer], ...] = (
    VAETrainer,
    IWAETrainer,
    FlowVAETrainer,
    CategoricalVAETrainer,
    ConvVAETrainer,
)

SHORT = {
    "vae": "VAE on the ELBO, one or two stochastic layers",
    "iwae": "IWAE on the importance-weighted bound L_k (k = 5): the main job",
    "flow-vae": "VAE with a normalizing-flow posterior: planar, radial, IAF",
    "cat-vae": "VAE with categorical latents: Gumbel-softmax, score, VIMCO",
    "conv-vae": "convolutional VAE: strided convolutions, unpool-and-convolve decoder",
}
SUMMARIES = {
    "vae": "A VAE (Kingma & Welling 2014) on the ELBO, one or two stochastic layers.",
    "iwae": "An IWAE (Burda et al. 2016) on the importance-weighted bound L_k, k = 5.",
    "flow-vae": "A VAE whose posterior is a normalizing flow (Rezende & Mohamed 2015).",
    "cat-vae": "A VAE with 20 ten-way categorical latents (Jang et al. 2017), Gumbel-softmax.",
    "conv-vae": "A convolutional VAE: strided convolutions, unpool-and-convolve decoder.",
}

# The options in the order help shows them (a model has those of its config's fields).
ORDER = (
    "dataset", "data_dir", "subset", "layers", "flow", "flow_length", "k", "objective",
    "estimator", "temperature_rate", "epochs", "batch_size", "lr", "schedule", "kl_warmup",
    "beta", "device", "seed", "compile",
)  # fmt: skip


def annotations(trainer: type[LatentTrainer]) -> dict[str, Any]:
    """The option of each config field, with the help that applies to ``trainer``'s model."""
    latent = trainer.Config.LATENT
    estimators = "; ".join(
        f"{objective}: {', '.join(names(objective, latent))}" for objective in OBJECTIVES
    )
    return {
        "dataset": option(
            str,
            f"{', '.join(n for n, d in DATASETS.items() if d.binary)}, or a file of 0/1 rows "
            "(.npy, .npz, .csv)",
        ),
        "data_dir": DataDir,
        "subset": option(int | None, "train and validate on a random subset of this many rows"),
        "layers": option(int, "stochastic layers: 1 (784-200-200-50) or 2 (...-100-...-50)"),
        "k": option(int, "samples per data point (importance samples for iwae)"),
        "objective": option(str, f"{' or '.join(OBJECTIVES)}"),
        "estimator": option(str, f"gradient estimator, by objective ({estimators})"),
        "flow": option(str, f"posterior flow: {', '.join(FLOWS)}"),
        "flow_length": option(int, "flow steps K"),
        "temperature_rate": option(
            float, "Gumbel temperature tau = max(0.5, exp(-rate * step)), updated every 500 steps"
        ),
        "epochs": option(
            int, "passes over the training data (the run's end; --resume may raise it)"
        ),
        "batch_size": option(int, "examples per step"),
        "lr": option(float, "Adam's learning rate (the schedule's base)"),
        "schedule": option(
            str, f"{' or '.join(SCHEDULES)} (the IWAE paper's 3^i passes at lr*10^(-i/7))"
        ),
        "kl_warmup": option(int, "ELBO: steps of linear KL warm-up (0: none)"),
        "beta": option(float, "ELBO: the KL weight (1: the ELBO; >1: a beta-VAE)"),
        "device": Device,
        "seed": Seed,
        "compile": Compile,
    }


def default_out(model: str, dataset: str) -> Path:
    """``runs/MODEL-DATASET`` (a file's stem for a file of one's own)."""
    name = Path(dataset).stem if is_array_file(dataset) else dataset
    return Path("runs") / f"{model}-{name}"


def make_command(trainer: type[LatentTrainer]) -> Any:
    """The typer command of ``trainer``: its config's fields as options, then the engine's."""
    helps = annotations(trainer)
    present = {f.name for f in fields(trainer.Config)}
    return config_command(
        trainer,
        {name: helps[name] for name in ORDER if name in present},  # not x_dim: the data's
        default_out=lambda values: default_out(trainer.name, values["dataset"]),
        doc=f"{SUMMARIES[trainer.name]} Writes a run folder (default "
        f"runs/{trainer.name}-DATASET): config.json, metrics.csv, checkpoint.pt, best.pt, "
        "samples.png, reconstructions.png, curves.png.",
    )


for _trainer in TRAINERS:
    train_app.command(_trainer.name, short_help=SHORT[_trainer.name])(make_command(_trainer))

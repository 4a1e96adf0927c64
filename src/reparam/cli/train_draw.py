"""``reparam train draw``: DRAW, with or without attention, on binarized MNIST, the digits or a
file of square binary images.

The options are :class:`~reparam.experiments.draw_config.DRAWConfig`'s fields, with its
defaults (:func:`~reparam.cli.options.config_command`); the config checks every value, and the console prints its ``ValueError`` as one line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from reparam.cli.options import Compile, DataDir, Device, Seed, config_command, option
from reparam.cli.train import train_app
from reparam.data import DATASETS
from reparam.data.arrays import is_array_file
from reparam.experiments.draw import DRAWTrainer


def default_out(dataset: str, attention: bool) -> Path:
    """``runs/draw-DATASET``, ``-no-attention`` appended without attention (a file's stem
    for a file of one's own)."""
    name = Path(dataset).stem if is_array_file(dataset) else dataset
    return Path("runs") / f"draw-{name}{'' if attention else '-no-attention'}"


OPTIONS = {
    "dataset": option(
        str,
        f"{', '.join(n for n, d in DATASETS.items() if d.binary)}, or a file of square 0/1 "
        "images, a row each (.npy, .npz, .csv)",
    ),
    "data_dir": DataDir,
    "subset": option(int | None, "train and validate on a random subset of this many rows"),
    "attention": Annotated[
        bool,
        typer.Option(
            "--attention/--no-attention",
            help="Gaussian-filterbank read and write (else read the whole image, write the "
            "whole canvas)",
        ),
    ],
    "glimpses": option(int, "T, the steps of the canvas"),
    "read_size": option(int, "N of the N x N read grid (attention)"),
    "write_size": option(int, "N of the N x N write patch (attention)"),
    "hidden": option(int, "units of the encoder and decoder LSTMs"),
    "latent": option(int, "dimensions of each step's latent z_t"),
    "epochs": option(int, "passes over the training data (the run's end; --resume may raise it)"),
    "batch_size": option(int, "examples per step"),
    "lr": option(float, "Adam's learning rate"),
    "clip_norm": option(float, "clip the gradient's norm to this"),
    "kl_warmup": option(int, "steps of linear KL warm-up, beta 0 -> 1 (0: the plain ELBO)"),
    "device": Device,
    "seed": Seed,
    "compile": Compile,
}

train_app.command("draw", short_help="DRAW: recurrent attentive VAE, T glimpses on a canvas")(
    config_command(
        DRAWTrainer,
        OPTIONS,
        default_out=lambda values: default_out(values["dataset"], values["attention"]),
        doc="""DRAW (Gregor et al. 2015): encoder and decoder LSTMs write an image on a canvas
        in T glimpses, trained on the ELBO (Bernoulli pixels, the sum of the per-step KLs).
        The defaults are the paper's binarized-MNIST model (256 units, 100 latents, T = 64,
        read 2x2, write 5x5). Writes a run folder (default runs/draw-DATASET[-no-attention]):
        config.json, metrics.csv, checkpoint.pt, best.pt, samples.png, canvas.png (the canvas
        over the steps, the write attention boxed), canvas.gif and curves.png.""",
    )
)

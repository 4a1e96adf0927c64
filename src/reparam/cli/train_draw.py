"""``reparam train draw``: DRAW, with or without attention, on binarized MNIST, the digits or a
file of square binary images.

The options are :class:`~reparam.experiments.draw_config.DRAWConfig`'s fields; the config
checks every value, and the console prints its ``ValueError`` as one line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from reparam.cli.options import (
    CheckpointEvery,
    Compile,
    DataDir,
    Device,
    Out,
    Overwrite,
    Resume,
    Seed,
    train_command,
    typed,
)
from reparam.cli.train import train_app
from reparam.data import DATASETS
from reparam.data.arrays import is_array_file
from reparam.experiments.draw import DRAWTrainer


def default_out(dataset: str, attention: bool) -> Path:
    """``runs/draw-DATASET``, ``-no-attention`` appended without attention (a file's stem
    for a file of one's own)."""
    name = Path(dataset).stem if is_array_file(dataset) else dataset
    return Path("runs") / f"draw-{name}{'' if attention else '-no-attention'}"


@train_app.command("draw", short_help="DRAW: recurrent attentive VAE, T glimpses on a canvas")
def train_draw(
    ctx: typer.Context,
    dataset: Annotated[
        str,
        typer.Option(
            help=f"{', '.join(n for n, d in DATASETS.items() if d.binary)}, or a file of "
            "square 0/1 images, a row each (.npy, .npz, .csv)"
        ),
    ] = "binarized-mnist",
    data_dir: DataDir = None,
    subset: Annotated[
        int | None, typer.Option(help="train and validate on a random subset of this many rows")
    ] = None,
    attention: Annotated[
        bool,
        typer.Option(
            "--attention/--no-attention",
            help="Gaussian-filterbank read and write (else read the whole image, write the "
            "whole canvas)",
        ),
    ] = True,
    glimpses: Annotated[int, typer.Option(help="T, the steps of the canvas")] = 64,
    read_size: Annotated[int, typer.Option(help="N of the N x N read grid (attention)")] = 2,
    write_size: Annotated[int, typer.Option(help="N of the N x N write patch (attention)")] = 5,
    hidden: Annotated[int, typer.Option(help="units of the encoder and decoder LSTMs")] = 256,
    latent: Annotated[int, typer.Option(help="dimensions of each step's latent z_t")] = 100,
    epochs: Annotated[
        int,
        typer.Option(help="passes over the training data (the run's end; --resume may raise it)"),
    ] = 20,
    batch_size: Annotated[int, typer.Option(help="examples per step")] = 100,
    lr: Annotated[float, typer.Option(help="Adam's learning rate")] = 1e-3,
    clip_norm: Annotated[float, typer.Option(help="clip the gradient's norm to this")] = 10.0,
    kl_warmup: Annotated[
        int, typer.Option(help="steps of linear KL warm-up, beta 0 -> 1 (0: the plain ELBO)")
    ] = 0,
    device: Device = "auto",
    seed: Seed = 0,
    compile: Compile = False,
    out: Out = None,
    resume: Resume = False,
    overwrite: Overwrite = False,
    checkpoint_every: CheckpointEvery = 0,
) -> None:
    """DRAW (Gregor et al. 2015): encoder and decoder LSTMs write an image on a canvas in T
    glimpses, trained on the ELBO (Bernoulli pixels, the sum of the per-step KLs). The
    defaults are the paper's binarized-MNIST model (256 units, 100 latents, T = 64, read 2x2,
    write 5x5). Writes a run folder (default runs/draw-DATASET[-no-attention]): config.json,
    metrics.csv, checkpoint.pt, best.pt, samples.png, canvas.png (the canvas over the steps,
    the write attention boxed), canvas.gif and curves.png."""
    given: dict[str, Any] = {}
    if is_array_file(dataset) and typed(ctx, "dataset"):
        given["dataset"] = str(Path(dataset).expanduser().resolve())
    train_command(
        DRAWTrainer,
        ctx,
        out=out or default_out(dataset, attention),
        resume=resume,
        overwrite=overwrite,
        checkpoint_every=checkpoint_every,
        given=given,
    )

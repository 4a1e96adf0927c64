"""``reparam train wgan``: a Wasserstein GAN on the ring, a registry data set or a file.

The options are :class:`~reparam.experiments.wgan_config.WGANConfig`'s fields. Defaults that
depend on another option (the learning rate on ``--lipschitz``, the batch size on
``--dataset`` …) show their rule in the help; the config resolves them, so ``config.json``
records the values used. The config checks every value, and the console prints its
``ValueError`` as one line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

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
)
from reparam.cli.train import train_app
from reparam.data.arrays import is_array_file
from reparam.experiments.wgan import WGANTrainer
from reparam.experiments.wgan_config import DATASETS, DEFAULT_RULES


def default_out(dataset: str, lipschitz: str) -> Path:
    """``runs/wgan-DATASET-LIPSCHITZ`` (a file's stem for a file of one's own)."""
    name = Path(dataset).stem if is_array_file(dataset) else dataset
    return Path("runs") / f"wgan-{name}-{lipschitz}"


@train_app.command("wgan")
def train_wgan(
    ctx: typer.Context,
    dataset: Annotated[
        str,
        typer.Option(
            help=f"{', '.join(DATASETS)}, or a .npy, .npz or .csv file of rows (images when "
            "a square number of values in [0, 1]; 2-D rows are drawn as points)"
        ),
    ] = "ring",
    lipschitz: Annotated[
        str,
        typer.Option(
            help="the critic's constraint: clip (weight clipping, Arjovsky et al. 2017) or gp "
            "(gradient penalty, Gulrajani et al. 2017)"
        ),
    ] = "clip",
    steps: Annotated[
        int | None,
        typer.Option(
            help="generator steps (the run's end; --resume may raise it)",
            show_default=DEFAULT_RULES["steps"],
        ),
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option(
            help="examples per critic and generator step", show_default=DEFAULT_RULES["batch_size"]
        ),
    ] = None,
    lr: Annotated[
        float | None,
        typer.Option(help="learning rate of both networks", show_default=DEFAULT_RULES["lr"]),
    ] = None,
    critic_steps: Annotated[int, typer.Option(help="critic steps per generator step")] = 5,
    clip: Annotated[
        float | None,
        typer.Option(help="clip: the weights' bound c", show_default=DEFAULT_RULES["clip"]),
    ] = None,
    gp_lambda: Annotated[
        float | None,
        typer.Option(
            help="gp: the penalty's weight lambda", show_default=DEFAULT_RULES["gp_lambda"]
        ),
    ] = None,
    noise_dim: Annotated[
        int | None,
        typer.Option(
            help="the generator's noise dimension", show_default=DEFAULT_RULES["noise_dim"]
        ),
    ] = None,
    hidden: Annotated[int, typer.Option(help="width of the networks' hidden layers")] = 256,
    log_every: Annotated[
        int | None,
        typer.Option(
            help="generator steps between metrics rows", show_default=DEFAULT_RULES["log_every"]
        ),
    ] = None,
    eval_points: Annotated[
        int, typer.Option(help="held-out and generated points behind each row's metrics")
    ] = 512,
    subset: Annotated[
        int | None,
        typer.Option(help="train on this many random rows of the data set (default: all)"),
    ] = None,
    seed: Seed = 0,
    device: Device = "auto",
    compile: Compile = False,
    data_dir: DataDir = None,
    out: Out = None,
    resume: Resume = False,
    overwrite: Overwrite = False,
    checkpoint_every: CheckpointEvery = 0,
) -> None:
    """A Wasserstein GAN: a generator against a critic that estimates W1 (the
    Kantorovich-Rubinstein dual), kept Lipschitz by weight clipping (RMSprop) or the gradient penalty (Adam
    0.5, 0.9), with the papers' defaults.

    The run folder holds config.json, metrics.csv (a row after step 1, every --log-every
    steps and at the end: the critic's held-out W1 estimate, its Lipschitz estimate and, on
    2-D data, the exact W1), checkpoint.pt, best.pt (best held-out W1), samples.png and
    curves.png. Under `torchrun --nproc_per_node=N` the ranks split each batch and average
    their gradients.
    """
    train_command(
        WGANTrainer,
        ctx,
        out=out or default_out(dataset, lipschitz),
        resume=resume,
        overwrite=overwrite,
        checkpoint_every=checkpoint_every,
    )

"""``reparam train bnn``: Bayesian neural networks, on the UCI protocol or as MNIST classifiers.

``--dataset uci:NAME`` runs :class:`~reparam.experiments.uci.UCITrainer` (``bnn-uci``);
``--dataset mnist-test`` or ``digits`` runs
:class:`~reparam.experiments.bnn_mnist.MNISTTrainer` (``bnn-mnist``). The options are the two
configs' fields; those of one trainer are an error with the other's data sets. On
``--resume`` the trainer is the one the saved ``config.json`` names.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from reparam.cli.app import console
from reparam.cli.options import (
    ENGINE_OPTIONS,
    CheckpointEvery,
    Compile,
    DataDir,
    Device,
    Out,
    Overwrite,
    Resume,
    Seed,
    given_options,
    train_command,
)
from reparam.cli.train import train_app
from reparam.data.uci import PREFIX
from reparam.experiments.bnn_mnist import DATASETS, MNISTResults, MNISTTrainer
from reparam.experiments.bnn_options import parse_numbers
from reparam.experiments.uci import UCIResult, UCITrainer
from reparam.train import RunFolder, RunResult, Trainer
from reparam.train.run_folder import RunError

TRAINERS: dict[str, type[Trainer]] = {"bnn-uci": UCITrainer, "bnn-mnist": MNISTTrainer}
WHERE = {"bnn-uci": "uci:NAME", "bnn-mnist": "mnist-test and digits"}
# The options of the command line given as text, and how to read them.
LISTS = {"prior_sigmas": float, "hidden": int}


def default_out(dataset: str) -> Path:
    """``runs/bnn-DATASET``, with ``uci:NAME`` as ``uci-NAME``.

    >>> default_out("uci:yacht")
    PosixPath('runs/bnn-uci-yacht')
    """
    return Path("runs") / f"bnn-{dataset.replace(':', '-')}"


def trainer_for(dataset: str) -> type[Trainer]:
    """The trainer of ``--dataset``."""
    if dataset.startswith(PREFIX):
        return UCITrainer
    if dataset in DATASETS:
        return MNISTTrainer
    raise ValueError(f"unknown --dataset {dataset!r}; choose uci:NAME, {', '.join(DATASETS)}")


def saved_trainer(out: Path) -> type[Trainer]:
    """The trainer of the run in ``out``, from its ``config.json``."""
    name = RunFolder(out).read_config().get("trainer")
    if name not in TRAINERS:
        raise RunError(f"{out} holds a run of {name}, not of bnn; resume it with its own command")
    return TRAINERS[name]


def check_applies(trainer: type[Trainer], typed: dict[str, Any]) -> None:
    """A ``ValueError`` for a typed option that ``trainer`` does not have."""
    fields = set(trainer.Config.__dataclass_fields__)
    for name in typed:
        if name not in fields:
            other = next(n for n, t in TRAINERS.items() if t is not trainer)
            raise ValueError(
                f"--{name.replace('_', '-')} applies to --dataset {WHERE[other]} only, not to "
                f"this {trainer.name} run"
            )


def print_results(trainer: type[Trainer], result: RunResult) -> None:
    """The run's test figures, read back from its results.json (rank 0 wrote it)."""
    if int(os.environ.get("RANK", "0")) != 0:
        return
    folder = result.folder.path
    results = UCIResult if trainer is UCITrainer else MNISTResults
    console.print(results.read(folder).summary(), markup=False)
    console.print(f"wrote {folder}/results.md", markup=False)


@train_app.command("bnn")
def train_bnn(
    ctx: typer.Context,
    dataset: Annotated[
        str,
        typer.Option(
            help="uci:NAME (the UCI regression protocol, e.g. uci:yacht), mnist-test (MNIST's "
            "test set re-split 8000/2000) or digits (sklearn's 8x8 digits)"
        ),
    ] = "digits",
    estimator: Annotated[
        str, typer.Option(help="weight noise: local, weight (Bayes by Backprop), flipout, separate")
    ] = "local",
    epochs: Annotated[
        int | None,
        typer.Option(
            help="passes over the data (uci: of each phase)",
            show_default="uci: about 12 000 steps, per data set; mnist-test, digits: 20",
        ),
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option(
            help="examples per step",
            show_default="uci: 32, or 128 above 5000 rows; mnist-test, digits: 100",
        ),
    ] = None,
    lr: Annotated[float, typer.Option(help="Adam's learning rate")] = 1e-3,
    kl_weighting: Annotated[
        str,
        typer.Option(help="KL share of minibatch i: uniform (1/M) or blundell (2^(M-i)/(2^M-1))"),
    ] = "uniform",
    init_std: Annotated[
        float | None,
        typer.Option(
            help="the posterior's initial sigma",
            show_default="uci: 0.001; mnist-test, digits: 0.01",
        ),
    ] = None,
    samples: Annotated[int, typer.Option(help="posterior draws averaged at test time")] = 100,
    splits: Annotated[
        int | None,
        typer.Option(help="uci: the first N standard splits", show_default="all"),
    ] = None,
    prior_sigmas: Annotated[
        str,
        typer.Option(help="uci: candidate prior scales s of N(0, s²), chosen on validation"),
    ] = "0.1,0.3,1",
    checkpoints: Annotated[
        int,
        typer.Option(help="uci: epochs of each phase at which the held-out part is read"),
    ] = 20,
    valid_fraction: Annotated[
        float,
        typer.Option(help="uci: share of each training split held out for selection"),
    ] = 0.2,
    hidden: Annotated[
        str, typer.Option(help="mnist-test, digits: hidden widths, comma-separated")
    ] = "400,400",
    prior_pi: Annotated[
        float,
        typer.Option(help="mnist-test, digits: scale-mixture prior: weight of the wide part"),
    ] = 0.5,
    prior_sigma1: Annotated[
        float, typer.Option(help="mnist-test, digits: scale-mixture prior: the wide sigma")
    ] = 1.0,
    prior_sigma2: Annotated[
        float,
        typer.Option(help="mnist-test, digits: scale-mixture prior: the narrow sigma (exp(-6))"),
    ] = 0.0024787521766663585,
    dropout: Annotated[
        float, typer.Option(help="mnist-test, digits: the dropout network's drop probability")
    ] = 0.5,
    mc_dropout: Annotated[
        bool,
        typer.Option(
            "--mc-dropout/--no-mc-dropout",
            help="mnist-test, digits: also read the dropout network as MC dropout",
        ),
    ] = True,
    bins: Annotated[
        int, typer.Option(help="mnist-test, digits: bins of the calibration error")
    ] = 15,
    train_size: Annotated[
        int | None,
        typer.Option(
            help="mnist-test, digits: train on the first N training images", show_default="all"
        ),
    ] = None,
    test_size: Annotated[
        int | None,
        typer.Option(
            help="mnist-test, digits: test on the first N test images", show_default="all"
        ),
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
    """Bayesian neural networks: the UCI regression benchmark (Hernández-Lobato & Adams 2015)
    or BBB, plain and dropout classifiers (Blundell et al. 2015) with their calibration.

    uci:NAME trains every split side by side: a selection phase (prior scale and epoch chosen
    on 20 % of each training split), then retraining on the whole split, read on its test part
    at the chosen epoch. mnist-test and digits train the three classifiers side by side and
    evaluate them at the end. The run folder holds config.json, metrics.csv, checkpoint.pt (the
    networks; `reparam.load_run`), results.json and results.md (mnist: also reliability.png).
    Under `torchrun --nproc_per_node=N` the classifiers train with DistributedDataParallel.
    Options marked "uci:" apply to uci:NAME only, those marked "mnist-test, digits:" to the
    classifiers only; the other trainer's options are an error.
    """
    out = out or default_out(dataset)
    typed = given_options(ctx)
    trainer = saved_trainer(out) if resume else trainer_for(dataset)
    check_applies(trainer, typed)
    values = typed if resume else {k: v for k, v in ctx.params.items() if k not in ENGINE_OPTIONS}
    lists = {
        name: parse_numbers(f"--{name.replace('_', '-')}", values[name], kind)
        for name, kind in LISTS.items()
        if name in values and name in trainer.Config.__dataclass_fields__
    }
    result = train_command(
        trainer,
        ctx,
        out=out,
        resume=resume,
        overwrite=overwrite,
        checkpoint_every=checkpoint_every,
        given=lists,
    )
    print_results(trainer, result)

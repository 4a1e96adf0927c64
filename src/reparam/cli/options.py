"""Options every training command shares, and the bridge from a command to the run engine."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import torch
import typer

from reparam.cli.app import console
from reparam.train import RunOptions, RunResult, Trainer, run
from reparam.train.distributed import resolve_device

Out = Annotated[
    Path | None,
    typer.Option(help="run folder (default: under runs/, named after the model and data)"),
]
Resume = Annotated[
    bool, typer.Option("--resume", help="continue the run in --out (to a new --epochs/--steps)")
]
Overwrite = Annotated[
    bool, typer.Option("--overwrite", help="replace the run in --out (its files are deleted)")
]
CheckpointEvery = Annotated[
    int,
    typer.Option(
        min=0, help="also checkpoint every N steps (0: only at the end of each epoch or period)"
    ),
]
Device = Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N")]
Seed = Annotated[int, typer.Option(help="random seed")]
Compile = Annotated[bool, typer.Option("--compile", help="torch.compile the model's forward pass")]
DataDir = Annotated[str | None, typer.Option(help="data folder (else $REPARAM_DATA)")]

# Options that belong to the run folder and the engine, not to the trainer's config.
ENGINE_OPTIONS = ("out", "resume", "overwrite", "checkpoint_every")


def pick_device(device: str) -> torch.device:
    """``auto`` → CUDA when present, else CPU; a ValueError names the choices otherwise."""
    return resolve_device(device)


def parse_floats(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError as error:
        raise typer.BadParameter(f"expected comma-separated numbers, got {text!r}") from error


def typed(ctx: typer.Context, name: str) -> bool:
    """Whether the user typed option ``name``. Typer runs its own copy of click, whose
    ``ParameterSource`` is not ``click.core``'s: compare the member's name."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name != "DEFAULT"


def given_options(ctx: typer.Context) -> dict[str, Any]:
    """The options the user typed (not those left at their defaults), by parameter name,
    without the engine's own (``--out``, ``--resume`` …)."""
    return {
        name: value
        for name, value in ctx.params.items()
        if typed(ctx, name) and name not in ENGINE_OPTIONS
    }


def train_command(
    trainer: type[Trainer],
    ctx: typer.Context,
    *,
    out: Path,
    resume: bool,
    overwrite: bool,
    checkpoint_every: int,
    given: dict[str, Any] | None = None,
) -> RunResult:
    """Run ``trainer`` with the options given on the command line and print its summary.

    On a fresh run every option counts (given or default); on ``--resume`` only the given
    ones, which the engine checks against the saved config.
    """
    options = dict(ctx.params if not resume else given_options(ctx))
    options = {k: v for k, v in options.items() if k not in ENGINE_OPTIONS}
    options.update(given or {})
    result = run(
        trainer,
        options,
        RunOptions(out, resume=resume, overwrite=overwrite, checkpoint_every=checkpoint_every),
    )
    if int(os.environ.get("RANK", "0")) == 0:
        console.print(f"{trainer.name}: {result.summary()}", soft_wrap=True, markup=False)
    return result

"""Options every training command shares, and the bridge from a command to the run engine."""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import torch
import typer

from reparam.cli.app import console
from reparam.data.arrays import is_array_file
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

# Options that belong to the run folder and the engine, not to the trainer's config: each
# one's annotation and default.
ENGINE: dict[str, tuple[Any, Any]] = {
    "out": (Out, None),
    "resume": (Resume, False),
    "overwrite": (Overwrite, False),
    "checkpoint_every": (CheckpointEvery, 0),
}
ENGINE_OPTIONS = tuple(ENGINE)


def option(kind: Any, text: str) -> Any:
    """``Annotated[kind, typer.Option(help=text)]``."""
    return Annotated[kind, typer.Option(help=text)]


def config_command(
    trainer: type[Trainer],
    options: dict[str, Any],
    *,
    default_out: Callable[[dict[str, Any]], Path],
    doc: str,
) -> Callable[..., None]:
    """The typer command that trains ``trainer``: the config fields ``options`` names, in
    its order, each with its annotation (type and help) and ``trainer.Config``'s default,
    then the run folder's options. ``--out`` defaults to ``default_out`` of the options'
    values; a ``--dataset`` typed as a file of one's own is recorded as an absolute path."""
    defaults = trainer.Config.defaults()

    def command(ctx: typer.Context, **values: Any) -> None:
        engine = {name: values.pop(name) for name in ENGINE}
        given: dict[str, Any] = {}
        dataset = values.get("dataset")
        if isinstance(dataset, str) and is_array_file(dataset) and typed(ctx, "dataset"):
            given["dataset"] = str(Path(dataset).expanduser().resolve())
        train_command(
            trainer,
            ctx,
            out=engine["out"] or default_out(values),
            resume=engine["resume"],
            overwrite=engine["overwrite"],
            checkpoint_every=engine["checkpoint_every"],
            given=given,
        )

    def keyword(name: str, annotation: Any, default: Any) -> inspect.Parameter:
        kind = inspect.Parameter.KEYWORD_ONLY
        return inspect.Parameter(name, kind, default=default, annotation=annotation)

    context = inspect.Parameter(
        "ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context
    )
    parameters = [
        context,
        *(keyword(name, annotation, defaults[name]) for name, annotation in options.items()),
        *(keyword(name, *spec) for name, spec in ENGINE.items()),
    ]
    command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in parameters}
    command.__name__ = trainer.name.replace("-", "_")
    command.__doc__ = doc
    return command


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

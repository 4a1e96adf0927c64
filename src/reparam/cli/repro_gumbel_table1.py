"""``reparam repro gumbel-table1``: Jang, Gu & Poole (2017)'s Table 1 — the two-layer SBN and
the VAE, Bernoulli and categorical, each trained with every estimator column."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from reparam.cli.app import console
from reparam.cli.options import DataDir, Device, Overwrite, Resume, Seed, parse_floats
from reparam.cli.repro import repro_app
from reparam.experiments.gumbel_table1_config import COLUMNS, PAPER_LEARNING_RATES, ROWS
from reparam.experiments.gumbel_table1_table import Cell, number, reproduce_table1


def names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def report(cell: Cell) -> None:
    if cell.missing is not None:
        console.print(f"{cell.row} / {cell.column}: {cell.missing}", markup=False)
    else:
        console.print(
            f"{cell.row} / {cell.column}: {number(cell.value)} (lr {cell.lr:g}, "
            f"{cell.seconds:.0f} s)",
            markup=False,
        )


@repro_app.command(
    "gumbel-table1",
    short_help="Jang et al. 2017, Table 1: SBN and VAE, Bernoulli and categorical, 13 estimators",
)
def repro_gumbel_table1(
    rows: Annotated[str, typer.Option(help="comma-separated rows")] = ",".join(ROWS),
    columns: Annotated[
        str, typer.Option(help="comma-separated estimator specs (the table's columns)")
    ] = ",".join(COLUMNS),
    lr: Annotated[
        str,
        typer.Option(
            help="comma-separated learning rates; the best on validation is "
            f"kept (the paper's grid: {','.join(f'{x:g}' for x in PAPER_LEARNING_RATES)})"
        ),
    ] = "1e-3,3e-3",
    replicas: Annotated[
        bool,
        typer.Option(
            help="train a cell's rates as replicas in one batched run where the estimator "
            "allows (not NVIL, REBAR, RELAX); --no-replicas: one run a rate"
        ),
    ] = True,
    steps: Annotated[int, typer.Option(min=1, help="SGD steps per run")] = 10_000,
    eval_every: Annotated[int, typer.Option(min=1, help="steps between validation rows")] = 1000,
    batch_size: Annotated[int, typer.Option(min=1, help="rows per step")] = 100,
    train_subset: Annotated[
        int | None, typer.Option(min=1, help="train on a random subset", show_default="all")
    ] = None,
    valid_subset: Annotated[int, typer.Option(min=1, help="validation rows")] = 1000,
    valid_samples: Annotated[int, typer.Option(min=1, help="m of the validation metric")] = 100,
    eval_samples: Annotated[int, typer.Option(min=1, help="m of the test metric")] = 1000,
    eval_subset: Annotated[
        int | None, typer.Option(min=1, help="test on a random subset", show_default="all")
    ] = None,
    temperature_rate: Annotated[
        float, typer.Option(help="r of the Gumbel temperature max(0.5, exp(-r t))")
    ] = 1e-4,
    temperature_every: Annotated[int, typer.Option(min=1, help="N: steps between updates")] = 500,
    dataset: Annotated[str, typer.Option(help="the paper used binarized-mnist")] = (
        "binarized-mnist"
    ),
    data_dir: DataDir = None,
    device: Device = "auto",
    seed: Seed = 0,
    out: Annotated[
        Path, typer.Option(help="folder: OUT/ROW/COLUMN/lr-LR[_LR...], OUT/TABLE.md")
    ] = Path("runs/repro-gumbel-table1"),
    resume: Resume = False,
    overwrite: Overwrite = False,
) -> None:
    """Jang, Gu & Poole (2017), Table 1: the 392-200-200-392 SBN (Bernoulli) and the
    392-(20x10)-(20x10)-392 SBN (categorical) predicting the bottom half of a digit from its
    top half, and the VAE with 200 Bernoulli or 20x10 categorical latents; every column (an
    estimator spec) trained with SGD (momentum 0.9) at each --lr, the best on validation
    evaluated on test with --eval-samples. Writes OUT/TABLE.md beside the paper's numbers.
    A column whose estimator is not registered, or does not apply, is listed as such."""
    base = {
        "dataset": dataset,
        "data_dir": data_dir,
        "subset": train_subset,
        "steps": steps,
        "eval_every": min(eval_every, steps),
        "batch_size": batch_size,
        "valid_subset": valid_subset,
        "valid_samples": valid_samples,
        "temperature_rate": temperature_rate,
        "temperature_every": temperature_every,
        "seed": seed,
        "device": device,
    }
    markdown = reproduce_table1(
        out,
        rows=names(rows),
        columns=names(columns),
        lrs=parse_floats(lr),
        base=base,
        eval_samples=eval_samples,
        eval_subset=eval_subset,
        resume=resume,
        overwrite=overwrite,
        replicas=replicas,
        on_cell=report,
    )
    console.print(markdown, markup=False)

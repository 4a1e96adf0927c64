"""``reparam eval``: the test bound of a trained latent-variable model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from reparam.cli.app import app, console
from reparam.cli.options import Device
from reparam.experiments.vae_evaluation import SPLITS, evaluate_saved_run


@app.command(name="eval")
def evaluate_run(
    run: Annotated[Path, typer.Argument(help="a run folder written by `reparam train`")],
    k: Annotated[int, typer.Option(help="importance samples for L_k")] = 5000,
    chunk: Annotated[int, typer.Option(help="samples drawn at a time (bounds memory)")] = 100,
    split: Annotated[str, typer.Option(help=f"{', '.join(SPLITS)}")] = "test",
    subset: Annotated[
        int | None, typer.Option(help="a random subset of this many examples (default: all)")
    ] = None,
    batch_size: Annotated[int, typer.Option(help="examples at a time")] = 100,
    weights: Annotated[str, typer.Option(help="best (best validation row) or last")] = "best",
    device: Device = "auto",
) -> None:
    """Test NLL as -mean L_k, the negative ELBO and the active units of a latent-variable
    run's best model (chosen on validation): a VAE-family, DRAW or sentence-VAE run (with its
    KL term and, for sentences, the perplexity). Writes RUN/eval-SPLIT-kK.json."""
    result = evaluate_saved_run(
        run,
        k=k,
        chunk=chunk,
        split=split,
        subset=subset,
        batch_size=batch_size,
        device=device,
        weights=weights,
        progress=console.is_terminal,
    )
    table = Table(title=f"{run} on {split} ({result.examples} examples)")
    extra = (name.replace("_", " ") for name in result.extra)
    for column in ("NLL = -L_k", "k", "-ELBO", "active units", *extra, "seconds"):
        table.add_column(column, justify="right")
    table.add_row(
        f"{result.nll:.2f}",
        str(k),
        f"{result.negative_elbo:.2f}",
        "—" if result.active_units is None else str(result.active_units),
        *(f"{value:.2f}" for value in result.extra.values()),
        f"{result.seconds:.1f}",
    )
    console.print(table)

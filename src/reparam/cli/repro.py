"""``reparam repro``: train and evaluate every model of a paper's table."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from reparam.cli.app import app, console
from reparam.data.uci import UCI_FOLDERS
from reparam.experiments.repro import TABLES, reproduce
from reparam.experiments.schedule import BURDA_EPOCHS
from reparam.experiments.uci import UCIConfig, run_uci
from reparam.experiments.uci_table import uci_table
from reparam.experiments.vae_config import TrainConfig


@app.command()
def repro(
    table: Annotated[str, typer.Argument(help=f"one of {', '.join(TABLES)}, uci")],
    dataset: Annotated[
        str, typer.Option(help="the papers used binarized-mnist")
    ] = "binarized-mnist",
    data_dir: Annotated[str | None, typer.Option(help="data folder (else $REPARAM_DATA)")] = None,
    epochs: Annotated[
        int | None, typer.Option(help="passes per model (default 3280, the paper's schedule)")
    ] = None,
    schedule: Annotated[str, typer.Option(help="burda (the paper's) or constant")] = "burda",
    batch_size: Annotated[
        int | None, typer.Option(help="examples per step (default 20; uci: per data set)")
    ] = None,
    eval_k: Annotated[int, typer.Option(help="importance samples of the test bound")] = 5000,
    eval_subset: Annotated[
        int | None, typer.Option(help="evaluate on a random subset of the test set")
    ] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda")] = "auto",
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    out: Annotated[Path | None, typer.Option(help="folder (default runs/repro-TABLE)")] = None,
    datasets: Annotated[
        str | None, typer.Option(help="uci: comma-separated short names (default all nine)")
    ] = None,
    splits: Annotated[
        int | None, typer.Option(help="uci: the first N standard splits (default all)")
    ] = None,
) -> None:
    """Train and evaluate every model of a paper's table; write TABLE.md beside its numbers.

    `repro uci` runs `train bnn` (local reparameterization) on the nine UCI sets: --epochs and
    --batch-size default per data set, --datasets picks some.
    """
    if table == "uci":
        folder = out or Path("runs") / "repro-uci"
        names = datasets.split(",") if datasets else list(UCI_FOLDERS)
        results = []
        for name in names:
            config = UCIConfig(
                dataset=name,
                epochs=epochs,
                batch_size=batch_size,
                splits=splits,
                device=device,
                seed=seed,
                data_dir=data_dir,
                out=str(folder / name),
            )
            results.append(run_uci(config))
        markdown = uci_table(results, "BayesLinear, local reparameterization, N(0, s²) prior")
        (folder / "uci.md").write_text(markdown + "\n")
        console.print(markdown)
        return
    base = dict(
        dataset=dataset,
        data_dir=data_dir,
        schedule=schedule,
        batch_size=batch_size or 20,
        device=device,
        seed=seed,
        out=str(out or Path("runs") / f"repro-{table}"),
        epochs=epochs or (BURDA_EPOCHS if schedule == "burda" else 200),
    )
    try:
        markdown = reproduce(
            table,
            TrainConfig(**base),
            eval_k=eval_k,
            eval_subset=eval_subset,
            on_row=lambda label: console.print(f"[bold]{table}[/bold]: {label}"),
        )
    except (ValueError, FileNotFoundError) as error:
        raise typer.BadParameter(str(error)) from error
    console.print(markdown)

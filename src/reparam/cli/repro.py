"""``reparam repro TABLE``: train and evaluate every model of a paper's table.

``repro_app`` is the command group; each table is a sub-command (``iwae``, ``flows``,
``gumbel`` here; other modules add theirs with ``@repro_app.command("NAME")``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from reparam.cli.app import CONTEXT, app, console
from reparam.cli.options import DataDir, Device, Overwrite, Resume, Seed
from reparam.experiments.repro import TABLES, reproduce
from reparam.experiments.schedule import BURDA_EPOCHS

repro_app = typer.Typer(
    rich_markup_mode=None,
    help="Reproduce a paper's table: train and evaluate each of its models, write TABLE.md.",
    no_args_is_help=True,
    context_settings=CONTEXT,
)
app.add_typer(repro_app, name="repro")

Dataset = Annotated[str, typer.Option(help="the papers used binarized-mnist")]
Epochs = Annotated[
    int | None,
    typer.Option(
        help=f"passes per model (default {BURDA_EPOCHS}, the burda schedule; constant: 200)"
    ),
]
Schedule = Annotated[str, typer.Option(help="burda (the IWAE paper's) or constant")]
BatchSize = Annotated[int, typer.Option(help="examples per step")]
EvalK = Annotated[int, typer.Option(help="importance samples of the test bound")]
EvalSubset = Annotated[
    int | None, typer.Option(help="evaluate on a random subset of the test set (default: all)")
]
OutFolder = Annotated[Path | None, typer.Option(help="folder (default runs/repro-TABLE)")]


def table_command(table: str) -> Callable[..., None]:
    def command(
        dataset: Dataset = "binarized-mnist",
        data_dir: DataDir = None,
        epochs: Epochs = None,
        schedule: Schedule = "burda",
        batch_size: BatchSize = 20,
        eval_k: EvalK = 5000,
        eval_subset: EvalSubset = None,
        device: Device = "auto",
        seed: Seed = 0,
        out: OutFolder = None,
        resume: Resume = False,
        overwrite: Overwrite = False,
    ) -> None:
        if epochs is not None and epochs < 1:
            raise ValueError(f"--epochs must be > 0; got {epochs}")
        base = {
            "dataset": dataset,
            "data_dir": data_dir,
            "epochs": epochs or (BURDA_EPOCHS if schedule == "burda" else 200),
            "schedule": schedule,
            "batch_size": batch_size,
            "device": device,
            "seed": seed,
        }
        markdown = reproduce(
            table,
            base,
            out or Path("runs") / f"repro-{table}",
            eval_k=eval_k,
            eval_subset=eval_subset,
            resume=resume,
            overwrite=overwrite,
            on_row=lambda label: console.print(f"[bold]{table}[/bold]: {label}"),
        )
        console.print(markdown)

    title = TABLES[table][0]
    command.__doc__ = (
        f"{title}. Trains each row in OUT/ROW and writes OUT/{table}.md beside the published "
        f"column; the defaults are the paper's (they need a GPU)."
    )
    command.__name__ = table
    return command


SHORT = {
    "iwae": "Burda et al. 2016, Appendix D: VAE, IWAE k=5 and 50, DReG, two layers",
    "flows": "Rezende & Mohamed 2015, Table 2: diagonal Gaussian, planar flows K=10 and 80",
    "gumbel": "Jang et al. 2017, Table 2: categorical VAE, Gumbel-softmax, straight-through",
}
for _table in TABLES:
    repro_app.command(_table, short_help=SHORT[_table])(table_command(_table))

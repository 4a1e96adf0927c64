"""``reparam data``: the datasets, where their files are looked up, and whether they are sound."""

from __future__ import annotations

import sys
import textwrap
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from reparam.data import files
from reparam.data.registry import DATASETS, Dataset, load

data_app = typer.Typer(help="Datasets: list them, and verify their files.", no_args_is_help=True)
console = Console(width=None if sys.stdout.isatty() else 150)

DataDir = Annotated[
    Path | None,
    typer.Option(help="data folder (default: $REPARAM_DATA, else ~/.cache/reparam)"),
]


@data_app.command("list")
def list_datasets(data_dir: DataDir = None) -> None:
    """The datasets: splits and sizes, where their files are looked up, whether present."""
    root = files.data_dir(data_dir)
    table = Table(title=f"datasets (data folder {root})")
    for column in ("name", "splits", "looked up in", "files", "description"):
        table.add_column(column, overflow="fold")
    for dataset in DATASETS.values():
        splits = ", ".join(f"{split} {rows}×{dim}" for split, (rows, dim) in dataset.shapes.items())
        table.add_row(
            dataset.name, splits, *whereabouts(dataset, root), escape(dataset.description)
        )
    console.print(table)


def whereabouts(dataset: Dataset, root: Path) -> tuple[str, str]:
    """The folders where ``dataset``'s files are looked up, and which are missing (markup)."""
    names = [name for split_files in dataset.files.values() for name in split_files]
    if not names:
        return "inside scikit-learn", "[green]embedded[/]"
    folders = ", ".join(sorted({str((root / name).parent) for name in names}))
    missing = [name for split in dataset.files for name in dataset.missing(split, root)]
    if not missing:
        return escape(folders), "[green]present[/]"
    return escape(folders), "[red]missing[/] " + escape(", ".join(Path(n).name for n in missing))


@data_app.command()
def verify(
    name: Annotated[str | None, typer.Argument(help="dataset (default: all)")] = None,
    data_dir: DataDir = None,
) -> None:
    """Load and check every split of dataset NAME (default: all); exit 1 on any problem.

    Absent files are downloaded first; shapes and values are checked.
    """
    if name is not None and name not in DATASETS:
        raise typer.BadParameter(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")
    problems = 0
    for dataset in [DATASETS[name]] if name else DATASETS.values():
        for split in dataset.shapes:
            start = time.perf_counter()
            try:
                data = load(dataset.name, split, data_dir)
            except (FileNotFoundError, ValueError) as error:
                problems += 1
                console.print(f"[red]problem[/] {dataset.name} {split}:")
                console.print(textwrap.indent(str(error), "  "), markup=False, soft_wrap=True)
                continue
            elapsed = time.perf_counter() - start
            shape = "×".join(map(str, data.shape))
            console.print(f"[green]OK[/] {dataset.name} {split}: {shape} in {elapsed:.1f} s")
    if problems:
        console.print(f"[red]{problems} split(s) with problems[/]")
        raise typer.Exit(1)

"""The ``reparam`` command line."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated

import torch
import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from reparam.diagnostics import PROBLEMS
from reparam.diagnostics.plot import plot_variance
from reparam.diagnostics.study import StudyRow, run_study

app = typer.Typer(
    help="reparam: gradients of expectations, and the models built on them.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console(width=None if sys.stdout.isatty() else 150)


def pick_device(device: str) -> torch.device:
    """``auto`` → CUDA when present, else CPU; anything else is passed to ``torch.device``."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise typer.BadParameter("CUDA was asked for but torch sees no GPU; use --device cpu.")
    return torch.device(device)


def parse_floats(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError as error:
        raise typer.BadParameter(f"expected comma-separated numbers, got {text!r}") from error


@app.callback()
def main_callback() -> None:
    """reparam: gradients of expectations, and the models built on them."""


@app.command()
def variance(
    problem: Annotated[
        str, typer.Option(help=f"test problem: {', '.join(PROBLEMS)}")
    ] = "quadratic",
    k: Annotated[
        str | None, typer.Option(help="comma-separated values of k (default: the problem's grid)")
    ] = None,
    n: Annotated[int, typer.Option(min=1, help="samples per gradient estimate")] = 1,
    repeats: Annotated[int, typer.Option(min=2, help="independent estimates per point")] = 10_000,
    estimators: Annotated[
        str | None, typer.Option(help="comma-separated estimator labels (default: all)")
    ] = None,
    out: Annotated[Path, typer.Option(help="folder for the PNG plot and JSON rows")] = Path(
        "runs/variance"
    ),
    device: Annotated[str, typer.Option(help="auto, cpu or cuda")] = "auto",
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
) -> None:
    """Variance and signal-to-noise of gradient estimators against k, beside exact values.

    The Gaussian problems are the univariate study of Mohamed et al. (2020): N(1, 1) with
    f = (x-k)^2, exp(-k x^2), cos(k x). Writes OUT/PROBLEM.png and OUT/PROBLEM.json.
    """
    if problem not in PROBLEMS:
        raise typer.BadParameter(f"unknown problem {problem!r}; choose from {', '.join(PROBLEMS)}")
    spec = PROBLEMS[problem]
    ks = parse_floats(k) if k else list(spec.ks)
    labels = [s.strip() for s in estimators.split(",")] if estimators else list(spec.estimators(n))
    torch.manual_seed(seed)
    chosen = pick_device(device)
    start = time.perf_counter()
    with Progress(console=console, transient=True, disable=not console.is_terminal) as progress:
        task = progress.add_task(f"{problem} on {chosen}", total=len(ks) * len(labels))
        try:
            rows = run_study(
                spec,
                ks,
                n=n,
                repeats=repeats,
                estimators=labels,
                device=chosen,
                on_step=lambda: progress.advance(task),
            )
        except ValueError as error:
            raise typer.BadParameter(str(error)) from error
    elapsed = time.perf_counter() - start
    console.print(variance_table(rows, f"{spec.description}: n={n}, {repeats} repeats"))
    out.mkdir(parents=True, exist_ok=True)
    png = plot_variance(rows, spec.description, out / f"{problem}.png")
    (out / f"{problem}.json").write_text(json.dumps([r.as_dict() for r in rows], indent=1))
    console.print(f"wrote {png} and {out / f'{problem}.json'} in {elapsed:.1f} s on {chosen}")


def variance_table(rows: list[StudyRow], title: str) -> Table:
    table = Table(title=title)
    for column in (
        "k",
        "estimator",
        "param",
        "E\\[g]",
        "exact ∇",
        "|bias|/SE",
        "n·Var",
        "exact n·Var",
        "SNR",
    ):
        table.add_column(column, justify="left" if column in ("estimator", "param") else "right")
    for r in rows:
        exact_var = (
            "—" if r.exact_per_sample_variance is None else f"{r.exact_per_sample_variance:.4g}"
        )
        table.add_row(
            f"{r.k:g}",
            r.estimator,
            r.parameter,
            f"{r.mean:.4g}",
            f"{r.exact:.4g}",
            f"{r.bias_z:.1f}",
            f"{r.per_sample_variance:.4g}",
            exact_var,
            f"{r.snr:.3g}",
        )
    return table


def main() -> None:
    app()

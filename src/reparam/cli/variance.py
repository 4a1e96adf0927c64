"""``reparam variance``: gradient variance and signal-to-noise of estimators against k."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import torch
import typer
from rich.progress import Progress
from rich.table import Table

from reparam.cli.app import app, console
from reparam.cli.options import parse_floats, pick_device
from reparam.diagnostics import PROBLEMS
from reparam.diagnostics.study import StudyRow, run_study
from reparam.plots.variance import plot_variance


@app.command()
def variance(
    problem: Annotated[
        str, typer.Option(help=f"test problem: {', '.join(PROBLEMS)}, bnn")
    ] = "quadratic",
    k: Annotated[
        str | None, typer.Option(help="comma-separated values of k (default: the problem's grid)")
    ] = None,
    n: Annotated[int, typer.Option(min=1, help="samples per gradient estimate")] = 1,
    repeats: Annotated[
        int | None,
        typer.Option(
            min=2,
            help="independent estimates per point (default 10000); for bnn, draws of "
            "minibatch + noise per estimator and phase (default 100)",
        ),
    ] = None,
    estimators: Annotated[
        str | None,
        typer.Option(
            help="comma-separated estimator labels (default: all); for bnn: local, separate, "
            "weight, flipout, none"
        ),
    ] = None,
    out: Annotated[Path, typer.Option(help="folder for the PNG plot and JSON rows")] = Path(
        "runs/variance"
    ),
    device: Annotated[str, typer.Option(help="auto, cpu or cuda")] = "auto",
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    sizes: Annotated[
        str, typer.Option(help="bnn: comma-separated layer widths, inputs first")
    ] = "784,1000,1000,1000,10",
    epochs: Annotated[
        int, typer.Option(min=0, help="bnn: epochs of training before the second measurement")
    ] = 10,
    train_size: Annotated[
        int, typer.Option(min=2, help="bnn: training examples (the first of MNIST's test set)")
    ] = 8000,
    batch_size: Annotated[int, typer.Option(min=1, help="bnn: minibatch size M")] = 100,
    dataset: Annotated[
        str, typer.Option(help="bnn: auto (mnist, else digits), mnist (files required), digits")
    ] = "auto",
    alpha: Annotated[
        float,
        typer.Option(help="bnn: initial σ = √α·|μ| per weight, > 0 (α = 1 ~ dropout p = 0.5)"),
    ] = 1.0,
) -> None:
    """Variance and signal-to-noise of gradient estimators against k, beside exact values.

    The Gaussian problems are the univariate study of Mohamed et al. (2020): N(1, 1) with
    f = (x-k)^2, exp(-k x^2), cos(k x). Writes OUT/PROBLEM.png and OUT/PROBLEM.json.

    --problem bnn: Kingma, Salimans & Welling (2015), Table 1: the variance of a Bayesian MLP's
    minibatch ELBO gradient (top and bottom layer) under local reparameterization, separate
    and single weight samples, Flipout and no noise, at initialization and after --epochs of
    training, with the time per epoch of each. Writes OUT/bnn.png and OUT/bnn.json.
    """
    if problem == "bnn":
        from reparam.experiments.bnn_report import run_and_report
        from reparam.experiments.bnn_variance import ESTIMATOR_ORDER, parse_sizes

        torch.manual_seed(seed)
        try:
            run_and_report(
                console,
                out,
                estimators=[s.strip() for s in estimators.split(",")]
                if estimators
                else list(ESTIMATOR_ORDER),
                repeats=repeats or 100,
                epochs=epochs,
                sizes=parse_sizes(sizes),
                train_size=train_size,
                batch_size=batch_size,
                dataset=dataset,
                alpha=alpha,
                device=pick_device(device),
            )
        except ValueError as error:
            raise typer.BadParameter(str(error)) from error
        return
    repeats = repeats or 10_000
    if problem not in PROBLEMS:
        raise typer.BadParameter(
            f"unknown problem {problem!r}; choose from {', '.join(PROBLEMS)}, bnn"
        )
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

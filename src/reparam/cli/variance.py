"""``reparam variance``: gradient variance and signal-to-noise of estimators against k, and the
Bayesian network study (``--problem bnn``, a trainer of the run engine)."""

from __future__ import annotations

import csv
import json
import math
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from reparam.cli.app import app, console
from reparam.cli.options import Device, Seed
from reparam.cli.options import typed as is_typed

# The options that only `--problem bnn` reads, and those only the quadrature problems read.
BNN_ONLY = (
    "sizes",
    "epochs",
    "train_size",
    "batch_size",
    "dataset",
    "alpha",
    "data_dir",
    "resume",
    "overwrite",
    "checkpoint_every",
)
QUADRATURE_ONLY = ("k", "n")
# The options that only `--problem rebar-toy` reads, and those it refuses (it trains on the CPU).
TOY_ONLY = ("steps", "lr")
TOY_REFUSES = (*BNN_ONLY, "device")
# The options that are fields of the study's config (VarianceStudyConfig).
BNN_CONFIG = (
    "sizes",
    "epochs",
    "repeats",
    "batch_size",
    "train_size",
    "dataset",
    "estimators",
    "alpha",
    "seed",
    "device",
    "data_dir",
)


@app.command()
def variance(
    ctx: typer.Context,
    problem: Annotated[
        str,
        typer.Option(help="quadratic, exp, cosine, categorical, gamma, bnn, or rebar-toy"),
    ] = "quadratic",
    k: Annotated[
        str | None,
        typer.Option(
            help="comma-separated values of k (default: the problem's grid); for rebar-toy, "
            "the targets t (default 0.499,0.49,0.45)"
        ),
    ] = None,
    n: Annotated[int, typer.Option(help="samples per gradient estimate")] = 1,
    repeats: Annotated[
        int | None,
        typer.Option(
            help="independent estimates per point (default 10000); for bnn, draws of "
            "minibatch + noise per estimator and phase (default 100); for rebar-toy, estimates "
            "per measurement (default 1000)",
        ),
    ] = None,
    estimators: Annotated[
        str | None,
        typer.Option(
            help="comma-separated estimator labels (default: all); for bnn: local, separate, "
            "weight, flipout, none"
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="output folder (default runs/variance; for bnn, runs/variance-bnn)"),
    ] = None,
    device: Device = "auto",
    seed: Seed = 0,
    sizes: Annotated[
        str | None,
        typer.Option(
            help="bnn: comma-separated layer widths, inputs first (default: 784,1000,1000,1000,10 "
            "with the data's input width)"
        ),
    ] = None,
    epochs: Annotated[
        int, typer.Option(help="bnn: epochs of training before the second measurement")
    ] = 10,
    train_size: Annotated[
        int | None,
        typer.Option(help="bnn: the first N training examples (default all: 8000 for MNIST)"),
    ] = None,
    batch_size: Annotated[int, typer.Option(help="bnn: minibatch size M")] = 100,
    dataset: Annotated[
        str, typer.Option(help="bnn: auto (mnist, else digits), mnist (files required), digits")
    ] = "auto",
    alpha: Annotated[
        float,
        typer.Option(help="bnn: initial σ = √α·|μ| per weight, > 0 (α = 1 ~ dropout p = 0.5)"),
    ] = 1.0,
    data_dir: Annotated[
        str | None, typer.Option(help="bnn: data folder (else $REPARAM_DATA)")
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="bnn: continue the run in --out (to a new --epochs)")
    ] = False,
    overwrite: Annotated[
        bool,
        typer.Option("--overwrite", help="bnn: replace the run in --out (its files are deleted)"),
    ] = False,
    checkpoint_every: Annotated[
        int, typer.Option(min=0, help="bnn: also checkpoint every N steps (0: after each epoch)")
    ] = 0,
    steps: Annotated[
        int, typer.Option(help="rebar-toy: Adam steps on θ per estimator and target")
    ] = 2000,
    lr: Annotated[float, typer.Option(help="rebar-toy: Adam's learning rate")] = 0.01,
) -> None:
    """Variance and signal-to-noise of gradient estimators against k, beside exact values.

    The Gaussian problems are the univariate study of Mohamed et al. (2020): N(1, 1) with
    f = (x-k)^2, exp(-k x^2), cos(k x). Writes OUT/PROBLEM.png and OUT/PROBLEM.json.

    --problem bnn: Kingma, Salimans & Welling (2015), Table 1: the variance of a Bayesian MLP's
    minibatch ELBO gradient (top and bottom layer) under local reparameterization, separate
    and single weight samples, Flipout and no noise, at initialization and after --epochs of
    training, with the time per epoch of each. A run folder (checkpoints, --resume) with
    OUT/bnn.png and OUT/bnn.json.

    --problem rebar-toy: Tucker et al. (2017) and Grathwohl et al. (2018), Fig. 1: θ trained by
    each estimator that applies to a Bernoulli on E[(b - t)^2], with the variance and SNR of
    its gradient every steps/40 steps. Writes OUT/rebar-toy.png, .json and .csv.
    """
    from reparam.diagnostics import PROBLEMS

    typed = {name for name in ctx.params if is_typed(ctx, name)}
    if problem not in ("bnn", "rebar-toy") and problem not in PROBLEMS:
        raise ValueError(
            f"unknown --problem {problem!r}; choose from {', '.join(PROBLEMS)}, bnn, rebar-toy"
        )
    if repeats is not None and repeats < 2:
        raise ValueError(f"--repeats must be >= 2 to estimate a variance; got {repeats}")
    if problem != "rebar-toy":
        stray = [name for name in TOY_ONLY if name in typed]
        if stray:
            verb = _flags(stray, "applies", "apply")
            raise ValueError(f"{verb} only to --problem rebar-toy; got --problem {problem}")
    else:
        stray = [name for name in TOY_REFUSES if name in typed]
        if stray:
            verb = _flags(stray, "does", "do")
            raise ValueError(f"{verb} not apply to --problem rebar-toy (it trains on the CPU)")
        toy(k, n, repeats or 1000, estimators, out, seed, steps, lr)
        return
    if problem == "bnn":
        stray = [name for name in QUADRATURE_ONLY if name in typed]
        if stray:
            raise ValueError(f"{_flags(stray, 'does', 'do')} not apply to --problem bnn")
        # A fresh run takes every option; a resume only those typed (the engine checks them).
        options = {
            key: value
            for key, value in ctx.params.items()
            if key in BNN_CONFIG and (key in typed or not resume)
        }
        bnn(options, resume=resume, overwrite=overwrite, checkpoint_every=checkpoint_every, out=out)
        return
    stray = [name for name in BNN_ONLY if name in typed]
    if stray:
        verb = _flags(stray, "applies", "apply")
        raise ValueError(f"{verb} only to --problem bnn; got --problem {problem}")
    gaussian(PROBLEMS[problem], k, n, repeats or 10_000, estimators, out, device, seed)


def _flags(names: list[str], one: str, many: str) -> str:
    """``--k does`` / ``--k and --n do``: the options named, with the verb that fits."""
    flags = [f"--{name.replace('_', '-')}" for name in names]
    if len(flags) == 1:
        return f"{flags[0]} {one}"
    return ", ".join(flags[:-1]) + f" and {flags[-1]} {many}"


def parse_numbers(text: str, option: str) -> list[float]:
    """``"0,1.5"`` → ``[0.0, 1.5]``; a ValueError naming ``option`` otherwise."""
    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ValueError(f"{option} must be comma-separated numbers; got {text!r}") from None
    if not values:
        raise ValueError(f"{option} names no numbers; got {text!r}")
    return values


def parse_labels(text: str | None, option: str = "--estimators") -> list[str] | None:
    if text is None:
        return None
    labels = [s.strip() for s in text.split(",") if s.strip()]
    if not labels:
        raise ValueError(f"{option} names no estimator; got {text!r}")
    return labels


def gaussian(
    spec: Any,
    k: str | None,
    n: int,
    repeats: int,
    estimators: str | None,
    out: Path | None,
    device: str,
    seed: int,
) -> None:
    """The quadrature problems: one row per (k, estimator, parameter), a table and a plot."""
    import torch
    from rich.progress import Progress

    from reparam.diagnostics.study import run_study
    from reparam.plots.variance import plot_variance
    from reparam.train.distributed import resolve_device

    if isinstance(n, bool) or n < 1:
        raise ValueError(f"--n must be a whole number >= 1; got {n}")
    ks = parse_numbers(k, "--k") if k is not None else list(spec.ks)
    for value in ks:
        spec.check_k(value)
    labels = parse_labels(estimators) or list(spec.estimators(n))
    chosen = resolve_device(device)
    folder = out or Path("runs/variance")
    torch.manual_seed(seed)
    start = time.perf_counter()
    with Progress(console=console, transient=True, disable=not console.is_terminal) as progress:
        task = progress.add_task(f"{spec.name} on {chosen}", total=len(ks) * len(labels))
        rows = run_study(
            spec,
            ks,
            n=n,
            repeats=repeats,
            estimators=labels,
            device=chosen,
            on_step=lambda: progress.advance(task),
        )
    elapsed = time.perf_counter() - start
    console.print(variance_table(rows, f"{spec.description}: n={n}, {repeats} repeats"))
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ValueError(f"cannot write to {folder}: {error.strerror or error}") from error
    png = plot_variance(rows, spec.description, folder / f"{spec.name}.png")
    (folder / f"{spec.name}.json").write_text(json.dumps([r.as_dict() for r in rows], indent=1))
    console.print(
        f"wrote {png} and {folder / f'{spec.name}.json'} in {elapsed:.1f} s on {chosen}",
        markup=False,
    )


def toy(
    k: str | None,
    n: int,
    repeats: int,
    estimators: str | None,
    out: Path | None,
    seed: int,
    steps: int,
    lr: float,
) -> None:
    """``--problem rebar-toy``: every estimator trains θ on each target; a table, the figure,
    the rows as JSON and CSV."""
    import torch
    from rich.progress import Progress

    from reparam.diagnostics.rebar_toy import TARGETS, biased_specs, rebar_toy, toy_estimators
    from reparam.plots.rebar_toy import plot_rebar_toy

    if isinstance(n, bool) or n < 1:
        raise ValueError(f"--n must be a whole number >= 1; got {n}")
    if steps < 1:
        raise ValueError(f"--steps must be >= 1; got {steps}")
    if not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"--lr must be a finite number > 0; got {lr}")
    targets = parse_numbers(k, "--k") if k is not None else list(TARGETS)
    for target in targets:
        if not math.isfinite(target):
            raise ValueError(f"--k must be finite numbers; got {target}")
    labels = parse_labels(estimators) or list(toy_estimators(n))
    folder = out or Path("runs/variance")
    torch.manual_seed(seed)
    start = time.perf_counter()
    with Progress(console=console, transient=True, disable=not console.is_terminal) as progress:
        task = progress.add_task("rebar-toy on cpu", total=len(targets) * len(labels))
        rows = rebar_toy(
            targets,
            labels,
            steps=steps,
            lr=lr,
            n=n,
            every=max(1, steps // 40),
            repeats=repeats,
            on_step=lambda: progress.advance(task),
        )
    elapsed = time.perf_counter() - start
    console.print(
        toy_table(rows, f"E[(b - t)^2]: n={n}, {steps} steps, lr={lr:g}, {repeats} repeats")
    )
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ValueError(f"cannot write to {folder}: {error.strerror or error}") from error
    png = plot_rebar_toy(rows, folder / "rebar-toy.png", biased=biased_specs(labels))
    records = [r.as_dict() for r in rows]
    (folder / "rebar-toy.json").write_text(json.dumps(records, indent=1))
    with (folder / "rebar-toy.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(records[0]))
        writer.writeheader()
        writer.writerows(records)
    console.print(
        f"wrote {png}, rebar-toy.json and rebar-toy.csv in {elapsed:.1f} s on cpu", markup=False
    )


def toy_table(rows: list[Any], title: str) -> Any:
    """Per target and estimator: θ and the gradient's variance and SNR at the start and end."""
    from rich.table import Table

    table = Table(title=title)
    for column in ("t", "estimator", "θ end", "Var start", "Var end", "SNR start", "SNR end"):
        table.add_column(column, justify="left" if column == "estimator" else "right")
    runs = dict.fromkeys((r.target, r.estimator) for r in rows)
    for target, label in runs:
        mine = [r for r in rows if r.target == target and r.estimator == label]
        first, last = mine[0], mine[-1]
        table.add_row(
            f"{target:g}",
            label,
            f"{last.theta:.3f}",
            f"{first.variance:.3g}",
            f"{last.variance:.3g}",
            f"{first.snr:.3g}",
            f"{last.snr:.3g}",
        )
    return table


def bnn(
    options: dict[str, Any],
    *,
    resume: bool,
    overwrite: bool,
    checkpoint_every: int,
    out: Path | None,
) -> None:
    """``--problem bnn``: ``options`` (fields of the study's config) run on the engine."""
    from reparam.experiments.bnn_report import run_and_report
    from reparam.experiments.bnn_variance import parse_sizes
    from reparam.train import RunOptions

    given: dict[str, Any] = {}
    for key, value in options.items():
        if value is None:
            continue
        if key == "sizes":
            value = tuple(parse_sizes(value))
        elif key == "estimators":
            value = tuple(parse_labels(value) or ())
        elif key == "alpha" and not math.isfinite(value):
            raise ValueError(f"--alpha must be a finite number > 0; got {value}")
        given[key] = value
    run_and_report(
        console,
        given,
        RunOptions(
            out or Path("runs/variance-bnn"),
            resume=resume,
            overwrite=overwrite,
            checkpoint_every=checkpoint_every,
        ),
    )


def variance_table(rows: list[Any], title: str) -> Any:
    from rich.table import Table

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

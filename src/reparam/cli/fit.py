"""``reparam fit``: Gaussian mixtures and HMMs on tables, and the CTC demo (a trainer)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from reparam.cli.app import CONTEXT, app, console
from reparam.cli.options import (
    CheckpointEvery,
    Device,
    Overwrite,
    Resume,
    Seed,
    train_command,
)

fit_app = typer.Typer(
    rich_markup_mode=None,
    help="Fit a latent-variable model to a table: a Gaussian mixture, an HMM; a CTC demo.",
    no_args_is_help=True,
    context_settings=CONTEXT,
)
app.add_typer(fit_app, name="fit")

SourceArgument = Annotated[
    str, typer.Argument(help="a numeric CSV file (header row optional) or uci:NAME")
]
ColumnsOption = Annotated[
    str | None,
    typer.Option(help="comma-separated column indices or header names (default all)"),
]
RowsOption = Annotated[
    str | None, typer.Option(help="the first N rows, or START:STOP (default all)")
]
DataDirOption = Annotated[
    str | None, typer.Option(help="data folder for uci:NAME (else $REPARAM_DATA)")
]
FitOverwrite = Annotated[
    bool, typer.Option("--overwrite", help="replace the fit in --out (its files are rewritten)")
]


@fit_app.command("gmm")
def fit_gmm_command(
    source: SourceArgument,
    components: Annotated[int, typer.Option(help="number of mixture components K")],
    covariance: Annotated[
        str, typer.Option(help="full, diag, tied (one shared) or spherical (σ²I each)")
    ] = "full",
    columns: ColumnsOption = None,
    rows: RowsOption = None,
    max_iter: Annotated[int, typer.Option(help="at most this many EM iterations")] = 200,
    tol: Annotated[float, typer.Option(help="stop when the mean log-likelihood gains less")] = 1e-3,
    seed: Seed = 0,
    out: Annotated[Path, typer.Option(help="output folder")] = Path("runs/fit-gmm"),
    overwrite: FitOverwrite = False,
    data_dir: DataDirOption = None,
) -> None:
    """Fit a Gaussian mixture by EM; write params.json, labels.csv and mixture.png."""
    from reparam.experiments.fitting import fit_gmm

    fit = fit_gmm(
        source,
        components,
        covariance=covariance,
        columns=columns,
        rows=rows,
        max_iter=max_iter,
        tol=tol,
        seed=seed,
        out=out,
        data_dir=data_dir,
        overwrite=overwrite,
    )
    console.print(fit.summary(), markup=False)


@fit_app.command("hmm")
def fit_hmm_command(
    source: SourceArgument,
    states: Annotated[int, typer.Option(help="number of hidden states K")],
    emission: Annotated[str, typer.Option(help="gaussian or categorical")] = "gaussian",
    columns: ColumnsOption = None,
    rows: RowsOption = None,
    n_iter: Annotated[int, typer.Option(help="at most this many Baum–Welch steps")] = 100,
    tol: Annotated[float, typer.Option(help="stop when the log-likelihood gains less")] = 1e-4,
    seed: Annotated[int, typer.Option(help="random seed (of the first restart)")] = 0,
    restarts: Annotated[
        int, typer.Option(help="fits from seeds seed, seed+1, …; keep the likeliest")
    ] = 1,
    compare_column: Annotated[
        str | None,
        typer.Option(help="a column to score the Viterbi states against (majority vote)"),
    ] = None,
    out: Annotated[Path, typer.Option(help="output folder")] = Path("runs/fit-hmm"),
    overwrite: FitOverwrite = False,
    data_dir: DataDirOption = None,
) -> None:
    """Fit an HMM by Baum–Welch to the rows, in file order, as one sequence; write
    params.json, labels.csv (Viterbi state, max posterior) and states.png."""
    from reparam.experiments.fitting import fit_hmm

    fit = fit_hmm(
        source,
        states,
        emission=emission,
        columns=columns,
        rows=rows,
        n_iter=n_iter,
        tol=tol,
        seed=seed,
        out=out,
        data_dir=data_dir,
        compare_column=compare_column,
        restarts=restarts,
        overwrite=overwrite,
    )
    console.print(fit.summary(), markup=False)


@fit_app.command("ctc-demo")
def fit_ctc_demo_command(
    ctx: typer.Context,
    steps: Annotated[
        int, typer.Option(help="Adam steps in all (a multiple of --eval-every)")
    ] = 400,
    eval_every: Annotated[int, typer.Option(help="steps per period (then validation)")] = 50,
    labels: Annotated[int, typer.Option(help="label classes, besides the blank")] = 4,
    batch_size: Annotated[int, typer.Option(help="sequences per step")] = 32,
    hidden: Annotated[int, typer.Option(help="channels of the hidden convolution")] = 32,
    noise: Annotated[float, typer.Option(help="standard deviation of the frame noise")] = 0.3,
    lr: Annotated[float, typer.Option(help="Adam learning rate")] = 0.01,
    valid_size: Annotated[int, typer.Option(help="held-out sequences scored each period")] = 200,
    seed: Seed = 0,
    device: Device = "cpu",
    out: Annotated[Path | None, typer.Option(help="run folder (default runs/ctc-demo)")] = None,
    resume: Resume = False,
    overwrite: Overwrite = False,
    checkpoint_every: CheckpointEvery = 0,
) -> None:
    """Train a tiny per-frame classifier with the CTC loss on noisy toy sequences, on the run
    engine (checkpoints, --resume, best.pt by the held-out label error rate); draw the
    alignment posteriors γ_t(s) of a held-out sequence to ctc-alignment.png."""
    from reparam.experiments.ctc_demo import CTCDemoTrainer

    folder = out or Path("runs/ctc-demo")
    result = train_command(
        CTCDemoTrainer,
        ctx,
        out=folder,
        resume=resume,
        overwrite=overwrite,
        checkpoint_every=checkpoint_every,
    )
    if result.history:
        last = result.history[-1]
        console.print(
            f"held-out label error rate {100 * last['valid_ler']:.2f} %, sequences exact "
            f"{100 * last['valid_exact']:.1f} %; picture {folder / 'ctc-alignment.png'}",
            markup=False,
        )

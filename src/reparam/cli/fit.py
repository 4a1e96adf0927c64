"""``reparam fit``: Gaussian mixtures, HMMs and the CTC demo on tables."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from reparam.cli.app import CONTEXT, app, console

fit_app = typer.Typer(
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


@fit_app.command("gmm")
def fit_gmm_command(
    source: SourceArgument,
    components: Annotated[int, typer.Option(help="number of mixture components K")],
    covariance: Annotated[str, typer.Option(help="full or diag")] = "full",
    columns: ColumnsOption = None,
    rows: RowsOption = None,
    max_iter: Annotated[int, typer.Option(min=1, help="at most this many EM iterations")] = 200,
    tol: Annotated[float, typer.Option(help="stop when the mean log-likelihood gains less")] = 1e-3,
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    out: Annotated[Path, typer.Option(help="output folder")] = Path("runs/fit-gmm"),
    data_dir: DataDirOption = None,
) -> None:
    """Fit a Gaussian mixture by EM; write params.json, labels.csv and mixture.png."""
    from reparam.experiments.fitting import fit_gmm, summary_line

    try:
        result = fit_gmm(
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
        )
    except (ValueError, FileNotFoundError) as error:
        raise typer.BadParameter(str(error)) from error
    console.print(summary_line("gmm", result))


@fit_app.command("hmm")
def fit_hmm_command(
    source: SourceArgument,
    states: Annotated[int, typer.Option(help="number of hidden states K")],
    emission: Annotated[str, typer.Option(help="gaussian or categorical")] = "gaussian",
    columns: ColumnsOption = None,
    rows: RowsOption = None,
    n_iter: Annotated[int, typer.Option(min=1, help="at most this many Baum–Welch steps")] = 100,
    tol: Annotated[float, typer.Option(help="stop when the log-likelihood gains less")] = 1e-4,
    seed: Annotated[int, typer.Option(help="random seed (of the first restart)")] = 0,
    restarts: Annotated[
        int, typer.Option(min=1, help="fits from seeds seed, seed+1, …; keep the likeliest")
    ] = 1,
    compare_column: Annotated[
        str | None,
        typer.Option(help="a column to score the Viterbi states against (majority vote)"),
    ] = None,
    out: Annotated[Path, typer.Option(help="output folder")] = Path("runs/fit-hmm"),
    data_dir: DataDirOption = None,
) -> None:
    """Fit an HMM by Baum–Welch to the rows, in file order, as one sequence; write
    params.json, labels.csv (Viterbi state, max posterior) and states.png."""
    from reparam.experiments.fitting import fit_hmm, summary_line

    try:
        result = fit_hmm(
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
        )
    except (ValueError, FileNotFoundError) as error:
        raise typer.BadParameter(str(error)) from error
    console.print(summary_line("hmm", result))


@fit_app.command("ctc-demo")
def fit_ctc_demo_command(
    out: Annotated[Path, typer.Option(help="output folder")] = Path("runs/fit-ctc"),
    steps: Annotated[int, typer.Option(min=1, help="Adam steps")] = 400,
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
) -> None:
    """Train a tiny model with the CTC loss on noisy toy sequences; report the held-out label
    error rate and draw the alignment posteriors γ_t(s) to ctc-alignment.png."""
    from reparam.experiments.fitting import ctc_toy_demo, summary_line

    console.print(summary_line("ctc", ctc_toy_demo(out, steps=steps, seed=seed)))

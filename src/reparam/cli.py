"""The ``reparam`` command line."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Annotated

import torch
import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from reparam.data.commands import data_app
from reparam.data.uci import UCI_FOLDERS
from reparam.diagnostics import PROBLEMS
from reparam.diagnostics.plot import plot_variance
from reparam.diagnostics.study import StudyRow, run_study
from reparam.train import MODELS, TrainConfig
from reparam.train import train as run_training
from reparam.train.bnn_mnist import MNISTConfig, train_mnist_classifiers
from reparam.train.evaluation import evaluate_saved_run
from reparam.train.repro import TABLES, reproduce
from reparam.train.schedule import BURDA_EPOCHS
from reparam.train.uci import UCIConfig, UCIResult, run_uci
from reparam.train.uci_table import uci_table
from reparam.train.wgan import WGANConfig, train_wgan

app = typer.Typer(
    help="reparam: gradients of expectations, and the models built on them.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(data_app, name="data")
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
        from reparam.diagnostics.bnn_report import run_and_report
        from reparam.diagnostics.bnn_variance import ESTIMATOR_ORDER, parse_sizes

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


def main() -> None:
    app()


@app.command()
def train(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help=f"one of {', '.join(MODELS)}, bnn, wgan")] = "iwae",
    dataset: Annotated[
        str, typer.Option(help="a name from `reparam data list` (bnn: uci:NAME or mnist-test)")
    ] = "digits",
    data_dir: Annotated[str | None, typer.Option(help="data folder (else $REPARAM_DATA)")] = None,
    subset: Annotated[
        int | None, typer.Option(help="train and validate on this many random rows")
    ] = None,
    layers: Annotated[int, typer.Option(help="stochastic layers: 1 or 2 (vae, iwae)")] = 1,
    k: Annotated[int, typer.Option(help="samples per data point")] = 5,
    objective: Annotated[
        str | None, typer.Option(help="elbo or iwae (default: iwae for iwae, else elbo)")
    ] = None,
    estimator: Annotated[
        str,
        typer.Option(
            help="auto, pathwise, dreg, vimco, score, score+leave-one-out, score+optimal, "
            "score+moving-average, gumbel-softmax, st-gumbel, straight-through; "
            "bnn: local (auto), weight, flipout, separate"
        ),
    ] = "auto",
    flow: Annotated[str, typer.Option(help="planar, radial or iaf (flow-vae)")] = "planar",
    flow_length: Annotated[int, typer.Option(help="flow steps K (flow-vae)")] = 10,
    epochs: Annotated[
        int | None, typer.Option(help="passes over the data (default 3280 for burda, else 200)")
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option(help="examples per step (default 100; bnn: per data set)")
    ] = None,
    lr: Annotated[float, typer.Option(help="learning rate (burda: the first stage's)")] = 1e-3,
    schedule: Annotated[
        str, typer.Option(help="constant, or burda: 3^i passes at lr·10^(-i/7)")
    ] = "constant",
    kl_warmup: Annotated[int, typer.Option(help="steps of linear KL warm-up (elbo)")] = 0,
    beta: Annotated[float, typer.Option(help="KL weight β after the warm-up (elbo; β-VAE)")] = 1.0,
    temperature_rate: Annotated[
        float, typer.Option(help="Gumbel τ = max(0.5, exp(-rate·step)) (cat-vae)")
    ] = 1e-4,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda")] = "auto",
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    out: Annotated[
        Path | None, typer.Option(help="run folder (default runs/MODEL-DATASET)")
    ] = None,
    resume: Annotated[bool, typer.Option(help="continue the run in --out to --epochs")] = False,
    splits: Annotated[
        int | None, typer.Option(help="bnn on uci: the first N standard splits (default all)")
    ] = None,
    prior_sigmas: Annotated[
        str, typer.Option(help="bnn on uci: candidate prior scales, chosen on validation")
    ] = "0.1,0.3,1",
    kl_weighting: Annotated[
        str, typer.Option(help="bnn: uniform (1/M) or blundell (2^(M-i)/(2^M-1))")
    ] = "uniform",
    lipschitz: Annotated[
        str,
        typer.Option(
            help="wgan: critic constraint, clip (weights in [-0.01, 0.01], RMSprop lr 5e-5) "
            "or gp (gradient penalty, Adam lr 1e-4, betas 0.5, 0.9)"
        ),
    ] = "clip",
    critic_steps: Annotated[
        int, typer.Option(min=1, help="wgan: critic updates per generator step")
    ] = 5,
    steps: Annotated[
        int | None,
        typer.Option(min=1, help="wgan: generator steps (default 1500 on ring, else --epochs)"),
    ] = None,
    gp_lambda: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            help="wgan gp: penalty weight λ (default 10; 0.1 on ring, as the authors' toy code)",
        ),
    ] = None,
) -> None:
    """Train a latent-variable model (or a Bayesian network) and write its run folder.

    The folder holds config.json, metrics.csv, checkpoint.pt (the last epoch, for --resume),
    best.pt (best validation bound), samples.png, reconstructions.png and curves.png. Under
    `torchrun --nproc_per_node=N` the same command trains with DistributedDataParallel.

    `train bnn --dataset uci:NAME` runs the UCI protocol (all standard splits side by side)
    and writes results.json; `train bnn --dataset mnist-test` trains the MNIST classifiers.

    `train wgan --dataset ring|binarized-mnist --lipschitz clip|gp` trains a Wasserstein GAN
    (default lr, λ, batch size and length: the papers'; on ring, 1500 generator steps, batch
    256, λ = 0.1; on images, 2 epochs, batch 64) and writes config.json, metrics.csv (critic
    W1 estimate, Lipschitz estimate and, on ring, the exact W1), model.pt, samples.png and
    curves.png.
    """
    if model == "wgan":
        # The shared --lr and --dataset defaults belong to the VAEs: wgan's are the papers'.
        lr_given = ctx.get_parameter_source("lr").name != "DEFAULT"
        if ctx.get_parameter_source("dataset").name == "DEFAULT":
            dataset = "ring"
        try:
            result = train_wgan(
                WGANConfig(
                    dataset=dataset,
                    lipschitz=lipschitz,
                    steps=steps,
                    epochs=epochs,
                    batch_size=batch_size,
                    lr=lr if lr_given else None,
                    critic_steps=critic_steps,
                    lam=gp_lambda,
                    device=device,
                    seed=seed,
                    data_dir=data_dir,
                    out=str(out or Path("runs") / f"wgan-{dataset}-{lipschitz}"),
                )
            )
        except (ValueError, FileNotFoundError) as error:
            raise typer.BadParameter(str(error)) from error
        first, last = result.rows[0], result.rows[-1]
        exact = (
            f"exact W1 {first['exact_w1']:.3f} → {last['exact_w1']:.3f}, "
            if result.config.dataset == "ring"
            else ""
        )
        console.print(
            f"wgan-{lipschitz} on {dataset}: {last['step']} generator steps in "
            f"{last['seconds']:.0f} s; {exact}critic estimate {last['critic_w1']:.4g}, "
            f"Lipschitz estimate {last['lipschitz']:.3g}; wrote {result.config.out}"
        )
        return
    if model == "bnn":
        estimator = "local" if estimator == "auto" else estimator
        out = out or Path("runs") / f"bnn-{dataset.replace(':', '-')}"
        if dataset.startswith("uci:"):
            train_uci(
                UCIConfig(
                    dataset=dataset,
                    estimator=estimator,
                    epochs=epochs,
                    batch_size=batch_size,
                    lr=lr,
                    prior_sigmas=tuple(parse_floats(prior_sigmas)),
                    kl_weighting=kl_weighting,
                    splits=splits,
                    device=device,
                    seed=seed,
                    data_dir=data_dir,
                    out=str(out),
                )
            )
            return
        if dataset in ("mnist-test", "digits"):
            try:
                results = train_mnist_classifiers(
                    MNISTConfig(
                        dataset=dataset,
                        epochs=epochs or 20,
                        batch_size=batch_size or 100,
                        lr=lr,
                        estimator=estimator,
                        kl_weighting=kl_weighting,
                        mc_dropout=True,
                        device=device,
                        seed=seed,
                        data_dir=data_dir,
                        out=str(out),
                    )
                )
            except (ValueError, FileNotFoundError) as error:
                raise typer.BadParameter(str(error)) from error
            for name, row in results.items():
                console.print(
                    f"{name}: test error {row['test_error']:.2f} %, NLL {row['nll']:.4f}, "
                    f"ECE {row['ece']:.2f} %"
                )
            console.print(f"wrote {out}/results.md and reliability.png")
            return
        raise typer.BadParameter(f"bnn trains on uci:NAME, mnist-test or digits, not {dataset!r}")
    epochs = epochs or (BURDA_EPOCHS if schedule == "burda" else 200)
    batch_size = batch_size or 100
    try:
        config = TrainConfig(
            model=model,
            dataset=dataset,
            data_dir=data_dir,
            subset=subset,
            layers=layers,
            k=k,
            objective=objective,
            estimator=estimator,
            flow=flow,
            flow_length=flow_length,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            schedule=schedule,
            kl_warmup=kl_warmup,
            beta=beta,
            temperature_rate=temperature_rate,
            device=device,
            seed=seed,
            out=str(out or Path("runs") / f"{model}-{dataset}"),
        )
        start = time.perf_counter()
        history = run_training(config, resume=resume)
    except (ValueError, FileNotFoundError) as error:
        raise typer.BadParameter(str(error)) from error
    if history and int(os.environ.get("RANK", "0")) == 0:
        last = history[-1]
        best = max(row["valid_bound"] for row in history)
        console.print(
            f"{config.model} on {config.dataset}: {last['epoch']} epochs in "
            f"{time.perf_counter() - start:.1f} s; train bound {last['train_bound']:.2f}, "
            f"best valid bound {best:.2f} nats; wrote {config.out}"
        )


def train_uci(config: UCIConfig) -> UCIResult:
    """Run the UCI protocol and print its line of the table."""
    try:
        result = run_uci(config)
    except (ValueError, FileNotFoundError) as error:
        raise typer.BadParameter(str(error)) from error
    rmse, rmse_se = UCIResult.summary(result.rmse)
    ll, ll_se = UCIResult.summary(result.log_likelihood)
    console.print(
        f"{result.dataset}, {len(result.rmse)} splits, {config.estimator}: test RMSE "
        f"{rmse:.3f} ± {rmse_se:.3f}, test log-likelihood {ll:.3f} ± {ll_se:.3f} "
        f"({result.seconds:.0f} s); wrote {config.out}/results.json"
    )
    return result


@app.command(name="eval")
def evaluate_run(
    run: Annotated[Path, typer.Argument(help="a run folder written by `reparam train`")],
    k: Annotated[int, typer.Option(help="importance samples for L_k")] = 5000,
    chunk: Annotated[int, typer.Option(help="samples drawn at a time (bounds memory)")] = 100,
    split: Annotated[str, typer.Option(help="test (final report) or valid")] = "test",
    subset: Annotated[
        int | None, typer.Option(help="a random subset of this many examples (default: all)")
    ] = None,
    batch_size: Annotated[int, typer.Option(help="examples at a time")] = 100,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda")] = "auto",
) -> None:
    """Test NLL as -mean L_k, the negative ELBO and active units of a run's best model."""
    try:
        result = evaluate_saved_run(
            run,
            k=k,
            chunk=chunk,
            split=split,
            subset=subset,
            batch_size=batch_size,
            device=device,
            progress=console.is_terminal,
        )
    except (ValueError, FileNotFoundError) as error:
        raise typer.BadParameter(str(error)) from error
    table = Table(title=f"{run} on {split} ({result['examples']} examples)")
    for column in ("NLL = -L_k", "k", "-ELBO", "active units", "seconds"):
        table.add_column(column, justify="right")
    table.add_row(
        f"{result['nll']:.2f}",
        str(k),
        f"{result['negative_elbo']:.2f}",
        str(result["active_units"]),
        f"{result['seconds']:.1f}",
    )
    console.print(table)


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
            results.append(train_uci(config))
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


fit_app = typer.Typer(
    help="Fit a latent-variable model to a table: a Gaussian mixture, an HMM; a CTC demo.",
    no_args_is_help=True,
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
    from reparam.latent.fitting import fit_gmm, summary_line

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
    from reparam.latent.fitting import fit_hmm, summary_line

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
    from reparam.latent.fitting import ctc_toy_demo, summary_line

    console.print(summary_line("ctc", ctc_toy_demo(out, steps=steps, seed=seed)))

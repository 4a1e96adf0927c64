"""Reporting the Bayesian-network variance study: the Table 1 layout, the bar chart, and the
``reparam variance --problem bnn`` driver (the measurement is in ``bnn_variance``)."""

from __future__ import annotations

import json
import math
import textwrap
import time
from collections.abc import Sequence
from pathlib import Path

from reparam.experiments.bnn_variance import (
    CAVEAT,
    DETERMINISTIC,
    ESTIMATOR_ORDER,
    LABELS,
    LAYERS,
    PARAMETERS,
    PUBLISHED,
    BnnStudy,
    TimingRow,
    VarianceRow,
    run_bnn_study,
    study_steps,
)


def format_estimate(row: VarianceRow | None) -> str:
    """``1.23e+04 ±3%``; ``—`` when not measured; ``0`` for an exactly zero variance."""
    if row is None:
        return "—"
    if row.variance == 0:
        return "0"
    if math.isnan(row.stderr):
        return f"{row.variance:.3g}"
    return f"{row.variance:.3g} ±{100 * row.stderr / row.variance:.2g}%"


def seconds(row: TimingRow | None) -> str:
    """Seconds per epoch; starred when extrapolated from part of an epoch."""
    if row is None:
        return "—"
    star = "*" if row.steps_timed < row.steps_per_epoch else ""
    return f"{row.seconds_per_epoch:.3g}{star}"


def tables(study: BnnStudy) -> list:
    """Rich tables: μ-gradient variances in the layout of Kingma et al.'s Table 1, the paper's
    figures beside ours, with times per epoch; then the ρ-gradient variances."""
    from rich.table import Table

    c = study.config
    epochs = c["epochs"]
    timing = {r.estimator: r for r in study.timing}
    title = (
        f"Var of ∂L_SGVB/∂μ averaged over a layer's weights; {'-'.join(map(str, c['sizes']))} "
        f"on {c['train_size']} {c['dataset']} examples (N), M={c['batch_size']}, "
        f"{c['repeats']} draws (minibatch + noise), ±: standard error; trained {epochs} epochs "
        f"with {c['train_estimator']} + Adam. Paper: Kingma et al. 2015 Table 1 (full MNIST, "
        "784-1000-1000-1000-10, variational dropout; variances scale as N²); *: time "
        "extrapolated from the first steps of an epoch"
    )
    main = Table(title=title)
    for column in (
        "estimator",
        "top init",
        f"top {epochs} ep",
        "paper top 10 ep",
        "bottom init",
        f"bottom {epochs} ep",
        "paper bottom 10 ep",
        "s/epoch",
        "× determ.",
    ):
        main.add_column(column, justify="left" if column == "estimator" else "right")
    for estimator in c["estimators"]:
        published = PUBLISHED.get(estimator, {})
        t = timing.get(estimator)
        main.add_row(
            LABELS[estimator],
            format_estimate(study.lookup(estimator, "init", "top", "weight_mu")),
            format_estimate(study.lookup(estimator, "trained", "top", "weight_mu")),
            f"{published['top 10']:.2g}" if published else "—",
            format_estimate(study.lookup(estimator, "init", "bottom", "weight_mu")),
            format_estimate(study.lookup(estimator, "trained", "bottom", "weight_mu")),
            f"{published['bottom 10']:.2g}" if published else "—",
            seconds(t),
            f"{t.ratio_to_deterministic:.2f}" if t else "—",
        )
    if DETERMINISTIC in timing:
        t = timing[DETERMINISTIC]
        main.add_row(LABELS[DETERMINISTIC], *["—"] * 6, seconds(t), "1.00")
    rho = Table(title="Var of ∂L_SGVB/∂ρ (σ = softplus ρ), averaged over a layer's weights")
    for column in (
        "estimator",
        "top init",
        f"top {epochs} ep",
        "bottom init",
        f"bottom {epochs} ep",
    ):
        rho.add_column(column, justify="left" if column == "estimator" else "right")
    for estimator in c["estimators"]:
        rho.add_row(
            LABELS[estimator],
            *(
                format_estimate(study.lookup(estimator, phase, layer, "weight_rho"))
                for layer in LAYERS
                for phase in ("init", "trained")
            ),
        )
    return [main, rho]


def plot_bnn_variance(study: BnnStudy, path: str | Path) -> Path:
    """Bar charts (log scale) of the variances, with standard errors and the paper's figures,
    and the time per epoch of each estimator."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    c = study.config
    estimators = c["estimators"]
    fig, axes = plt.subplots(2, 3, figsize=(15, 8))
    panels = [(layer, parameter) for parameter in PARAMETERS for layer in LAYERS]
    spots = [axes[0][0], axes[0][1], axes[1][0], axes[1][1]]
    width = 0.8 / len(estimators)
    for ax, (layer, parameter) in zip(spots, panels, strict=True):
        groups = ["init", f"{c['epochs']} epochs"]
        if parameter == "weight_mu":
            groups.append("paper, 10 epochs")
        for i, estimator in enumerate(estimators):
            values, errors = [], []
            for phase in ("init", "trained"):
                row = study.lookup(estimator, phase, layer, parameter)
                ok = row is not None and row.variance > 0
                values.append(row.variance if ok else math.nan)
                errors.append(0.0 if not ok or math.isnan(row.stderr) else row.stderr)
            if parameter == "weight_mu":
                values.append(PUBLISHED.get(estimator, {}).get(f"{layer} 10", math.nan))
                errors.append(0.0)
            xs = [g + (i - (len(estimators) - 1) / 2) * width for g in range(len(groups))]
            ax.bar(xs, values, width, yerr=errors, color=f"C{i}", label=LABELS[estimator])
        ax.set_yscale("log")
        ax.set_xticks(range(len(groups)), groups)
        symbol = "μ" if parameter == "weight_mu" else "ρ"
        ax.set_title(f"{layer} layer: Var ∂L/∂{symbol}, mean over weights")
        ax.grid(True, axis="y", which="both", alpha=0.3)
    axes[0][0].legend(fontsize=7)
    ax = axes[0][2]
    names = [r.estimator for r in study.timing]
    ax.bar(range(len(names)), [r.seconds_per_epoch for r in study.timing], color="C7")
    ax.set_xticks(range(len(names)), names, rotation=30)
    ax.set_yscale("log")
    for i, r in enumerate(study.timing):
        ax.annotate(
            f"×{r.ratio_to_deterministic:.2f}",
            (i, r.seconds_per_epoch),
            ha="center",
            va="bottom",
            fontsize=8,
        )
    ax.set_title("seconds per training epoch (× deterministic)")
    ax.grid(True, axis="y", which="both", alpha=0.3)
    axes[1][2].axis("off")
    axes[1][2].text(
        0,
        1,
        "\n".join(textwrap.wrap(". ".join([*study.notes, CAVEAT]), 60)),
        va="top",
        fontsize=8,
        transform=axes[1][2].transAxes,
    )
    fig.suptitle(
        f"Gradient variance of a Bayesian MLP {'-'.join(map(str, c['sizes']))}, "
        f"{c['dataset']} N={c['train_size']}, M={c['batch_size']}, {c['repeats']} draws "
        f"(after Kingma et al. 2015, Table 1; their model and N differ)",
        fontsize=10,
    )
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def run_and_report(
    console,
    out: str | Path,
    *,
    estimators: Sequence[str] = ESTIMATOR_ORDER,
    repeats: int = 100,
    epochs: int = 10,
    **options,
) -> BnnStudy:
    """``run_bnn_study`` with a progress bar on a terminal; prints the tables and writes
    OUT/bnn.json and OUT/bnn.png (what ``reparam variance --problem bnn`` does)."""
    from rich.progress import Progress

    unknown = [e for e in estimators if e not in ESTIMATOR_ORDER]
    if unknown:
        raise ValueError(f"unknown estimator(s) {unknown}; choose from {list(ESTIMATOR_ORDER)}")
    start = time.perf_counter()
    with Progress(console=console, transient=True, disable=not console.is_terminal) as progress:
        task = progress.add_task("bnn", total=study_steps(estimators, repeats, epochs))

        def step(description: str) -> None:
            progress.update(task, advance=1, description=description)

        study = run_bnn_study(
            estimators=estimators, repeats=repeats, epochs=epochs, on_step=step, **options
        )
    elapsed = time.perf_counter() - start
    for note in study.notes:
        console.print(note)
    for table in tables(study):
        console.print(table)
    console.print(
        f"held-out accuracy of the mean network after training: {study.held_out_accuracy:.3f}"
    )
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    png = plot_bnn_variance(study, out / "bnn.png")
    (out / "bnn.json").write_text(json.dumps(study.as_dict(), indent=1))
    device = study.config["device"]
    console.print(f"wrote {png} and {out / 'bnn.json'} in {elapsed:.1f} s on {device}")
    return study

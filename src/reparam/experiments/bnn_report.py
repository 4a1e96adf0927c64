"""Reporting the Bayesian-network variance study: its tables in the layout of Kingma et al.'s
Table 1, and the driver of ``reparam variance --problem bnn``. The study itself (measurement
and training, on the run engine) is in :mod:`reparam.experiments.bnn_variance`, its picture in
:mod:`reparam.plots.bnn_variance`."""

from __future__ import annotations

import math
from typing import Any

from reparam.experiments.bnn_variance import (
    DETERMINISTIC,
    LABELS,
    LAYERS,
    PUBLISHED,
    BnnStudy,
    TimingRow,
    VarianceRow,
    VarianceStudyConfig,
    VarianceStudyTrainer,
)
from reparam.train import RunOptions, run


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


def run_and_report(
    console: Any, config: VarianceStudyConfig | dict[str, Any], options: RunOptions
) -> BnnStudy:
    """Run the study on the engine into ``options.out`` (or resume it there), then print its
    notes and tables (what ``reparam variance --problem bnn`` does). ``config`` is a config,
    or the options given (see :func:`reparam.train.run`)."""
    result = run(VarianceStudyTrainer, config, options)
    folder = result.folder.path
    study = BnnStudy.read(folder / "bnn.json")
    for note in study.notes:
        console.print(note, markup=False)
    for table in tables(study):
        console.print(table)
    console.print(
        f"held-out accuracy of the mean network after training: {study.held_out_accuracy:.3f}"
    )
    console.print(
        f"wrote {folder / 'bnn.png'} and {folder / 'bnn.json'} in {result.seconds:.1f} s on "
        f"{study.config['device']}",
        markup=False,
    )
    return study

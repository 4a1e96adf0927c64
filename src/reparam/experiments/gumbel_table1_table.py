r"""``reparam repro gumbel-table1``: Jang, Gu & Poole (2017)'s Table 1, end to end.

For every row (model) and column (estimator spec) the cell trains the learning rates of the
grid (:class:`~reparam.experiments.gumbel_table1.GumbelTable1Trainer`): as replicas of the
model in one batched run (``OUT/ROW/COLUMN/lr-LR1_LR2_…``) when the estimator keeps the rows
of a batch independent, else one run a rate (``OUT/ROW/COLUMN/lr-LR``; NVIL, REBAR and RELAX,
whose learned parts see the whole batch). It keeps the rate whose best validation metric is
lowest, and evaluates that rate's model at its ``best.pt`` on the test split with m samples: the SBN's
:math:`-\log\frac1m\sum_i p(x_\text{bottom} \mid z_i)`, the VAE's −ELBO (and
:math:`-\mathcal L_m`). Every column gets the same budget: the same steps, batch and grid.
A column whose spec is not in the vocabulary, or whose estimator does not apply to the row's
latents, is written as such in the table, with the reason, and the others go on.

Exact marginalisation is no column: the rows have :math:`2^{200}` and :math:`10^{20}` joint
latent states (the Figure-5 benchmark, ``benchmarks/gumbel_vs_marginal.py``, compares it with
Gumbel-softmax where it is possible, one K-way latent).
"""

from __future__ import annotations

import json
import math
import platform
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from reparam.estimators import parse
from reparam.experiments.gumbel_table1 import GumbelTable1Trainer, main_metric, metrics
from reparam.experiments.gumbel_table1_config import (
    BOUNDS,
    COLUMNS,
    PAIRED,
    PAPER,
    ROWS,
    GumbelTable1Config,
)
from reparam.experiments.vae_build import load_split
from reparam.models.replicas import unstack
from reparam.runs import load_run
from reparam.train import RunOptions, run
from reparam.train.run_folder import CHECKPOINT, RunError

TITLE = (
    "Jang, Gu & Poole (2017), Table 1: test −log p(x_bottom | x_top) of the SBNs (m samples) "
    "and test −ELBO of the VAEs, binarized MNIST"
)


@dataclass(frozen=True)
class Cell:
    """One (row, column): the chosen learning rate's test metrics, or why there are none."""

    row: str
    column: str
    value: float | None = None
    lr: float | None = None
    valid: dict[str, float] | None = None
    test: dict[str, float] | None = None
    seconds: float = 0.0
    missing: str | None = None


def lr_name(lr: float | Sequence[float]) -> str:
    """The run folder of one rate, ``lr-0.001``, or of replicas, ``lr-0.001_0.003``."""
    rates = [lr] if isinstance(lr, float | int) else lr
    return "lr-" + "_".join(f"{rate:g}" for rate in rates)


def runs_of(column: str, lrs: Sequence[float], replicas: bool) -> list[float | tuple[float, ...]]:
    """The ``lr`` of each run of a cell: all rates as replicas of one run when ``replicas``
    and the estimator keeps the rows of a batch independent, else one run a rate. A spec
    that is not in the vocabulary is left for the run to report."""
    try:
        couples = parse(column, objective="iwae" if column in BOUNDS else "elbo").couples_rows
    except ValueError:
        couples = True
    if replicas and len(lrs) > 1 and not couples:
        return [tuple(float(lr) for lr in lrs)]
    return [float(lr) for lr in lrs]


def train_cell(
    row: str,
    column: str,
    lrs: Sequence[float],
    base: dict[str, Any],
    folder: Path,
    *,
    eval_samples: int,
    eval_subset: int | None,
    resume: bool,
    overwrite: bool,
    replicas: bool = True,
) -> Cell:
    """Train ``column`` on ``row`` at each rate of ``lrs`` (as replicas in one run where the
    estimator allows and ``replicas``) and evaluate the best on test."""
    options = {**base, "row": row, "estimator": column}
    if column in PAIRED:  # VIMCO's bound and ARM's pairs: two samples a row, not one
        options["k"] = max(2, int(options.get("k", 1)))
    seconds, chosen = 0.0, None
    for lr in runs_of(column, lrs, replicas):
        out = folder / lr_name(lr)
        again = resume and (out / CHECKPOINT).exists()
        try:
            config = GumbelTable1Config.from_dict({**options, "lr": lr})
            given = {k: v for k, v in config.to_dict().items() if k != "x_dim"}
            result = run(
                GumbelTable1Trainer,
                given if again else config,
                RunOptions(out, resume=again, overwrite=overwrite and not again, progress=False),
            )
        except RunError:
            raise
        except RuntimeError as error:  # a run that broke in training (NaN weights, say)
            return Cell(row, column, missing=f"failed: {str(error).splitlines()[0][:200]}")
        except ValueError as error:
            reason = str(error).splitlines()[0]
            if reason.startswith("unknown estimator"):
                missing = (
                    f"{column!r} is not in the estimator vocabulary (reparam.estimators.names())"
                )
                return Cell(row, column, missing=missing)
            return Cell(row, column, missing=f"does not apply: {reason}")
        seconds += sum(h["seconds"] for h in result.history)
        best = result.best or result.history[-1]
        if chosen is None or best["valid_metric"] < chosen[1]["valid_metric"]:
            chosen = (best["lr"], best, out)
    assert chosen is not None
    lr, best, out = chosen
    loaded = load_run(out, weights="best", device="cpu")
    config = loaded.config
    assert isinstance(config, GumbelTable1Config)
    model = loaded.model
    if config.replicas is not None:
        model = unstack(model, config.rates.index(lr))
    test = load_split(config.dataset, "test", config.data_dir, eval_subset)
    torch.manual_seed(config.seed)
    scores = {name: float(value) for name, value in metrics(model, test, eval_samples).items()}
    return Cell(
        row,
        column,
        scores[main_metric(config)],
        lr,
        {"valid_metric": best["valid_metric"], "step": best["step"]},
        scores,
        seconds,
    )


def reproduce_table1(
    out: str | Path,
    *,
    rows: Sequence[str] = tuple(ROWS),
    columns: Sequence[str] = tuple(COLUMNS),
    lrs: Sequence[float] = (1e-3, 3e-3),
    base: dict[str, Any] | None = None,
    eval_samples: int = 1000,
    eval_subset: int | None = None,
    resume: bool = False,
    overwrite: bool = False,
    replicas: bool = True,
    on_cell: Callable[[Cell], None] = lambda cell: None,
) -> str:
    """Train and evaluate every (row, column) with ``base``'s settings (steps, batch, data,
    seed, ... of :class:`GumbelTable1Config`); write ``OUT/TABLE.md`` and ``OUT/TABLE.json``
    and return the markdown. ``resume`` continues (or only re-evaluates) the runs that hold a
    checkpoint; ``overwrite`` retrains them. ``replicas`` trains a cell's rates as replicas
    in one batched run where the estimator allows it (:func:`runs_of`)."""
    for name, values, known in (("--rows", rows, ROWS), ("--columns", columns, None)):
        if not values:
            raise ValueError(f"{name} names nothing")
        unknown = [v for v in values if known is not None and v not in known]
        if unknown:
            raise ValueError(f"unknown {name} {', '.join(unknown)}; choose from {', '.join(ROWS)}")
    if not lrs or not all(isinstance(lr, float | int) and lr > 0 for lr in lrs):
        raise ValueError(f"--lr must list positive learning rates; got {list(lrs)}")
    if eval_samples < 1:
        raise ValueError(f"--eval-samples must be > 0; got {eval_samples}")
    base = dict(base or {})
    GumbelTable1Config.from_dict(base)  # bad settings fail before any training
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    settings = {
        **GumbelTable1Config.from_dict(base).to_dict(),
        "lrs": list(lrs),
        "eval_samples": eval_samples,
        "eval_subset": eval_subset,
        "replicas": replicas,
        "machine": machine(),
    }
    for name in ("row", "estimator", "lr", "x_dim"):
        settings.pop(name, None)
    cells: list[Cell] = []
    markdown = ""
    for row in rows:
        for column in columns:
            cell = train_cell(
                row,
                column,
                lrs,
                base,
                out / row / column,
                eval_samples=eval_samples,
                eval_subset=eval_subset,
                resume=resume,
                overwrite=overwrite,
                replicas=replicas,
            )
            on_cell(cell)
            cells.append(cell)
            markdown = write(out, settings, list(rows), list(columns), cells)
    return markdown


def write(
    out: Path, settings: dict[str, Any], rows: list[str], columns: list[str], cells: list[Cell]
) -> str:
    """TABLE.md and TABLE.json of the cells so far (written after every cell, so a long grid
    shows its progress; cells not yet run read "pending")."""
    markdown = render(settings, rows, columns, cells)
    (out / "TABLE.md").write_text(markdown)
    payload = {"settings": settings, "cells": [asdict(c) for c in cells]}
    (out / "TABLE.json").write_text(json.dumps(payload, indent=1))
    return markdown


def machine() -> str:
    """The processor, torch's version and its thread count."""
    processor = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [line for line in cpuinfo.read_text().splitlines() if line.startswith("model name")]
        processor = names[0].split(":", 1)[1].strip() if names else processor
    return f"{processor}, torch {torch.__version__}, {torch.get_num_threads()} thread(s)"


def number(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.1f}" if math.isfinite(value) else "diverged"


def shown(cell: Cell) -> str:
    """A cell's table entry: its number, or why there is none."""
    if cell.missing == "pending":
        return "pending"
    return number(cell.value)


def render(settings: dict[str, Any], rows: list[str], columns: list[str], cells: list[Cell]) -> str:
    """TABLE.md: reparam's numbers beside the paper's, the learning rates chosen, the VAEs'
    NLL bound, the cells left out and why."""
    by = {(c.row, c.column): c for c in cells}
    for row in rows:
        for column in columns:
            by.setdefault((row, column), Cell(row, column, missing="pending"))
    head = "| model | | " + " | ".join(COLUMNS.get(c, c) for c in columns) + " |"
    rule = "|---|---|" + "---:|" * len(columns)
    lines = [f"**{TITLE}**", "", "Settings: " + json.dumps(settings), "", head, rule]
    if settings.get("dataset") != "binarized-mnist":
        lines.insert(
            2,
            f"(the paper's numbers are for binarized MNIST; this run used "
            f"{settings.get('dataset')}, whose halves are smaller)\n",
        )
    for row in rows:
        label = ROWS[row][0]
        paper = [number(PAPER[row].get(c)) for c in columns]
        ours = [shown(by[(row, c)]) for c in columns]
        lines.append(f"| {label} | paper | " + " | ".join(paper) + " |")
        lines.append("| | reparam | " + " | ".join(ours) + " |")
    lines += ["", "Learning rate chosen on validation:", "", head, rule]
    for row in rows:
        chosen = ["—" if by[(row, c)].lr is None else f"{by[(row, c)].lr:g}" for c in columns]
        lines.append(f"| {ROWS[row][0]} | lr | " + " | ".join(chosen) + " |")
    vaes = [r for r in rows if ROWS[r][1] == "vae"]
    if vaes:
        lines += ["", f"VAE test NLL bound −L_m (m = {settings['eval_samples']}):", "", head, rule]
        for row in vaes:
            values = [
                number(None if by[(row, c)].test is None else by[(row, c)].test["nll"])  # type: ignore[index]
                for c in columns
            ]
            lines.append(f"| {ROWS[row][0]} | −L_m | " + " | ".join(values) + " |")
    missing = [c for c in cells if c.missing is not None]
    pending = len(rows) * len(columns) - len(cells)
    if pending:
        lines += ["", f"{pending} cells pending (the grid is still running)."]
    if missing:
        lines += ["", "Cells without a number:", ""]
        lines += [f"- {ROWS[c.row][0]}, {c.column}: {c.missing}" for c in missing]
    return "\n".join(lines) + "\n"

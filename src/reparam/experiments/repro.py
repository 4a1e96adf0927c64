"""Reproduce the papers' tables end to end: train each row, evaluate it, write markdown."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from reparam.experiments import trainer_class
from reparam.experiments.vae_evaluation import check, evaluate_saved_run
from reparam.train import RunOptions, run
from reparam.train.run_folder import CHECKPOINT


@dataclass(frozen=True)
class Row:
    """One line of a paper's table: the model and options that reproduce it, and the
    published number."""

    label: str
    model: str
    options: dict[str, Any] = field(default_factory=dict)
    paper: float | None = None
    metric: str = "nll"


@dataclass(frozen=True)
class RowResult:
    """A reproduced line: the value of ``metric`` beside the paper's."""

    label: str
    paper: float | None
    metric: str
    value: float
    epochs: int
    examples: int
    active_units: int | None
    seconds_per_epoch: float

    def summary(self) -> str:
        paper = "—" if self.paper is None else f"{self.paper:.2f}"
        return f"{self.label}: {self.metric} {self.value:.2f} (paper {paper})"


TABLES: dict[str, tuple[str, list[Row]]] = {
    "iwae": (
        "Burda et al. (2016), Appendix D: test NLL (L_5000, nats), binarized MNIST",
        [
            Row("VAE, 1 stochastic layer, k=1", "vae", {"k": 1}, 88.71),
            Row("IWAE, 1 layer, k=5", "iwae", {"k": 5}, 87.63),
            Row("IWAE, 1 layer, k=50", "iwae", {"k": 50}, 87.10),
            Row("IWAE, 1 layer, k=50, DReG", "iwae", {"k": 50, "estimator": "dreg"}, 87.10),
            Row("IWAE, 2 layers, k=50", "iwae", {"k": 50, "layers": 2}, 85.32),
        ],
    ),
    "flows": (
        "Rezende & Mohamed (2015), Table 2: test −ln p(x) (here L_5000), binarized MNIST",
        [
            Row("diagonal Gaussian (VAE)", "vae", {"k": 1}, 89.9),
            Row("planar flow, K=10", "flow-vae", {"flow": "planar", "flow_length": 10}, 87.5),
            Row("planar flow, K=80", "flow-vae", {"flow": "planar", "flow_length": 80}, 85.1),
        ],
    ),
    "gumbel": (
        "Jang, Gu & Poole (2017), Table 2: test −ELBO (nats), binarized MNIST",
        [
            Row(
                "categorical VAE, Gumbel-softmax",
                "cat-vae",
                {"estimator": "gumbel-softmax"},
                101.5,
                "negative_elbo",
            ),
            Row(
                "categorical VAE, straight-through Gumbel",
                "cat-vae",
                {"estimator": "st-gumbel"},
                None,
                "negative_elbo",
            ),
        ],
    ),
}


def slug(label: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in label.lower()).strip("-")


def reproduce(
    table: str,
    base: dict[str, Any],
    out: str | Path,
    *,
    eval_k: int = 5000,
    eval_subset: int | None = None,
    resume: bool = False,
    overwrite: bool = False,
    on_row: Callable[[str], None] = lambda label: None,
) -> str:
    """Train and evaluate every row of ``table`` with ``base``'s options (epochs, schedule,
    dataset, batch size, device, seed) and the row's own, each in ``out/ROW``; write
    ``TABLE.md`` and ``TABLE.json`` into ``out`` and return the markdown.

    ``resume`` continues the rows whose folders hold a checkpoint (a finished row is only
    evaluated again); ``overwrite`` retrains them.
    """
    if table not in TABLES:
        raise ValueError(f"unknown table {table!r}; choose one of {', '.join(TABLES)}")
    check(eval_k, 1, 1, eval_subset, "test")
    title, rows = TABLES[table]
    out = Path(out)
    results = []
    for row in rows:
        on_row(row.label)
        folder = out / slug(row.label)
        trainer = trainer_class(row.model)
        config = trainer.Config.from_dict({**base, **row.options})
        again = resume and (folder / CHECKPOINT).exists()
        options = RunOptions(folder, resume=again, overwrite=overwrite and not again)
        given = {k: v for k, v in config.to_dict().items() if k != "x_dim"}
        history = run(trainer, given if again else config, options).history
        scores = evaluate_saved_run(
            folder,
            k=eval_k,
            subset=eval_subset,
            device=config.device,  # type: ignore[attr-defined]
        )
        results.append(
            RowResult(
                row.label,
                row.paper,
                row.metric,
                getattr(scores, row.metric),
                len(history),
                scores.examples,
                scores.active_units,
                sum(h["seconds"] for h in history) / len(history),
            )
        )
    markdown = render(title, base, eval_k, results)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{table}.md").write_text(markdown)
    (out / f"{table}.json").write_text(json.dumps([asdict(r) for r in results], indent=1))
    return markdown


def render(title: str, base: dict[str, Any], eval_k: int, results: list[RowResult]) -> str:
    lines = [
        f"**{title}**",
        "",
        f"reparam: {base['dataset']}, schedule {base['schedule']}, {base['epochs']} epochs, "
        f"batch {base['batch_size']}, device {base['device']}; evaluated with k={eval_k}.",
        "",
        "| model | paper | reparam | reparam − paper | test examples | active units |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    if base["dataset"] != "binarized-mnist":
        lines.insert(
            1, f"\n(the paper's column is for binarized MNIST; this run used {base['dataset']})"
        )
    for r in results:
        paper = "—" if r.paper is None else f"{r.paper:.2f}"
        gap = "—" if r.paper is None else f"{r.value - r.paper:+.2f}"
        units = "—" if r.active_units is None else str(r.active_units)
        lines.append(f"| {r.label} | {paper} | {r.value:.2f} | {gap} | {r.examples} | {units} |")
    return "\n".join(lines) + "\n"

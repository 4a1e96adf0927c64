"""Reproduce the papers' tables end to end: train each row, evaluate it, write markdown."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from reparam.experiments.vae import train
from reparam.experiments.vae_config import TrainConfig
from reparam.experiments.vae_evaluation import evaluate_saved_run


@dataclass(frozen=True)
class Row:
    """One line of a paper's table: the run that reproduces it and the published number."""

    label: str
    options: dict = field(default_factory=dict)
    paper: float | None = None
    metric: str = "nll"


TABLES: dict[str, tuple[str, list[Row]]] = {
    "iwae": (
        "Burda et al. (2016), Appendix D: test NLL (L_5000, nats), binarized MNIST",
        [
            Row("VAE, 1 stochastic layer, k=1", {"model": "vae", "k": 1}, 88.71),
            Row("IWAE, 1 layer, k=5", {"model": "iwae", "k": 5}, 87.63),
            Row("IWAE, 1 layer, k=50", {"model": "iwae", "k": 50}, 87.10),
            Row(
                "IWAE, 1 layer, k=50, DReG", {"model": "iwae", "k": 50, "estimator": "dreg"}, 87.10
            ),
            Row("IWAE, 2 layers, k=50", {"model": "iwae", "k": 50, "layers": 2}, 85.32),
        ],
    ),
    "flows": (
        "Rezende & Mohamed (2015), Table 2: test −ln p(x) (here L_5000), binarized MNIST",
        [
            Row("diagonal Gaussian (VAE)", {"model": "vae", "k": 1}, 89.9),
            Row(
                "planar flow, K=10",
                {"model": "flow-vae", "flow": "planar", "flow_length": 10},
                87.5,
            ),
            Row(
                "planar flow, K=80",
                {"model": "flow-vae", "flow": "planar", "flow_length": 80},
                85.1,
            ),
        ],
    ),
    "gumbel": (
        "Jang, Gu & Poole (2017), Table 2: test −ELBO (nats), binarized MNIST",
        [
            Row(
                "categorical VAE, Gumbel-softmax",
                {"model": "cat-vae", "estimator": "gumbel-softmax"},
                101.5,
                "negative_elbo",
            ),
            Row(
                "categorical VAE, straight-through Gumbel",
                {"model": "cat-vae", "estimator": "st-gumbel"},
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
    base: TrainConfig,
    *,
    eval_k: int = 5000,
    eval_subset: int | None = None,
    on_row: Callable[[str], None] = lambda label: None,
) -> str:
    """Train and evaluate every row of ``table`` with ``base``'s settings (epochs, schedule,
    dataset, device) and the row's model options; write ``TABLE.md`` and ``TABLE.json`` into
    ``base.out`` and return the markdown."""
    if table not in TABLES:
        raise ValueError(f"unknown table {table!r}; choose one of {', '.join(TABLES)}.")
    title, rows = TABLES[table]
    out = Path(base.out)
    results = []
    for row in rows:
        on_row(row.label)
        config = replace(base, out=str(out / slug(row.label)), objective=None, **row.options)
        history = train(config)
        scores = evaluate_saved_run(
            Path(config.out), k=eval_k, subset=eval_subset, device=config.device
        )
        results.append(
            {
                "label": row.label,
                "paper": row.paper,
                "metric": row.metric,
                "value": scores[row.metric],
                "epochs": len(history),
                "examples": scores["examples"],
                "active_units": scores["active_units"],
                "seconds_per_epoch": sum(h["seconds"] for h in history) / len(history),
            }
        )
    markdown = render(title, base, eval_k, results)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{table}.md").write_text(markdown)
    (out / f"{table}.json").write_text(json.dumps(results, indent=1))
    return markdown


def render(title: str, base: TrainConfig, eval_k: int, results: list[dict]) -> str:
    lines = [
        f"**{title}**",
        "",
        f"reparam: {base.dataset}, schedule {base.schedule}, {base.epochs} epochs, "
        f"batch {base.batch_size}, device {base.device}; evaluated with k={eval_k}.",
        "",
        "| model | paper | reparam | reparam − paper | test examples | active units |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    if base.dataset != "binarized-mnist":
        lines.insert(
            1, f"\n(the paper's column is for binarized MNIST; this run used {base.dataset})"
        )
    for r in results:
        paper = "—" if r["paper"] is None else f"{r['paper']:.2f}"
        gap = "—" if r["paper"] is None else f"{r['value'] - r['paper']:+.2f}"
        units = "—" if r["active_units"] is None else str(r["active_units"])
        lines.append(
            f"| {r['label']} | {paper} | {r['value']:.2f} | {gap} | {r['examples']} | {units} |"
        )
    return "\n".join(lines) + "\n"

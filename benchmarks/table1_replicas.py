"""What training a learning-rate grid as replicas in one batched pass saves, on the models of
Jang, Gu & Poole (2017)'s Table 1 (``reparam repro gumbel-table1``).

For each row (the two SBNs, the two VAEs), estimator and replica count R, two contenders
take one training step of R learning rates, batch 100 each:

- ``separate``: R plain models, one SGD step each (what ``--no-replicas`` runs, one rate a
  run);
- ``replicas``: one model stacked into R replicas (``reparam.models.replicas``), one SGD step
  on the rate-weighted sum of their losses (what ``repro gumbel-table1`` runs by default).

A step is the trainer's: the loss of ``reparam.experiments.gumbel_table1.loss`` on the same
100 rows, its backward pass and SGD with momentum. The rounds are interleaved (see
``timing.interleaved``); times are medians, reported and never asserted. The speed-up is
separate ÷ replicas.

Run from the repository root::

    OMP_NUM_THREADS=1 python benchmarks/table1_replicas.py --threads 1
    python benchmarks/table1_replicas.py --quick      # a smoke test

It writes ``DIR/table1_replicas.json`` and ``.md`` (DIR: ``--out``, default
``docs/results/gumbel-table1``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from machine_info import machine
from timing import interleaved, listed, positive, ratio, timing

from reparam.experiments.gumbel_table1 import build_model, loss
from reparam.experiments.gumbel_table1_config import ROWS, GumbelTable1Config

PIXELS = 784
BATCH = 100
RATES = (3e-5, 1e-5, 3e-4, 1e-4, 3e-3, 1e-3)  # the paper's grid; the first R are used


def trainer_step(model: torch.nn.Module, config: GumbelTable1Config, x: torch.Tensor):
    """A closure: one SGD step (momentum 0.9) of ``model`` on ``x``, as the trainer takes it."""
    rates = torch.tensor(config.rates, device=x.device)
    optimizer = torch.optim.SGD(
        model.parameters(), lr=1.0 if config.replicas else config.lr, momentum=0.9
    )

    def run() -> None:
        losses = loss(model, config, x).mean(-1)
        value = losses if config.replicas is None else (rates * losses).sum()
        optimizer.zero_grad(set_to_none=True)
        value.backward()
        optimizer.step()

    return run


def measure(
    row: str, estimator: str, replicas: int, repeats: int, device: torch.device
) -> dict[str, dict[str, object]]:
    torch.manual_seed(0)
    x = torch.rand(BATCH, PIXELS, device=device).bernoulli()
    rates = RATES[:replicas]
    plain = [
        GumbelTable1Config(row=row, estimator=estimator, lr=rate, x_dim=PIXELS, device="cpu")
        for rate in rates
    ]
    stacked = GumbelTable1Config(row=row, estimator=estimator, lr=rates, x_dim=PIXELS, device="cpu")
    separate_steps = [trainer_step(build_model(c).to(device), c, x) for c in plain]
    replica_step = trainer_step(build_model(stacked).to(device), stacked, x)

    def separate() -> None:
        for step in separate_steps:
            step()

    rounds = interleaved(
        {"separate": (separate, device), "replicas": (replica_step, device)}, repeats, warmup=2
    )
    return {name: timing(values, device) for name, values in rounds.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=listed(str), default=list(ROWS))
    parser.add_argument("--estimators", type=listed(str), default=["gumbel-softmax", "score"])
    parser.add_argument("--replicas", type=listed(positive), default=[2, 6])
    parser.add_argument("--repeats", type=positive, default=9)
    parser.add_argument("--threads", type=positive, default=None)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--quick", action="store_true", help="one row, R = 2, 2 rounds")
    parser.add_argument("--out", type=Path, default=Path("docs/results/gumbel-table1"))
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.quick:
        args.rows, args.estimators, args.replicas, args.repeats = (
            ["sbn-categorical"], ["gumbel-softmax"], [2], 2,
        )  # fmt: skip
    for row in args.rows:
        if row not in ROWS:
            parser.error(f"unknown --rows {row}; choose from {', '.join(ROWS)}")
    if max(args.replicas) > len(RATES):
        parser.error(f"--replicas at most {len(RATES)} (the paper's grid)")
    device = torch.device(args.device)
    records = []
    for row in args.rows:
        for estimator in args.estimators:
            for replicas in args.replicas:
                found = measure(row, estimator, replicas, args.repeats, device)
                records.append(
                    {"row": row, "estimator": estimator, "rates": replicas, **found,
                     "speedup": ratio(found["separate"], found["replicas"])}
                )  # fmt: skip
                print(
                    f"{row:16s} {estimator:15s} R={replicas}: separate "
                    f"{found['separate']['median_s'] * 1e3:7.1f} ms, replicas "
                    f"{found['replicas']['median_s'] * 1e3:7.1f} ms, "
                    f"{records[-1]['speedup']:.2f}x",
                    flush=True,
                )
    about = machine(device)
    lines = [
        "**A learning-rate grid as replicas in one pass: time of one training step of R "
        "rates, batch 100 each (median of interleaved rounds)**",
        "",
        f"Machine: {json.dumps(about)}",
        "",
        "| row | estimator | R | R separate steps, ms | one replicated step, ms | speed-up |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in records:
        lines.append(
            f"| {r['row']} | {r['estimator']} | {r['rates']} | "
            f"{r['separate']['median_s'] * 1e3:.1f} | {r['replicas']['median_s'] * 1e3:.1f} | "
            f"{r['speedup']:.2f}× |"
        )
    markdown = "\n".join(lines) + "\n"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "table1_replicas.json").write_text(
        json.dumps({"machine": about, "records": records}, indent=1)
    )
    (args.out / "table1_replicas.md").write_text(markdown)
    print(markdown)


if __name__ == "__main__":
    main()

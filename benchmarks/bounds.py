"""The IWAE bound estimators against the bound written out plainly, back to back in one process.

reparam's ``VIMCO``, ``PathwiseBound`` and ``iwae_bound`` are finite with log-weights of −∞
and compute VIMCO's leave-one-out baselines in O(k) memory (issue 11). The reference is the
textbook formula in plain PyTorch: ``torch.logsumexp(log_w, 0) - log k``, and VIMCO's
baselines from the k × k matrix of log-weights with each one replaced in turn by the mean of
the others (Mnih & Rezende 2016, eq. 10), which is what reparam did before. Each row is one
forward and backward pass on a batch of 64: VIMCO on a 10-way categorical, pathwise on an
8-dimensional Gaussian, ``iwae_bound`` on random log-weights. Times are the least median of
``torch.utils.benchmark.Timer`` over passes, one thread. The plain VIMCO at k = 5000 (a
5000 × 5000 × 64 tensor, 6 GB) is skipped unless ``--big-plain``.

Writes ``DIR/bounds.json`` and ``DIR/bounds.md`` (also printed); DIR defaults to
``benchmarks/results``::

    OMP_NUM_THREADS=1 python benchmarks/bounds.py [--device cuda]
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable
from pathlib import Path

import torch
from machine_info import machine
from torch.distributions import Categorical, Independent, Normal
from torch.utils.benchmark import Timer

from reparam.estimators import VIMCO, PathwiseBound
from reparam.estimators.base import zero_with_gradient
from reparam.objectives import iwae_bound

BATCH = 64
KS = (10, 100, 5000)


def plain_bound(log_w: torch.Tensor) -> torch.Tensor:
    return torch.logsumexp(log_w, 0) - math.log(log_w.shape[0])


def plain_leave_one_out(log_w: torch.Tensor) -> torch.Tensor:
    """The bound with each log-weight replaced by the mean of the others: a k × k × ... tensor."""
    k = log_w.shape[0]
    replaced = log_w.unsqueeze(0).repeat(k, *[1] * log_w.dim())
    index = torch.arange(k, device=log_w.device)
    replaced[index, index] = (log_w.sum(0, keepdim=True) - log_w) / (k - 1)
    return torch.logsumexp(replaced, 1) - math.log(k)


def plain_vimco(log_joint: Callable, q: Categorical, k: int) -> torch.Tensor:
    z = q.sample((k,))
    log_q = q.log_prob(z)
    log_w = log_joint(z) - log_q
    bound = plain_bound(log_w)
    signal = bound.detach() - plain_leave_one_out(log_w.detach())
    return bound + zero_with_gradient((signal * log_q).sum(0))


def plain_pathwise(log_joint: Callable, q: Independent, k: int) -> torch.Tensor:
    z = q.rsample((k,))
    return plain_bound(log_joint(z) - q.log_prob(z))


def timed(fn: Callable[[], object], passes: int) -> float:
    best = math.inf
    for _ in range(passes):
        timer = Timer("fn()", globals={"fn": fn})
        best = min(best, timer.blocked_autorange(min_run_time=0.2).median)
    return best * 1e6


def benchmark(
    ks: tuple[int, ...], big_plain: bool, device: torch.device
) -> list[dict[str, object]]:
    table = torch.randn(10, device=device)
    logits = torch.zeros(BATCH, 10, device=device, requires_grad=True)
    loc = torch.zeros(BATCH, 8, device=device, requires_grad=True)

    def cat_joint(z: torch.Tensor) -> torch.Tensor:
        return table[z]

    def normal_joint(z: torch.Tensor) -> torch.Tensor:
        return Normal(0.0, 1.0).log_prob(z).sum(-1)

    def vimco(fn: Callable, k: int) -> Callable[[], object]:
        return lambda: torch.autograd.grad(
            fn(cat_joint, Categorical(logits=logits), k).sum(), logits
        )

    def pathwise(fn: Callable, k: int) -> Callable[[], object]:
        q = Independent(Normal(loc, 1.0), 1)
        return lambda: torch.autograd.grad(fn(normal_joint, q, k).sum(), loc)

    records = []
    for k in ks:
        log_w = torch.randn(k, BATCH, device=device, requires_grad=True)
        passes = 2 if k >= 1000 else 5
        rows = [
            ("VIMCO", vimco(VIMCO().iwae, k), vimco(plain_vimco, k)),
            ("PathwiseBound", pathwise(PathwiseBound().iwae, k), pathwise(plain_pathwise, k)),
            (
                "iwae_bound",
                lambda log_w=log_w: torch.autograd.grad(iwae_bound(log_w).sum(), log_w),
                lambda log_w=log_w: torch.autograd.grad(plain_bound(log_w).sum(), log_w),
            ),
        ]
        for name, ours, plain in rows:
            skip = name == "VIMCO" and k * k * BATCH > 1e8 and not big_plain
            record = {
                "estimator": name,
                "k": k,
                "reparam_us": round(timed(ours, passes), 1),
                "plain_us": None if skip else round(timed(plain, passes), 1),
            }
            print(record, flush=True)
            records.append(record)
    return records


def markdown(records: list[dict[str, object]], info: dict[str, object]) -> str:
    lines = [
        f"Forward + backward, batch {BATCH}, {info['device_name']}, torch {info['torch']}, "
        f"{info['threads']} thread(s).",
        "",
        "| estimator | k | reparam (µs) | plain (µs) | plain / reparam |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in records:
        plain = r["plain_us"]
        ratio = f"{plain / r['reparam_us']:.2f}" if plain else "—"
        shown = f"{plain:.1f}" if plain else "skipped (k × k memory)"
        lines.append(f"| {r['estimator']} | {r['k']} | {r['reparam_us']:.1f} | {shown} | {ratio} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--big-plain", action="store_true", help="time the k x k VIMCO at k = 5000")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    device = torch.device(args.device)
    records = benchmark(KS, args.big_plain, device)
    info = machine(device)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bounds.json").write_text(
        json.dumps({"machine": info, "rows": records}, indent=2) + "\n"
    )
    table = markdown(records, info)
    (args.out / "bounds.md").write_text(table)
    print(table, end="")


if __name__ == "__main__":
    main()

"""torch.exp against reparam.underflow.exp_underflowing_ (2^(x log2 e)) on ordinary exponents and
on exponents whose results underflow, float32 and float64, one process, interleaved rounds.

    OMP_NUM_THREADS=1 python benchmarks/exp_underflow.py --threads 1

Writes ``DIR/exp_underflow.json`` and ``DIR/exp_underflow.md`` (DIR: ``--out``, default
``benchmarks/results``). Timings are reported, never asserted.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import torch
from machine_info import cores, machine
from timing import interleaved, positive

from reparam.train.distributed import resolve_device
from reparam.underflow import exp_underflowing_

# (name, how to draw the exponents from uniforms u in [0, 1))
INPUTS = {
    "ordinary, x in [-10, 0]": lambda u: -10 * u,
    "underflowing, x in [-2000, -1000]": lambda u: -1000 - 1000 * u,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=positive, default=1_000_000, help="exponents per call")
    parser.add_argument("--repeats", type=positive, default=20)
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--threads", type=positive, default=None, help="default: the cores usable")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads or cores())
    device = resolve_device(args.device)
    rows = []
    for dtype in (torch.float32, torch.float64):
        for name, draw in INPUTS.items():
            x = draw(torch.rand(args.size, dtype=dtype, device=device))
            scratch = torch.empty_like(x)
            contenders = {
                "torch.exp": (lambda s=scratch, x=x: s.copy_(x).exp_(), device),
                "exp_underflowing_": (lambda s=scratch, x=x: exp_underflowing_(s.copy_(x)), device),
                "copy alone": (lambda s=scratch, x=x: s.copy_(x), device),
            }
            rounds = interleaved(contenders, args.repeats, warmup=2)
            ms = {k: 1e3 * statistics.median(v) for k, v in rounds.items()}
            rows.append({"dtype": str(dtype).removeprefix("torch."), "inputs": name, **ms})
    lines = [
        f"exp against 2^(x log2 e), {args.size:,} exponents a call, medians of {args.repeats} "
        f"interleaved rounds, on {device.type} ({machine(device)['device_name']}), "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads (copy included in both).",
        "",
        "| dtype | inputs | torch.exp (ms) | exp_underflowing_ (ms) | copy alone (ms) | exp ÷ exp2 |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['dtype']} | {r['inputs']} | {r['torch.exp']:.2f} | {r['exp_underflowing_']:.2f} "
            f"| {r['copy alone']:.2f} | {r['torch.exp'] / r['exp_underflowing_']:.2f} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "exp_underflow.md").write_text(text)
    report = {"machine": machine(device), "size": args.size, "rows": rows}
    (args.out / "exp_underflow.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()

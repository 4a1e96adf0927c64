"""Sinkhorn: ``reparam.transport.sinkhorn`` against POT's ``sinkhorn_log`` and geomloss's
tensorized backend.

Problems: n = 500, 1000, 2000 points drawn uniformly in [0, 1]² (two fixed-seed clouds X, Y
of n points each, ``--sizes``), uniform weights, the squared Euclidean cost
:math:`C_{ij} = \\lVert x_i - y_j\\rVert^2` divided by its maximum (so C ∈ [0, 1] and ε is
relative to the largest cost), ε ∈ {0.1, 0.01} (``--eps``), float64.

Contenders, all log-domain and all given the same tolerance ``--tol`` (default 1e-9):

- ``reparam``: ``sinkhorn(a, b, C, eps, tol=tol, max_iter=...)`` on torch tensors;
- ``POT torch``: ``ot.sinkhorn2(a, b, C, eps, method="sinkhorn_log", stopThr=tol,
  numItermax=...)`` on the same torch tensors (POT's torch backend, same device);
- ``POT numpy``: the same call on NumPy arrays (POT's NumPy backend, always on the CPU);
- ``geomloss``: geomloss's tensorized backend, its ``sinkhorn_loop`` with
  ``softmin_tensorized`` (the routine behind ``SamplesLoss("sinkhorn",
  backend="tensorized")``) on the same cost matrix, ``debias=False`` (OT_ε(a, b) alone), at
  the fixed ε (``eps_list = [ε] * k``, no annealing). geomloss has no tolerance: it runs a
  fixed number of iterations, each two soft-min passes over C (one per side), like one of
  ours. It is given the same number of passes as reparam used to reach the tolerance (its
  initial and final passes included), so the comparison is at the same ε and the same
  number of iterations; its symmetric, averaged updates converge more slowly than
  alternating ones, and the table gives the row-marginal L1 error it reached.

The stopping rules differ. POT checks every 10 iterations the L2 norm of the column-marginal
violation :math:`\\lVert γ^\\top\\mathbf 1 - b\\rVert_2` (its rows are exact after its last
update); reparam checks every iteration the L1 norm of the row-marginal violation
:math:`\\lVert γ\\mathbf 1 - a\\rVert_1` (its columns are exact), which for the same tolerance is
stricter (L1 ≥ L2, by up to √n). The iteration counts therefore differ, so the tables give both
the time to the tolerance and the time per iteration, and, for each contender, the cost
:math:`\\langle C, γ\\rangle` it returned and its relative distance to a reference cost
computed (untimed) by reparam at tolerance 1e-12: equal accuracy shows there. The time per
iteration is the median time of a call divided by its iterations, so it includes each
call's fixed costs (input checks, the final plan and cost; POT: its own set-up).

Timing: every contender is warmed up by a 3-iteration solve of the same problem, then
``--repeats`` rounds (default 3) time each contender once, the order rotating from round to
round; on CUDA the device is synchronized before each clock reading. A time is the median over
the rounds; ratios compare medians, POT ÷ reparam (higher = reparam faster). ``--threads`` sets
torch's threads and, through threadpoolctl, NumPy's.

POT and geomloss are optional (``pip install pot``, ``pip install --no-deps geomloss``);
without them only reparam is timed and the output says why.

Run from the repository root::

    OMP_NUM_THREADS=1 python benchmarks/sinkhorn.py --threads 1    # ~3 min on one CPU core
    python benchmarks/sinkhorn.py --quick                          # smoke test, n = 200
    python benchmarks/sinkhorn.py --device cuda --sizes 1000,4000
    python benchmarks/sinkhorn.py --device cuda --sizes 1000,4000 --no-numpy   # benchmarks/gpu.sh

With ``--small-eps 1e-3,1e-4`` it also times reparam's defaults, ``sinkhorn(a, b, C, eps)``
(ε-scaling below (max C − min C)/500, Newton steps when Sinkhorn's rate stalls, the default
budget and tolerance), at those ε on the same problems, against the exact OT cost (an
assignment: uniform weights on n points each), with the entropic bound ε log n; POT is not
run there (its ``sinkhorn_log`` needs 10⁴–10⁵ iterations at these ε).

It writes ``DIR/sinkhorn.json`` (settings, machine, versions, every round's time, iterations
and costs) and ``DIR/sinkhorn.md`` (the table, also printed); DIR defaults to
``benchmarks/results``. Timings are reported, never asserted.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
import warnings
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from types import ModuleType

import numpy as np
import torch
from machine_info import cores, machine
from timing import (
    available,
    import_peer,
    interleaved,
    listed,
    positive,
    positive_float,
    seconds,
    synchronize,
    thread_limits,
)

from reparam.convergence import ConvergenceWarning
from reparam.train.distributed import resolve_device
from reparam.transport import sinkhorn

SEED = 0
SIZES = (500, 1000, 2000)
EPSILONS = (0.1, 0.01)
TOL = 1e-9
REFERENCE_TOL = 1e-12
MAX_ITER = 100_000
REPEATS = 3
WARMUP_ITER = 3
QUICK_SIZES = (200,)
QUICK_REPEATS = 2

OURS, POT_TORCH, POT_NUMPY, GEOMLOSS = "reparam", "POT torch", "POT numpy", "geomloss"
PEERS = (POT_TORCH, POT_NUMPY, GEOMLOSS)


# ---------------------------------------------------------------------------- peers


def import_geomloss() -> tuple[ModuleType | None, str]:
    """geomloss's tensorized Sinkhorn routines, and its version or why they are missing."""
    try:
        from geomloss._legacy import sinkhorn_divergence, sinkhorn_samples
    except Exception as error:  # ImportError, or a dependency broken here
        return None, f"missing ({type(error).__name__}: {error})"
    module = ModuleType("geomloss_tensorized")
    module.loop = sinkhorn_divergence.sinkhorn_loop  # type: ignore[attr-defined]
    module.log_weights = sinkhorn_divergence.log_weights  # type: ignore[attr-defined]
    module.softmin = sinkhorn_samples.softmin_tensorized  # type: ignore[attr-defined]
    return module, version("geomloss")


# ---------------------------------------------------------------------------- problems


def problem(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Uniform weights a, b [n] and the squared Euclidean cost [n, n] scaled to max 1."""
    rng = np.random.default_rng(SEED)
    X, Y = rng.random((n, 2)), rng.random((n, 2))
    C = ((X[:, None, :] - Y[None, :, :]) ** 2).sum(-1)
    w = np.full(n, 1.0 / n)
    return w, w.copy(), C / C.max()


def run_case(
    n: int,
    eps: float,
    tol: float,
    repeats: int,
    device: torch.device,
    ot: ModuleType | None,
    geomloss: ModuleType | None = None,
    numpy: bool = True,
) -> dict[str, object]:
    a_np, b_np, C_np = problem(n)
    a, b, C = (torch.as_tensor(x, device=device) for x in (a_np, b_np, C_np))
    cpu = torch.device("cpu")
    out: dict[str, tuple[float, int]] = {}  # name -> (cost, iterations)
    errors: dict[str, float] = {}  # name -> row-marginal L1 error, where not a tolerance

    def ours(max_iter: int = MAX_ITER) -> None:
        res = sinkhorn(a, b, C, eps, tol=tol, max_iter=max_iter)
        out[OURS] = (float(res.cost), res.iterations)
        errors[OURS] = res.marginal_error

    contenders: dict[str, tuple[Callable[..., None], torch.device]] = {OURS: (ours, device)}
    if ot is not None:

        def pot(name: str, a_: object, b_: object, C_: object) -> Callable[..., None]:
            def run(max_iter: int = MAX_ITER) -> None:
                value, log = ot.sinkhorn2(
                    a_,
                    b_,
                    C_,
                    eps,
                    method="sinkhorn_log",
                    stopThr=tol,
                    numItermax=max_iter,
                    log=True,
                    warn=False,
                )
                out[name] = (float(value), int(log["niter"]))

            return run

        contenders[POT_TORCH] = (pot(POT_TORCH, a, b, C), device)
        if numpy:
            contenders[POT_NUMPY] = (pot(POT_NUMPY, a_np, b_np, C_np), cpu)
    if geomloss is not None:
        ours()  # the iterations reparam needs, which geomloss is given
        passes = out[OURS][1]
        a_log, b_log = geomloss.log_weights(a)[None], geomloss.log_weights(b)[None]
        C_xy, C_yx = C[None], C.T.contiguous()[None]

        def peer(max_iter: int = MAX_ITER) -> None:
            # An initial and a final pass of both soft-mins around the loop's.
            k = max(1, min(max_iter, passes) - 2)
            _, _, g, f = geomloss.loop(
                geomloss.softmin,
                a_log,
                b_log,
                None,
                None,
                C_xy,
                C_yx,
                [eps] * k,
                None,
                debias=False,
            )
            f, g = f[0], g[0]
            plan = torch.exp((f[:, None] + g[None, :] - C) / eps) * a[:, None] * b[None, :]
            out[GEOMLOSS] = (float((plan * C).sum()), k + 2)
            errors[GEOMLOSS] = float((plan.sum(1) - a).abs().sum())

        contenders[GEOMLOSS] = (peer, device)

    for run, dev in contenders.values():  # warm-up: a short solve of the same problem
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # it stops at 3 iterations
            run(WARMUP_ITER)
        synchronize(dev)
    rounds = interleaved(contenders, repeats)
    reference = sinkhorn(a, b, C, eps, tol=REFERENCE_TOL, max_iter=MAX_ITER)
    ref_cost = float(reference.cost)

    times: dict[str, dict[str, object]] = {}
    for name, r in rounds.items():
        cost, iterations = out[name]
        median = statistics.median(r)
        times[name] = {
            "device": contenders[name][1].type,
            "median_s": median,
            "min_s": min(r),
            "max_s": max(r),
            "rounds_s": [round(s, 6) for s in r],
            "iterations": iterations,
            "ms_per_iteration": 1e3 * median / iterations,
            "cost": cost,
            "cost_relative_error": abs(cost - ref_cost) / abs(ref_cost),
            "marginal_error": errors.get(name),
        }
    result: dict[str, object] = {
        "n": n,
        "eps": eps,
        "tol": tol,
        "reference_cost": ref_cost,
        "reference_iterations": reference.iterations,
        "times": times,
    }
    for name in PEERS:
        if name in times:
            mine, theirs = times[OURS], times[name]
            result[f"{name} ÷ reparam"] = {
                "time": theirs["median_s"] / mine["median_s"],  # type: ignore[operator]
                "per_iteration": theirs["ms_per_iteration"] / mine["ms_per_iteration"],  # type: ignore[operator]
                "cost_difference": theirs["cost"] - mine["cost"],  # type: ignore[operator]
            }
    return result


def run_small_eps(n: int, eps: float, repeats: int, device: torch.device) -> dict[str, object]:
    """reparam's defaults at a small ε: time, iterations, convergence, and the cost against
    the exact OT cost (an assignment, since the weights are uniform on n points each)."""
    from scipy.optimize import linear_sum_assignment

    a_np, b_np, C_np = problem(n)
    a, b, C = (torch.as_tensor(x, device=device) for x in (a_np, b_np, C_np))
    rows, cols = linear_sum_assignment(C_np)
    exact = float(C_np[rows, cols].mean())
    out: dict[str, object] = {}

    def ours() -> None:
        res = sinkhorn(a, b, C, eps)
        out.update(
            cost=float(res.cost),
            iterations=res.iterations,
            converged=res.converged,
            marginal_error=res.marginal_error,
        )

    ours()  # warm-up
    rounds = [seconds(ours, device) for _ in range(repeats)]
    return {
        "n": n,
        "eps": eps,
        "median_s": statistics.median(rounds),
        "rounds_s": [round(r, 6) for r in rounds],
        **out,
        "exact_cost": exact,
        "gap": out["cost"] - exact,  # type: ignore[operator]
        "bound": eps * math.log(n),
    }


# ---------------------------------------------------------------------------- output


def markdown(report: dict[str, object]) -> str:
    info: dict[str, object] = report["machine"]  # type: ignore[assignment]
    pot_found: str = report["pot"]  # type: ignore[assignment]
    geomloss_found: str = report.get("geomloss", "missing (not run)")  # type: ignore[assignment]
    settings: dict[str, object] = report["settings"]  # type: ignore[assignment]
    pot_text = f"POT {pot_found}" if available(pot_found) else "POT not importable"
    geo_text = (
        f"geomloss {geomloss_found}" if available(geomloss_found) else "geomloss not importable"
    )
    lines = [
        f"Sinkhorn, reparam against POT's `sinkhorn_log` and geomloss's tensorized backend, on "
        f"{info['device']} ({info['device_name']}), torch {info['torch']}, {info['threads']} "
        f"threads; {pot_text}, {geo_text}, NumPy {report['numpy']}.",
        "",
        f"n uniform points in [0, 1]² per side, uniform weights, squared Euclidean cost scaled "
        f"to max 1, float64, tolerance {settings['tol']:g} for reparam and POT (POT: "
        "column-marginal L2 error every 10 iterations; reparam: row-marginal L1 error every "
        "iteration); geomloss (no tolerance: a fixed ε, no annealing) runs as many iterations "
        "as reparam needed, and its row-marginal L1 error is given. Median "
        f"over {settings['repeats']} interleaved rounds after warm-up. Relative error: of the "
        f"returned cost ⟨C, γ⟩ against reparam at tolerance {REFERENCE_TOL:g}. Ratio: "
        "peer ÷ reparam (higher = reparam faster).",
        "",
        "| n | ε | contender | device | ms: median (min–max) | iterations | ms / iteration "
        "| cost | relative error | marginal error | peer ÷ reparam (time) "
        "| peer ÷ reparam (per iteration) |",
        "|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    summaries = []
    for case in report["results"]:  # type: ignore[attr-defined]
        times = case["times"]
        mine = times[OURS]
        for name, t in times.items():
            if name == OURS:
                total = per_it = "1.00"
            else:
                total = f"{t['median_s'] / mine['median_s']:.2f}"
                per_it = f"{t['ms_per_iteration'] / mine['ms_per_iteration']:.2f}"
            error = t.get("marginal_error")
            lines.append(
                f"| {case['n']} | {case['eps']:g} | {name} | {t['device']} "
                f"| {t['median_s'] * 1e3:,.1f} ({t['min_s'] * 1e3:,.1f}–{t['max_s'] * 1e3:,.1f}) "
                f"| {t['iterations']} | {t['ms_per_iteration']:.2f} | {t['cost']:.12f} "
                f"| {t['cost_relative_error']:.1e} | {'' if error is None else f'{error:.1e}'} "
                f"| {total} | {per_it} |"
            )
        for name in PEERS:
            key = f"{name} ÷ reparam"
            if key in case:
                r = case[key]
                summaries.append(
                    f"n={case['n']} ε={case['eps']:g} {name}: {r['time']:.2f} "
                    f"({r['per_iteration']:.2f} per iteration), costs differ by "
                    f"{r['cost_difference']:.1e}"
                )
    lines.append("")
    if summaries:
        lines.append(f"Summary (peer ÷ reparam, higher = reparam faster): {'; '.join(summaries)}.")
    else:
        lines.append(f"No peer timed: POT {pot_found}, geomloss {geomloss_found}.")
    small = report.get("small_eps") or []
    if small:
        lines += [
            "",
            "reparam's defaults at small ε, `sinkhorn(a, b, C, eps)` (same problems; exact cost: "
            "the assignment; bound: ε log n):",
            "",
            "| n | ε | ms (median) | iterations | converged | marginal error | cost − exact | ε log n |",
            "|---:|---:|---:|---:|---|---:|---:|---:|",
        ]
        for case in small:  # type: ignore[attr-defined]
            lines.append(
                f"| {case['n']} | {case['eps']:g} | {case['median_s'] * 1e3:,.1f} "
                f"| {case['iterations']} | {case['converged']} | {case['marginal_error']:.1e} "
                f"| {case['gap']:.2e} | {case['bound']:.2e} |"
            )
    lines += ["", f"Total time: {report['elapsed_s']:.0f} s."]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------- main


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", type=listed(positive), default=None, help="n, e.g. 500,1000,2000 (default)"
    )
    parser.add_argument(
        "--eps", type=listed(positive_float), default=list(EPSILONS), help="e.g. 0.1,0.01"
    )
    parser.add_argument("--tol", type=positive_float, default=TOL, help=f"default {TOL:g}")
    parser.add_argument("--repeats", type=positive, default=None, help=f"default {REPEATS}")
    parser.add_argument("--quick", action="store_true", help="n = 200, 2 rounds: a smoke test")
    parser.add_argument(
        "--no-numpy",
        action="store_true",
        help="leave out POT's NumPy backend (CPU only, minutes at large n on a GPU run)",
    )
    parser.add_argument(
        "--small-eps",
        type=listed(positive_float),
        default=[],
        help="also time reparam's defaults at these ε, e.g. 1e-3,1e-4 (default: none)",
    )
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--threads", type=positive, default=None, help="default: the cores usable")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    threads = args.threads or cores()
    torch.set_num_threads(threads)
    device = resolve_device(args.device)
    sizes = args.sizes or list(QUICK_SIZES if args.quick else SIZES)
    repeats = args.repeats or (QUICK_REPEATS if args.quick else REPEATS)
    start = time.perf_counter()

    ot, pot_found = import_peer("ot", "pot")
    if ot is None:
        print(f"POT is not importable, so it is not timed: {pot_found}")
    geomloss, geomloss_found = import_geomloss()
    if geomloss is None:
        print(f"geomloss is not importable, so it is not timed: {geomloss_found}")

    results = []
    with thread_limits(threads):
        for n in sizes:
            for eps in args.eps:
                print(f"n = {n}, ε = {eps:g} …", flush=True)
                results.append(
                    run_case(
                        n, eps, args.tol, repeats, device, ot, geomloss, numpy=not args.no_numpy
                    )
                )

        small = []
        for n in sizes:
            for eps in args.small_eps:
                print(f"n = {n}, ε = {eps:g}, reparam's defaults …", flush=True)
                small.append(run_small_eps(n, eps, repeats, device))

    report: dict[str, object] = {
        "machine": machine(device),
        "numpy": np.__version__,
        "pot": pot_found,
        "geomloss": geomloss_found,
        "settings": {
            "sizes": sizes,
            "eps": args.eps,
            "tol": args.tol,
            "reference_tol": REFERENCE_TOL,
            "repeats": repeats,
            "warmup_iterations": WARMUP_ITER,
            "dtype": "float64",
            "cost": "squared Euclidean, divided by its maximum",
            "quick": args.quick,
            "pot_numpy": not args.no_numpy,
            "threads": threads,
            "small_eps": args.small_eps,
        },
        "results": results,
        "small_eps": small,
    }
    report["elapsed_s"] = round(time.perf_counter() - start, 1)

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "sinkhorn.json").write_text(json.dumps(report, indent=2) + "\n")
    table = markdown(report)
    (args.out / "sinkhorn.md").write_text(table)
    print(table, end="")


if __name__ == "__main__":
    main()

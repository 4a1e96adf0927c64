"""Time per gradient estimate of ``reparam.expect`` against the same estimator written by hand.

For each estimator and each number of samples n, one "gradient estimate" is a forward pass
that returns the Monte Carlo estimate of E_q[f] for a batch of B = 256 independent parameter
sets (samples of shape [n, 256] or [n, 256, K]) followed by the backward pass to those
parameters. The ``reparam.expect`` version and a hand-written twin in plain PyTorch that
computes the same gradient are timed back to back in the same process with
``torch.utils.benchmark.Timer``; the whole grid is swept a few times and each side keeps its
least ``blocked_autorange`` median. Both sides build the same ``torch.distributions`` object
(``expect`` needs one, and a hand-written estimator would use its ``rsample``/``log_prob``), so
the ratio measures what ``expect`` itself adds:

- pathwise, Normal(loc, softplus(rho)), f(z) = (z - 3)^2
- score (plain REINFORCE), Normal(loc, softplus(rho)), f(z) = (z - 3)^2
- score with a leave-one-out baseline, Categorical(logits [256, 10]), f(z) = (z - 4)^2 (n ≥ 2)
- gumbel-softmax (τ = 0.5), OneHotCategorical(logits [256, 10]), f(y) = (Σ_k k y_k - 4)^2
- grep (Ruiz et al. 2016), Gamma(concentration, rate), f(z) = z^2

Run from the repository root::

    python benchmarks/estimators.py                 # n = 1, 10, 100, 1000
    python benchmarks/estimators.py --quick         # n = 1, 10, 100, shorter runs (smoke test)
    python benchmarks/estimators.py --device cuda --out DIR

It writes ``DIR/estimators.json`` (one record per estimator and n, with the machine it ran
on) and ``DIR/estimators.md`` (a markdown table, also printed); DIR defaults to
``benchmarks/results``. Timings are reported, never asserted.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from machine_info import cores, machine
from torch import Tensor
from torch.distributions import Categorical, Gamma, Normal, OneHotCategorical
from torch.utils.benchmark import Timer

import reparam as rp
from reparam.train.distributed import resolve_device

BATCH = 256
CATEGORIES = 10
TEMPERATURE = 0.5
SAMPLE_SIZES = (1, 10, 100, 1000)
QUICK_SAMPLE_SIZES = (1, 10, 100)
MIN_RUN_TIME = 0.3  # seconds per side of each (estimator, n), split over the passes
QUICK_MIN_RUN_TIME = 0.1
PASSES = 5

PATHWISE = rp.Pathwise()
SCORE = rp.ScoreFunction()
LEAVE_ONE_OUT = rp.ScoreFunction("leave-one-out")
GUMBEL_SOFTMAX = rp.GumbelSoftmax(TEMPERATURE)
GREP = rp.GeneralizedReparam()

Step = Callable[[Sequence[Tensor], int], Tensor]


@dataclass(frozen=True)
class Case:
    """One estimator: how to make its parameters, and its reparam and hand-written steps.

    A step maps ``(params, n)`` to the estimate of E_q[f], shape ``[BATCH]``, whose gradient
    with respect to ``params`` is the estimator's.
    """

    name: str
    make_params: Callable[[torch.device], list[Tensor]]
    reparam: Step
    hand: Step
    min_n: int = 1


def leaf(tensor: Tensor) -> Tensor:
    return tensor.requires_grad_()


# Cost functions: samples [n, BATCH, ...] to costs [n, BATCH].


def squared_error(z: Tensor) -> Tensor:
    return (z - 3) ** 2


def category_cost(z: Tensor) -> Tensor:
    return (z.float() - 4) ** 2


def one_hot_cost(y: Tensor) -> Tensor:
    k = torch.arange(y.shape[-1], dtype=y.dtype, device=y.device)
    return ((y * k).sum(-1) - 4) ** 2


def square(z: Tensor) -> Tensor:
    return z**2


def score_value(cost: Tensor, log_prob: Tensor, baseline: Tensor | float = 0.0) -> Tensor:
    """Value ``cost.mean(0)``, gradient that of the surrogate ``((cost - b) * log_prob).mean(0)``."""
    surrogate = ((cost.detach() - baseline) * log_prob).mean(0)
    return cost.mean(0) + (surrogate - surrogate.detach())


# Normal(loc, softplus(rho)): pathwise and score.


def normal_params(device: torch.device) -> list[Tensor]:
    return [leaf(torch.randn(BATCH, device=device)), leaf(torch.randn(BATCH, device=device))]


def normal(params: Sequence[Tensor]) -> Normal:
    loc, rho = params
    return Normal(loc, F.softplus(rho))


def pathwise_reparam(params: Sequence[Tensor], n: int) -> Tensor:
    return rp.expect(squared_error, normal(params), n=n, estimator=PATHWISE)


def pathwise_hand(params: Sequence[Tensor], n: int) -> Tensor:
    return squared_error(normal(params).rsample((n,))).mean(0)


def score_reparam(params: Sequence[Tensor], n: int) -> Tensor:
    return rp.expect(squared_error, normal(params), n=n, estimator=SCORE)


def score_hand(params: Sequence[Tensor], n: int) -> Tensor:
    q = normal(params)
    z = q.sample((n,))
    return score_value(squared_error(z), q.log_prob(z))


# Categorical / OneHotCategorical(logits [BATCH, CATEGORIES]): leave-one-out and gumbel-softmax.


def logits_params(device: torch.device) -> list[Tensor]:
    return [leaf(torch.randn(BATCH, CATEGORIES, device=device))]


def loo_reparam(params: Sequence[Tensor], n: int) -> Tensor:
    q = Categorical(logits=params[0])
    return rp.expect(category_cost, q, n=n, estimator=LEAVE_ONE_OUT)


def loo_hand(params: Sequence[Tensor], n: int) -> Tensor:
    q = Categorical(logits=params[0])
    z = q.sample((n,))
    cost = category_cost(z)
    baseline = (cost.sum(0) - cost) / (n - 1)
    return score_value(cost, q.log_prob(z), baseline)


def gumbel_reparam(params: Sequence[Tensor], n: int) -> Tensor:
    q = OneHotCategorical(logits=params[0])
    return rp.expect(one_hot_cost, q, n=n, estimator=GUMBEL_SOFTMAX)


def gumbel_hand(params: Sequence[Tensor], n: int) -> Tensor:
    logits = OneHotCategorical(logits=params[0]).logits
    u = torch.rand(n, *logits.shape, device=logits.device)
    g = -torch.log(-torch.log(u))
    y = torch.softmax((logits + g) / TEMPERATURE, -1)
    return one_hot_cost(y).mean(0)


# Gamma(concentration, rate): generalized reparameterization.


def gamma_params(device: torch.device) -> list[Tensor]:
    return [
        leaf(torch.rand(BATCH, device=device) + 0.5),
        leaf(torch.rand(BATCH, device=device) + 0.5),
    ]


def grep_reparam(params: Sequence[Tensor], n: int) -> Tensor:
    a, b = params
    return rp.expect(square, Gamma(a, b), n=n, estimator=GREP)


def grep_hand(params: Sequence[Tensor], n: int) -> Tensor:
    a, b = params
    q = Gamma(a, b)
    digamma, trigamma = torch.digamma(a), torch.polygamma(1, a)
    with torch.no_grad():
        z = q.sample((n,))
        eps = (z.log() - digamma + b.log()) / trigamma.sqrt()
    log_z = eps * trigamma.sqrt() + digamma - b.log()
    z_r = log_z.exp()
    log_q_eps = q.log_prob(z_r) + log_z + 0.5 * trigamma.log()
    cost = square(z_r)
    return (cost + cost.detach() * (log_q_eps - log_q_eps.detach())).mean(0)


CASES = (
    Case("pathwise", normal_params, pathwise_reparam, pathwise_hand),
    Case("score", normal_params, score_reparam, score_hand),
    Case("score + leave-one-out", logits_params, loo_reparam, loo_hand, min_n=2),
    Case("gumbel-softmax", logits_params, gumbel_reparam, gumbel_hand),
    Case("grep", gamma_params, grep_reparam, grep_hand),
)


def gradient(step: Step, params: Sequence[Tensor], n: int) -> tuple[Tensor, ...]:
    """One gradient estimate: the forward pass and the backward pass to ``params``."""
    return torch.autograd.grad(step(params, n).sum(), params)


def check(step: Step, params: Sequence[Tensor], n: int) -> None:
    """Run ``step`` once and check its estimate and gradients have the right shapes."""
    value = step(params, n)
    if value.shape != (BATCH,) or not value.isfinite().all():
        raise RuntimeError(f"{step.__name__} returned {value.shape}, not a finite [{BATCH}].")
    for param, grad in zip(params, gradient(step, params, n), strict=True):
        if grad.shape != param.shape or not grad.isfinite().all():
            raise RuntimeError(f"{step.__name__} gave a non-finite or misshapen gradient.")


def median_us(step: Step, params: Sequence[Tensor], n: int, min_run_time: float) -> float:
    """Median time of one gradient estimate, in microseconds."""
    timer = Timer(
        stmt="gradient(step, params, n)",
        globals={"gradient": gradient, "step": step, "params": params, "n": n},
        num_threads=torch.get_num_threads(),
    )
    return timer.blocked_autorange(min_run_time=min_run_time).median * 1e6


def benchmark(
    device: torch.device, sample_sizes: Sequence[int], min_run_time: float
) -> list[dict[str, object]]:
    """Time every (estimator, n), reparam then hand-written, in ``PASSES`` passes over the grid.

    Each side keeps its least median over the passes, so that a burst of load from elsewhere
    on the machine, which may last seconds, spoils at most a pass rather than a row.
    """
    grid = [
        (case, case.make_params(device), n)
        for case in CASES
        for n in sample_sizes
        if n >= case.min_n
    ]
    for case, params, n in grid:
        check(case.reparam, params, n)
        check(case.hand, params, n)
    best = [[math.inf, math.inf] for _ in grid]
    for _ in range(PASSES):
        for row, (case, params, n) in zip(best, grid, strict=True):
            for side, step in enumerate((case.reparam, case.hand)):
                row[side] = min(row[side], median_us(step, params, n, min_run_time / PASSES))
    info = machine(device)
    return [
        {
            "estimator": case.name,
            "n": n,
            "reparam_us": round(reparam_us, 2),
            "hand_us": round(hand_us, 2),
            "ratio": round(reparam_us / hand_us, 3),
            **info,
        }
        for (case, _, n), (reparam_us, hand_us) in zip(grid, best, strict=True)
    ]


def markdown(records: Sequence[dict[str, object]]) -> str:
    first = records[0]
    lines = [
        f"Time per gradient estimate (forward + backward), batch {BATCH}, on "
        f"{first['device']} ({first['device_name']}), torch {first['torch']}, "
        f"{first['threads']} threads.",
        "",
        "| estimator | n | reparam (µs) | hand-written (µs) | ratio |",
        "|---|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['estimator']} | {r['n']} | {r['reparam_us']:.1f} | {r['hand_us']:.1f} "
        f"| {r['ratio']:.2f} |"
        for r in records
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--quick", action="store_true", help="n = 1, 10, 100 and shorter runs")
    args = parser.parse_args()

    torch.set_num_threads(cores())
    torch.manual_seed(0)
    sample_sizes = QUICK_SAMPLE_SIZES if args.quick else SAMPLE_SIZES
    min_run_time = QUICK_MIN_RUN_TIME if args.quick else MIN_RUN_TIME
    records = benchmark(resolve_device(args.device), sample_sizes, min_run_time)

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "estimators.json").write_text(json.dumps(records, indent=2) + "\n")
    table = markdown(records)
    (args.out / "estimators.md").write_text(table)
    print(table, end="")


if __name__ == "__main__":
    main()

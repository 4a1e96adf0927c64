"""Training steps per second of a Bayesian MLP: ``reparam``, bayesian-torch and BLiTZ, interleaved.

Every contender trains the same network, by default 784–400–400–10 with ReLU between the
layers (the MNIST classifier of Blundell et al. 2015, smaller), on minibatches of 128. One
training step is the forward pass, the loss, the backward pass and an Adam step (learning rate
1e-3) of

    loss = cross-entropy summed over the minibatch + KL(q ‖ p) / N_TRAIN,   N_TRAIN = 60 000,

the weighting the peers' MNIST examples use (for the Bayesian contenders; the deterministic
reference has no KL). The contenders:

- ``nn.Linear``: a deterministic MLP, the reference;
- ``two matmuls``: the floor of local reparameterization, a bare network with two matrix
  products per layer, ``x W₁ᵀ + c₁ + (x ⊙ x) W₂ᵀ + c₂``, ReLU between: the six products of
  its forward and backward passes and Adam on twice the parameters, as the Bayesian layers
  have, and nothing else (no softplus, no noise, no KL);
- ``reparam weight`` / ``local`` / ``flipout``: ``reparam.models.BayesMLP`` (``BayesLinear``
  layers) with that estimator, KL by ``reparam.bayes.kl(model)`` (closed form);
- ``bayesian-torch LinearReparameterization`` (one weight draw per minibatch, like ``weight``)
  and ``bayesian-torch LinearFlipout``: each layer's ``forward`` returns ``(out, kl)`` (its
  default ``return_kl=True``) and the network adds the layers' KLs up, as the library's
  examples do. Note bayesian-torch's ``kl_div`` returns the *mean* of the elementwise KL over
  each parameter tensor, not its sum: a different number, the same work;
- ``blitz BayesianLinear`` (one weight draw per minibatch, Bayes by Backprop): a
  ``@variational_estimator`` network, KL by ``nn_kl_divergence()``, which BLiTZ estimates by
  Monte Carlo from the weights drawn in the forward pass.

Settings are matched as far as the APIs allow: prior N(0, 1) everywhere (bayesian-torch
``prior_mean=0, prior_variance=1``; BLiTZ ``prior_pi=1, prior_sigma_1=1``), posterior σ
starting at softplus(-3) ≈ 0.0486 (bayesian-torch's default ``posterior_rho_init=-3``; BLiTZ
``posterior_rho_init=-3``; reparam ``init_std=softplus(-3)``). The posterior means start as
each library starts them (reparam like ``nn.Linear``, the peers N(0, 0.1²)), which does not
change the work. Every contender sees the same minibatches of random data (uniform pixels,
uniform labels), held on the device, and the same cross-entropy call.

Timing: each contender is built and warmed up, then ``--repeats`` rounds each time
``--steps`` steps of every contender in turn (the order rotating from round to round), so
that load from elsewhere on the machine falls on all of them alike; on CUDA the device is
synchronized before each clock reading. A contender's rate is the median over the rounds.
The ratios compare medians; "paired" is the median over rounds of the ratio within a round.
``--clock process`` reads the CPU time of this process instead of the wall clock (CPU runs:
on a machine shared with other jobs it does not count the time the process waits for a core,
which the wall clock does; it still counts what sharing the caches costs).

bayesian-torch and BLiTZ are optional (``pip install --no-deps bayesian-torch
blitz-bayesian-pytorch`` beside an existing torch); without them their rows are missing and
the output says why.

Run from the repository root::

    python benchmarks/bnn_step.py                              # 784-400-400-10, batch 128
    python benchmarks/bnn_step.py --steps 20 --repeats 3       # smoke test
    python benchmarks/bnn_step.py --sizes 784 1200 1200 10 --batch-size 256 --device cuda
    python benchmarks/bnn_step.py --threads 1 --clock process    # CPU time, shared machine

It writes ``DIR/bnn_step.json`` (settings, machine, library versions and every round's time
per contender) and ``DIR/bnn_step.md`` (a markdown table, also printed); DIR defaults to
``benchmarks/results``. Timings are reported, never asserted.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import torch
import torch.nn.functional as F
from machine_info import cores, machine
from torch import Tensor, nn

from reparam.bayes import kl
from reparam.models import BayesMLP
from reparam.train.distributed import resolve_device

SIZES = (784, 400, 400, 10)
BATCH_SIZE = 128
STEPS = 200  # per contender and round
REPEATS = 7
WARMUP_STEPS = 10
N_TRAIN = 60_000  # the KL's weight is 1 / N_TRAIN
LEARNING_RATE = 1e-3
POSTERIOR_RHO_INIT = -3.0  # bayesian-torch's default: σ = softplus(-3) ≈ 0.0486
PRIOR_SIGMA = 1.0
POOL_BATCHES = 16  # distinct minibatches cycled through

REPARAM_ESTIMATORS = ("weight", "local", "flipout")
DETERMINISTIC = "nn.Linear"
FLOOR = "two matmuls"
BT_REPARAMETERIZATION = "bayesian-torch LinearReparameterization"
BT_FLIPOUT = "bayesian-torch LinearFlipout"
BLITZ = "blitz BayesianLinear"
# (reparam contender, peer): the pairs doing the same work.
PAIRS = (
    ("reparam weight", BT_REPARAMETERIZATION),
    ("reparam flipout", BT_FLIPOUT),
    ("reparam weight", BLITZ),
)

Batch = tuple[Tensor, Tensor]
Loss = Callable[[Tensor, Tensor], Tensor]


@dataclass
class Contender:
    name: str
    library: str
    estimator: str
    model: nn.Module
    loss: Loss

    @property
    def parameters(self) -> int:
        """Trainable numbers, each counted once (BLiTZ registers each μ and ρ twice, as two
        parameters sharing storage)."""
        unique = {p.data_ptr(): p for p in self.model.parameters()}
        return sum(p.numel() for p in unique.values())


# (d) The deterministic reference.


def deterministic_mlp(sizes: Sequence[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in itertools.pairwise(sizes):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


def deterministic(sizes: Sequence[int]) -> Contender:
    model = deterministic_mlp(sizes)

    def loss(x: Tensor, y: Tensor) -> Tensor:
        return F.cross_entropy(model(x), y, reduction="sum")

    return Contender(DETERMINISTIC, "torch", "—", model, loss)


class TwoMatmuls(nn.Module):
    """``x W₁ᵀ + c₁ + (x ⊙ x) W₂ᵀ + c₂``: the products of local reparameterization, bare."""

    def __init__(self, a: int, b: int) -> None:
        super().__init__()
        self.mean, self.square = nn.Linear(a, b), nn.Linear(a, b)

    def forward(self, x: Tensor) -> Tensor:
        return self.mean(x) + self.square(x * x)


def two_matmuls(sizes: Sequence[int]) -> Contender:
    layers: list[nn.Module] = []
    for a, b in itertools.pairwise(sizes):
        layers += [TwoMatmuls(a, b), nn.ReLU()]
    model = nn.Sequential(*layers[:-1])

    def loss(x: Tensor, y: Tensor) -> Tensor:
        return F.cross_entropy(model(x), y, reduction="sum")

    return Contender(FLOOR, "torch", "—", model, loss)


# (a) reparam.


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def reparam_contender(sizes: Sequence[int], estimator: str) -> Contender:
    model = BayesMLP(
        sizes, task="classification", estimator=estimator, init_std=softplus(POSTERIOR_RHO_INIT)
    )

    def loss(x: Tensor, y: Tensor) -> Tensor:
        return F.cross_entropy(model(x), y, reduction="sum") + kl(model) / N_TRAIN

    return Contender(f"reparam {estimator}", "reparam", estimator, model, loss)


# (b) bayesian-torch.


def import_bayesian_torch() -> tuple[ModuleType | None, str]:
    """``bayesian_torch.layers``, and the package's version or why it could not be imported."""
    try:
        from importlib.metadata import version

        import bayesian_torch.layers as layers
    except Exception as error:  # ImportError, or a dependency broken against this torch
        return None, f"missing ({type(error).__name__}: {error})"
    return layers, version("bayesian-torch")


class BayesianTorchMLP(nn.Module):
    """The MLP from bayesian-torch layers, each returning ``(out, kl)``; returns the logits and
    the layers' KLs added up, as bayesian-torch's example networks do."""

    def __init__(self, layer: type[nn.Module], sizes: Sequence[int]) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            layer(
                a,
                b,
                prior_mean=0.0,
                prior_variance=PRIOR_SIGMA,  # used as the prior's σ (equal here: σ = 1)
                posterior_mu_init=0.0,
                posterior_rho_init=POSTERIOR_RHO_INIT,
            )
            for a, b in itertools.pairwise(sizes)
        )

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        total = x.new_zeros(())
        for i, layer in enumerate(self.layers):
            if i:
                x = F.relu(x)
            x, layer_kl = layer(x)
            total = total + layer_kl
        return x, total


def bayesian_torch_contender(layers: ModuleType, sizes: Sequence[int], flipout: bool) -> Contender:
    kind = "LinearFlipout" if flipout else "LinearReparameterization"
    model = BayesianTorchMLP(getattr(layers, kind), sizes)

    def loss(x: Tensor, y: Tensor) -> Tensor:
        logits, total_kl = model(x)
        return F.cross_entropy(logits, y, reduction="sum") + total_kl / N_TRAIN

    name = BT_FLIPOUT if flipout else BT_REPARAMETERIZATION
    return Contender(name, "bayesian-torch", "flipout" if flipout else "weight", model, loss)


# (c) BLiTZ.


def import_blitz() -> tuple[tuple[type[nn.Module], Callable] | None, str]:
    """BLiTZ's ``BayesianLinear`` and ``variational_estimator``, and its version or why not."""
    try:
        from importlib.metadata import version

        from blitz.modules import BayesianLinear
        from blitz.utils import variational_estimator
    except Exception as error:
        return None, f"missing ({type(error).__name__}: {error})"
    return (BayesianLinear, variational_estimator), version("blitz-bayesian-pytorch")


def blitz_contender(blitz: tuple[type[nn.Module], Callable], sizes: Sequence[int]) -> Contender:
    bayesian_linear, variational_estimator = blitz

    @variational_estimator
    class BlitzMLP(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            layers: list[nn.Module] = []
            for a, b in itertools.pairwise(sizes):
                layer = bayesian_linear(
                    a,
                    b,
                    prior_sigma_1=PRIOR_SIGMA,
                    prior_pi=1,  # the scale mixture reduced to N(0, prior_sigma_1²)
                    posterior_mu_init=0.0,
                    posterior_rho_init=POSTERIOR_RHO_INIT,
                )
                layers += [layer, nn.ReLU()]
            self.layers = nn.Sequential(*layers[:-1])

        def forward(self, x: Tensor) -> Tensor:
            return self.layers(x)

    model = BlitzMLP()

    def loss(x: Tensor, y: Tensor) -> Tensor:
        logits = model(x)
        return F.cross_entropy(logits, y, reduction="sum") + model.nn_kl_divergence() / N_TRAIN

    return Contender(BLITZ, "blitz", "weight", model, loss)


# Data, steps and timing.


def data_pool(sizes: Sequence[int], batch: int, device: torch.device) -> list[Batch]:
    """``POOL_BATCHES`` minibatches of uniform pixels and uniform labels, on ``device``."""
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(POOL_BATCHES, batch, sizes[0], generator=generator)
    y = torch.randint(sizes[-1], (POOL_BATCHES, batch), generator=generator)
    return list(zip(x.to(device).unbind(), y.to(device).unbind(), strict=True))


def training_step(contender: Contender, batches: Iterator[Batch]) -> Callable[[], Tensor]:
    optimizer = torch.optim.Adam(contender.model.parameters(), lr=LEARNING_RATE)

    def step() -> Tensor:
        x, y = next(batches)
        value = contender.loss(x, y)
        optimizer.zero_grad(set_to_none=True)
        value.backward()
        optimizer.step()
        return value.detach()

    return step


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def warm_up(step: Callable[[], Tensor], name: str, steps: int, device: torch.device) -> None:
    for _ in range(steps):
        value = step()
    synchronize(device)
    if not math.isfinite(float(value)):
        raise RuntimeError(f"{name} gave a non-finite loss {float(value)}.")


CLOCKS = {"wall": time.perf_counter, "process": time.process_time}


def seconds(
    step: Callable[[], Tensor], steps: int, device: torch.device, clock: str = "wall"
) -> float:
    """Time of ``steps`` training steps by ``clock`` (see :data:`CLOCKS`), the device
    synchronized before both readings."""
    read = CLOCKS[clock]
    synchronize(device)
    start = read()
    for _ in range(steps):
        step()
    synchronize(device)
    return read() - start


def build(
    sizes: Sequence[int], bayesian_torch: ModuleType | None, blitz: object, device: torch.device
) -> list[Contender]:
    torch.manual_seed(0)
    contenders = [deterministic(sizes), two_matmuls(sizes)]
    contenders += [reparam_contender(sizes, estimator) for estimator in REPARAM_ESTIMATORS]
    if bayesian_torch is not None:
        contenders += [bayesian_torch_contender(bayesian_torch, sizes, f) for f in (False, True)]
    if blitz is not None:
        contenders.append(blitz_contender(blitz, sizes))  # type: ignore[arg-type]
    for contender in contenders:
        contender.model.to(device).train()
    return contenders


def benchmark(
    contenders: Sequence[Contender],
    pool: Sequence[Batch],
    steps: int,
    repeats: int,
    warmup: int,
    device: torch.device,
    clock: str = "wall",
) -> dict[str, list[float]]:
    """Seconds per step of each contender in each of ``repeats`` interleaved rounds."""
    train = {c.name: training_step(c, itertools.cycle(pool)) for c in contenders}
    for name, step in train.items():
        warm_up(step, name, warmup, device)
    rounds: dict[str, list[float]] = {name: [] for name in train}
    names = list(train)
    for r in range(repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            rounds[name].append(seconds(train[name], steps, device, clock) / steps)
    return rounds


# Output.


def summarize(
    contenders: Sequence[Contender], rounds: dict[str, list[float]]
) -> list[dict[str, object]]:
    reference = statistics.median(rounds[DETERMINISTIC])
    records = []
    for c in contenders:
        per_step = rounds[c.name]
        median = statistics.median(per_step)
        records.append(
            {
                "name": c.name,
                "library": c.library,
                "estimator": c.estimator,
                "parameters": c.parameters,
                "steps_per_s": round(1 / median, 2),
                "ms_per_step": round(median * 1e3, 4),
                "ms_per_step_min": round(min(per_step) * 1e3, 4),
                "ms_per_step_max": round(max(per_step) * 1e3, 4),
                "time_vs_deterministic": round(median / reference, 3),
                "rounds_ms_per_step": [round(s * 1e3, 4) for s in per_step],
            }
        )
    return records


def comparisons(rounds: dict[str, list[float]]) -> list[dict[str, object]]:
    """reparam's steps/s over the peer's for each pair timed, and the times of reparam local
    and of its two-matmul floor over that of nn.Linear, and of local over the floor."""
    wanted = [(a, b, "steps/s") for a, b in PAIRS] + [
        ("reparam local", DETERMINISTIC, "time"),
        (FLOOR, DETERMINISTIC, "time"),
        ("reparam local", FLOOR, "time"),
    ]
    rows = []
    for a, b, kind in wanted:
        if a not in rounds or b not in rounds:
            continue
        # a's steps/s over b's is b's time over a's.
        top, bottom = (rounds[b], rounds[a]) if kind == "steps/s" else (rounds[a], rounds[b])
        paired = [t / u for t, u in zip(top, bottom, strict=True)]
        rows.append(
            {
                "numerator": a,
                "denominator": b,
                "of": kind,
                "ratio_of_medians": round(statistics.median(top) / statistics.median(bottom), 3),
                "paired_median": round(statistics.median(paired), 3),
                "paired_min": round(min(paired), 3),
                "paired_max": round(max(paired), 3),
            }
        )
    return rows


def version(found: object) -> str:
    """A peer's version, or "not importable" (the reason goes below the tables)."""
    return "not importable" if str(found).startswith("missing") else str(found)


def markdown(report: dict[str, object]) -> str:
    info: dict[str, object] = report["machine"]  # type: ignore[assignment]
    settings: dict[str, object] = report["settings"]  # type: ignore[assignment]
    records: list[dict[str, object]] = report["records"]  # type: ignore[assignment]
    sizes = "–".join(str(s) for s in settings["sizes"])  # type: ignore[attr-defined]
    lines = [
        f"Bayesian MLP training steps per second (forward, backward, Adam), {sizes}, ReLU, "
        f"batch {settings['batch_size']}, on {info['device']} ({info['device_name']}), "
        f"torch {info['torch']}, {info['threads']} threads, {settings['clock']} clock.",
        f"Loss: cross-entropy summed over the minibatch + KL / {settings['n_train']}; prior "
        f"N(0, {settings['prior_sigma']}²), posterior σ starting at "
        f"{settings['posterior_sigma_init']}; Adam, learning rate {settings['learning_rate']}.",
        f"Peers: bayesian-torch {version(report['bayesian_torch'])}, "
        f"BLiTZ {version(report['blitz'])}.",
        f"Median of {settings['repeats']} interleaved rounds of {settings['steps']} steps each, "
        f"after {settings['warmup']} warm-up steps per model.",
        "",
        "| model | estimator | parameters | steps/s | ms/step (min–max over rounds) "
        "| time ÷ nn.Linear |",
        "|---|---|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['name']} | {r['estimator']} | {r['parameters']:,} | {r['steps_per_s']:.1f} "
        f"| {r['ms_per_step']:.3f} ({r['ms_per_step_min']:.3f}–{r['ms_per_step_max']:.3f}) "
        f"| {r['time_vs_deterministic']:.2f} |"
        for r in records
    ]
    lines += [
        "",
        "| comparison | ratio of medians | paired: median (min–max) |",
        "|---|---:|---:|",
    ]
    for c in report["comparisons"]:  # type: ignore[attr-defined]
        lines.append(
            f"| {c['numerator']} ÷ {c['denominator']} ({c['of']}) | {c['ratio_of_medians']:.2f} "
            f"| {c['paired_median']:.2f} ({c['paired_min']:.2f}–{c['paired_max']:.2f}) |"
        )
    lines.append("")
    missing = [
        f"{name} {why}"
        for name, why in (("bayesian-torch", report["bayesian_torch"]), ("BLiTZ", report["blitz"]))
        if str(why).startswith("missing")
    ]
    if missing:
        lines += [f"Not timed: {'; '.join(missing)}.", ""]
    lines.append(f"Total time: {report['elapsed_s']:.0f} s.")
    return "\n".join(lines) + "\n"


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be ≥ 1, got {value}")
    return value


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=positive, nargs="+", default=list(SIZES))
    parser.add_argument("--batch-size", type=positive, default=BATCH_SIZE)
    parser.add_argument("--steps", type=positive, default=STEPS, help="per contender and round")
    parser.add_argument("--repeats", type=positive, default=REPEATS, help="interleaved rounds")
    parser.add_argument("--warmup", type=positive, default=WARMUP_STEPS, help="steps per contender")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--threads", type=positive, default=None, help="default: the cores usable")
    parser.add_argument(
        "--clock",
        choices=tuple(CLOCKS),
        default="wall",
        help="wall time, or this process's CPU time (CPU runs on a shared machine)",
    )
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    if len(args.sizes) < 2:
        parser.error("--sizes needs at least the input and output widths")
    return args


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads or cores())
    device = resolve_device(args.device)
    start = time.perf_counter()

    bayesian_torch, bayesian_torch_version = import_bayesian_torch()
    blitz, blitz_version = import_blitz()
    for name, why in (("bayesian-torch", bayesian_torch_version), ("BLiTZ", blitz_version)):
        if why.startswith("missing"):
            print(f"{name} is not importable, so its rows are skipped: {why}")

    contenders = build(args.sizes, bayesian_torch, blitz, device)
    pool = data_pool(args.sizes, args.batch_size, device)
    if args.clock == "process" and device.type != "cpu":
        raise SystemExit("--clock process times CPU runs only (a GPU's work is not this process's)")
    rounds = benchmark(contenders, pool, args.steps, args.repeats, args.warmup, device, args.clock)
    report: dict[str, object] = {
        "machine": machine(device),
        "bayesian_torch": bayesian_torch_version,
        "blitz": blitz_version,
        "settings": {
            "sizes": args.sizes,
            "batch_size": args.batch_size,
            "steps": args.steps,
            "repeats": args.repeats,
            "warmup": args.warmup,
            "clock": args.clock,
            "n_train": N_TRAIN,
            "learning_rate": LEARNING_RATE,
            "posterior_sigma_init": round(softplus(POSTERIOR_RHO_INIT), 5),
            "prior_sigma": PRIOR_SIGMA,
        },
        "records": summarize(contenders, rounds),
        "comparisons": comparisons(rounds),
    }
    report["elapsed_s"] = round(time.perf_counter() - start, 1)

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bnn_step.json").write_text(json.dumps(report, indent=2) + "\n")
    table = markdown(report)
    (args.out / "bnn_step.md").write_text(table)
    print(table, end="")


if __name__ == "__main__":
    main()

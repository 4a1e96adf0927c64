"""Training steps per second of an IWAE: plain PyTorch, ``reparam`` and Pyro, back to back.

The model is the IWAE paper's one-stochastic-layer network (Burda, Grosse & Salakhutdinov
2016): a 784–200–200–50 tanh encoder giving a diagonal Gaussian q(z | x), a standard normal
prior and a 50–200–200–784 tanh decoder giving Bernoulli logits. One training step is the
forward pass of the IWAE bound L_k with k importance samples on a minibatch, the backward
pass and an Adam step (learning rate 1e-3). Four implementations train it, all from the
same initial weights:

- plain: hand-written PyTorch (nn.Linear + tanh layers, z = mu + sigma * eps with eps of
  shape [k, B, 50], log w = log p(x | z) + log N(z; 0, I) - log N(z; mu, sigma) with tensor
  ops, log p(x | z) by ``F.binary_cross_entropy_with_logits``, which is faster and leaner
  than ``x * logits - softplus(logits)``, loss = -(logsumexp(log w, 0) - log k).mean()),
  torch.optim.Adam;
- reparam: ``VAE(784)`` and ``-model.bound(x, objective="iwae", k=k).mean()``,
  torch.optim.Adam;
- pyro Trace_ELBO and pyro RenyiELBO (alpha = 0, the IWAE bound): a model/guide pair over the
  same modules (copies), ``num_particles=k, vectorize_particles=True``, pyro.optim.Adam. For
  k = 1 both are the ELBO; for k > 1 Trace_ELBO is the k-sample ELBO, not L_k. Pyro's loss
  is summed over the batch, not averaged (Adam barely cares about the scale).

For every (k, batch) each implementation is timed with ``torch.utils.benchmark.Timer``
(``blocked_autorange``), the implementations one after the other, in several passes over
the grid; each keeps its least median over the passes, so that a burst of load from
elsewhere on a shared machine spoils a pass rather than a row. Peak memory of training at
k = 50, batch 100 is measured first, for plain and reparam, each in a fresh process (this
script re-invoked with a hidden flag) that trains for a fixed number of steps: its
``ru_maxrss``, and, on Linux, its RSS before the first step and the peak RSS (``VmHWM``,
reset just before the first step) during training; on CUDA also
``torch.cuda.max_memory_allocated``. (Linux's ``ru_maxrss`` of a child also counts the RSS of
the parent that forked it, so the parent spawns the children before it grows.)

Threads: ``--threads`` defaults to the cores this process may use. On a machine where another
process keeps a core busy, pass the number of idle cores: libgomp's spinning threads then make
small steps tens of times slower (or set ``OMP_WAIT_POLICY=passive``).

The data are a random subset of binarized MNIST when ``$REPARAM_DATA`` holds it, else
random Bernoulli(0.5) pixels; the output says which. Pyro is optional (``pip install
pyro-ppl``); without it the Pyro columns are empty and the output says why.

Run from the repository root::

    python benchmarks/iwae_step.py                  # k = 1, 5, 50; batch 20, 100
    python benchmarks/iwae_step.py --quick          # k = 1, 5; batch 20; shorter runs
    python benchmarks/iwae_step.py --device cuda --threads 4 --out DIR
    python benchmarks/iwae_step.py --device cuda --min-run-time 1 --out DIR   # benchmarks/gpu.sh

It writes ``DIR/iwae_step.json`` (one record per k, batch and implementation, with the
machine, the data and the memory measurements) and ``DIR/iwae_step.md`` (a markdown table,
also printed); DIR defaults to ``benchmarks/results``. Timings are reported, never asserted.
"""

from __future__ import annotations

import argparse
import copy
import itertools
import json
import math
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import ModuleType

import torch
import torch.nn.functional as F
from machine_info import cores, machine
from torch import Tensor, nn
from torch.utils.benchmark import Timer

from reparam.data import DATASETS, load
from reparam.models import VAE
from reparam.train.distributed import resolve_device

X_DIM = 784
Z_DIM = 50
HIDDEN = 200
LEARNING_RATE = 1e-3
SUBSET = 5_000  # rows of binarized MNIST kept
SAMPLE_SIZES = (1, 5, 50)
BATCH_SIZES = (20, 100)
QUICK_SAMPLE_SIZES = (1, 5)
QUICK_BATCH_SIZES = (20,)
MIN_RUN_TIME = 4.0  # seconds per implementation and (k, batch), split over the passes
QUICK_MIN_RUN_TIME = 0.5
PASSES = 5
WARMUP_STEPS = 3
MEMORY_K = 50
MEMORY_BATCH = 100
MEMORY_STEPS = 20
LOG_2PI = math.log(2 * math.pi)

VARIANTS = ("plain", "reparam", "pyro Trace_ELBO", "pyro RenyiELBO")

Step = Callable[[], object]


# (a) The hand-written IWAE.


class PlainIWAE(nn.Module):
    """The IWAE paper's one-layer model and its bound L_k, written out in plain PyTorch."""

    def __init__(self) -> None:
        super().__init__()
        self.enc1 = nn.Linear(X_DIM, HIDDEN)
        self.enc2 = nn.Linear(HIDDEN, HIDDEN)
        self.enc_mu = nn.Linear(HIDDEN, Z_DIM)
        self.enc_log_sigma = nn.Linear(HIDDEN, Z_DIM)
        self.dec1 = nn.Linear(Z_DIM, HIDDEN)
        self.dec2 = nn.Linear(HIDDEN, HIDDEN)
        self.dec_out = nn.Linear(HIDDEN, X_DIM)

    def log_weights(self, x: Tensor, k: int) -> Tensor:
        """log w = log p(x | z) + log N(z; 0, I) - log N(z; mu, sigma), shape [k, B]."""
        h = torch.tanh(self.enc2(torch.tanh(self.enc1(x))))
        mu = self.enc_mu(h)
        sigma = torch.exp(self.enc_log_sigma(h))
        eps = torch.randn(k, *mu.shape, dtype=mu.dtype, device=mu.device)
        z = mu + sigma * eps
        logits = self.dec_out(torch.tanh(self.dec2(torch.tanh(self.dec1(z)))))
        log_px = -F.binary_cross_entropy_with_logits(
            logits, x.expand_as(logits), reduction="none"
        ).sum(-1)
        log_pz = -0.5 * (z**2 + LOG_2PI).sum(-1)
        log_qz = -(0.5 * ((z - mu) / sigma) ** 2 + torch.log(sigma) + 0.5 * LOG_2PI).sum(-1)
        return log_px + log_pz - log_qz

    def forward(self, x: Tensor, k: int) -> Tensor:
        """The training loss -mean L_k."""
        return -(torch.logsumexp(self.log_weights(x, k), 0) - math.log(k)).mean()


def layer_pairs(plain: PlainIWAE, vae: VAE) -> list[tuple[nn.Linear, nn.Linear]]:
    """Each linear layer of ``plain`` with its counterpart in ``VAE(784)``."""
    encoder, decoder = vae.encoders[0], vae.decoder
    return [
        (plain.enc1, encoder.body[0]),
        (plain.enc2, encoder.body[2]),
        (plain.enc_mu, encoder.loc),
        (plain.enc_log_sigma, encoder.log_scale),
        (plain.dec1, decoder[0]),
        (plain.dec2, decoder[2]),
        (plain.dec_out, decoder[4]),
    ]


def plain_from(vae: VAE) -> PlainIWAE:
    """A PlainIWAE holding copies of ``vae``'s weights, so both compute the same function."""
    plain = PlainIWAE().to(vae.prior_loc.device)
    for mine, theirs in layer_pairs(plain, vae):
        mine.load_state_dict(theirs.state_dict())
    return plain


def reparam_loss(vae: VAE, x: Tensor, k: int) -> Tensor:
    return -vae.bound(x, objective="iwae", k=k).mean()


# Training steps: each call takes the next minibatch and makes one Adam step.


def torch_step(
    loss: Callable[[Tensor], Tensor], model: nn.Module, batches: Iterator[Tensor]
) -> Step:
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)

    def step() -> Tensor:
        value = loss(next(batches))
        optimizer.zero_grad(set_to_none=True)
        value.backward()
        optimizer.step()
        return value.detach()

    return step


def plain_step(vae: VAE, k: int, batches: Iterator[Tensor]) -> Step:
    plain = plain_from(vae)
    return torch_step(lambda x: plain(x, k), plain, batches)


def reparam_step(vae: VAE, k: int, batches: Iterator[Tensor]) -> Step:
    vae = copy.deepcopy(vae)
    return torch_step(lambda x: reparam_loss(vae, x, k), vae, batches)


# (c) Pyro, over copies of the same encoder and decoder.


def import_pyro() -> tuple[ModuleType | None, str]:
    """Pyro, and its version or why it could not be imported."""
    try:
        import pyro
        import pyro.distributions
        import pyro.infer
        import pyro.optim
    except Exception as error:  # ImportError, or a dependency broken against this torch
        return None, f"missing ({type(error).__name__}: {error})"
    return pyro, pyro.__version__


def pyro_model_guide(
    pyro: ModuleType, vae: VAE, name: str
) -> tuple[Callable[[Tensor], None], Callable[[Tensor], None]]:
    """Model and guide over copies of ``vae``'s decoder and encoder, registered as ``name``."""
    dist = pyro.distributions
    encoder, decoder = copy.deepcopy(vae.encoders[0]), copy.deepcopy(vae.decoder)

    def model(x: Tensor) -> None:
        pyro.module(f"{name}_decoder", decoder)
        with pyro.plate("data", x.shape[0]):
            zeros = x.new_zeros(x.shape[0], Z_DIM)
            z = pyro.sample("z", dist.Normal(zeros, torch.ones_like(zeros)).to_event(1))
            pyro.sample("x", dist.Bernoulli(logits=decoder(z)).to_event(1), obs=x)

    def guide(x: Tensor) -> None:
        pyro.module(f"{name}_encoder", encoder)
        with pyro.plate("data", x.shape[0]):
            loc, scale, _ = encoder(x)
            pyro.sample("z", dist.Normal(loc, scale).to_event(1))

    return model, guide


def pyro_loss(pyro: ModuleType, variant: str, k: int) -> object:
    infer = pyro.infer
    if variant == "pyro Trace_ELBO":
        return infer.Trace_ELBO(num_particles=k, vectorize_particles=True, max_plate_nesting=1)
    return infer.RenyiELBO(alpha=0, num_particles=k, vectorize_particles=True, max_plate_nesting=1)


def pyro_step(
    pyro: ModuleType, variant: str, vae: VAE, k: int, batches: Iterator[Tensor], name: str
) -> Step:
    model, guide = pyro_model_guide(pyro, vae, name)
    optimizer = pyro.optim.Adam({"lr": LEARNING_RATE})
    svi = pyro.infer.SVI(model, guide, optimizer, loss=pyro_loss(pyro, variant, k))
    return lambda: svi.step(next(batches))


# Data.


def load_data(device: torch.device) -> tuple[Tensor, str]:
    """``SUBSET`` random rows of binarized MNIST if ``$REPARAM_DATA`` has it, else random
    Bernoulli(0.5) pixels; and a line saying which."""
    generator = torch.Generator().manual_seed(0)
    folder = os.environ.get("REPARAM_DATA")
    if not folder:
        why = "$REPARAM_DATA not set"
    elif DATASETS["binarized-mnist"].missing("train", Path(folder)):
        why = f"no binarized MNIST training file in $REPARAM_DATA = {folder}"  # never download
    else:
        try:
            train = load("binarized-mnist", "train", folder)
        except (OSError, ValueError) as error:
            why = f"binarized MNIST in {folder} unreadable ({type(error).__name__}: {error})"
        else:
            rows = torch.randperm(train.shape[0], generator=generator)[:SUBSET]
            return train[rows].to(device), f"binarized MNIST, {SUBSET} random training rows"
    data = torch.rand(SUBSET, X_DIM, generator=generator).lt(0.5).float()
    return data.to(device), f"random Bernoulli(0.5) pixels, {SUBSET} rows ({why})"


def minibatches(data: Tensor, batch: int) -> Iterator[Tensor]:
    """Endless minibatches of ``batch`` rows, in a fixed shuffled order."""
    order = torch.randperm(data.shape[0], generator=torch.Generator().manual_seed(1))
    return itertools.cycle(data[order.to(data.device)].split(batch)[: data.shape[0] // batch])


# Checks and timing.


def check_same_function(vae: VAE, data: Tensor, k: int = 5) -> float:
    """Largest relative difference between plain's and reparam's loss and gradients from the
    same weights and the same noise; raises if they are not the same computation."""
    plain, twin = plain_from(vae), copy.deepcopy(vae)
    x = data[:20]
    torch.manual_seed(123)
    plain_loss = plain(x, k)
    plain_loss.backward()
    torch.manual_seed(123)
    twin_loss = reparam_loss(twin, x, k)
    twin_loss.backward()
    pairs = [(plain_loss.detach(), twin_loss.detach())] + [
        (getattr(mine, name).grad, getattr(theirs, name).grad)
        for mine, theirs in layer_pairs(plain, twin)
        for name in ("weight", "bias")
    ]
    worst = max(float((a - b).norm() / b.norm().clamp_min(1e-12)) for a, b in pairs)
    if worst > 1e-3:
        raise RuntimeError(f"plain and reparam disagree (relative difference {worst:.2e}).")
    return worst


def warm_up(step: Step, name: str) -> None:
    for _ in range(WARMUP_STEPS):
        loss = step()
    if not math.isfinite(float(loss)):  # type: ignore[arg-type]
        raise RuntimeError(f"{name} gave a non-finite loss {loss}.")


def median_s(step: Step, min_run_time: float) -> float:
    """Median time of one training step, in seconds."""
    timer = Timer(stmt="step()", globals={"step": step}, num_threads=torch.get_num_threads())
    return timer.blocked_autorange(min_run_time=min_run_time).median


def build_steps(
    vae: VAE, data: Tensor, pyro: ModuleType | None, k: int, batch: int
) -> dict[str, Step]:
    """One warmed-up training step per implementation for this (k, batch)."""
    steps = {
        "plain": plain_step(vae, k, minibatches(data, batch)),
        "reparam": reparam_step(vae, k, minibatches(data, batch)),
    }
    if pyro is not None:
        for variant in VARIANTS[2:]:
            name = f"{variant.split()[1]}_k{k}_b{batch}"
            steps[variant] = pyro_step(pyro, variant, vae, k, minibatches(data, batch), name)
    for name, step in steps.items():
        warm_up(step, f"{name} (k={k}, batch {batch})")
    return steps


def benchmark(
    vae: VAE,
    data: Tensor,
    pyro: ModuleType | None,
    sample_sizes: Sequence[int],
    batch_sizes: Sequence[int],
    min_run_time: float,
) -> list[dict[str, object]]:
    """Time every implementation on every (k, batch) in ``PASSES`` interleaved passes."""
    grid = [(k, batch) for k in sample_sizes for batch in batch_sizes]
    steps = [build_steps(vae, data, pyro, k, batch) for k, batch in grid]
    best = [dict.fromkeys(row, math.inf) for row in steps]
    for _ in range(PASSES):
        for row, times in zip(steps, best, strict=True):
            for name, step in row.items():
                times[name] = min(times[name], median_s(step, min_run_time / PASSES))
    return [
        {
            "k": k,
            "batch": batch,
            "variant": name,
            "steps_per_s": round(1 / seconds, 2),
            "ms_per_step": round(seconds * 1e3, 3),
        }
        for (k, batch), times in zip(grid, best, strict=True)
        for name, seconds in times.items()
    ]


# Peak memory, in fresh processes.


def status_mib(field: str) -> float | None:
    """A memory field of /proc/self/status (``VmRSS``, ``VmHWM``) in MiB; None off Linux."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def reset_peak_rss() -> bool:
    """Reset this process's ``VmHWM`` to its current RSS (Linux ≥ 4.0), if allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def memory_child(variant: str, device: torch.device) -> None:
    """Train ``variant`` for ``MEMORY_STEPS`` steps at k = 50, batch 100; print its peaks.

    ``ru_maxrss`` is the peak of the whole process (on Linux it also counts the parent's RSS
    when it forked us, hence the parent measures memory before it grows); ``VmHWM`` after a
    reset just before the first step is the peak of training alone.
    """
    torch.manual_seed(0)
    vae = VAE(X_DIM).to(device)
    data = torch.rand(MEMORY_STEPS * MEMORY_BATCH, X_DIM, device=device).lt(0.5).float()
    step = (plain_step if variant == "plain" else reparam_step)(
        vae, MEMORY_K, minibatches(data, MEMORY_BATCH)
    )
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    before, reset = status_mib("VmRSS"), reset_peak_rss()
    for _ in range(MEMORY_STEPS):
        step()
    peak = status_mib("VmHWM") if reset else None
    result: dict[str, object] = {
        "variant": variant,
        "ru_maxrss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "rss_before_mib": before,
        "training_peak_rss_mib": peak,
        "growth_mib": round(peak - before, 1) if peak is not None and before is not None else None,
    }
    if device.type == "cuda":
        result["cuda_max_allocated_mib"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    print(json.dumps(result))


def measure_memory(device: torch.device, threads: int) -> list[dict[str, object]]:
    """Peak memory of training plain and reparam, each in a fresh process."""
    results = []
    for variant in ("plain", "reparam"):
        command = [sys.executable, __file__, "--memory-child", variant]
        command += ["--device", device.type, "--threads", str(threads)]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        result = json.loads(done.stdout.strip().splitlines()[-1])
        results.append({**result, "parent_rss_at_start_mib": status_mib("VmRSS")})
    return results


# Output.


def rate(records: Sequence[dict[str, object]], k: int, batch: int, variant: str) -> float | None:
    for r in records:
        if (r["k"], r["batch"], r["variant"]) == (k, batch, variant):
            return float(r["steps_per_s"])  # type: ignore[arg-type]
    return None


def cell(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    return None if numerator is None or denominator is None else numerator / denominator


def table_row(records: Sequence[dict[str, object]], k: int, batch: int) -> str:
    plain, ours = rate(records, k, batch, "plain"), rate(records, k, batch, "reparam")
    trace, renyi = rate(records, k, batch, VARIANTS[2]), rate(records, k, batch, VARIANTS[3])
    return (
        f"| {k} | {batch} | {cell(plain)} | {cell(ours)} | {cell(ratio(plain, ours), 2)} "
        f"| {cell(trace)} | {cell(renyi)} | {cell(ratio(ours, renyi), 2)} |"
    )


def quotient(a: object, b: object) -> str:
    return cell(ratio(a, b), 2) if isinstance(a, float) and isinstance(b, float) else "—"


def memory_lines(memory: Sequence[dict[str, object]]) -> list[str]:
    plain, ours = memory
    lines = [
        f"Peak memory of training, k = {MEMORY_K}, batch {MEMORY_BATCH}, {MEMORY_STEPS} steps, "
        f"each in a fresh process (random data):",
        "",
        *(
            f"- {m['variant']}: peak RSS (ru_maxrss) {m['ru_maxrss_mib']} MiB; RSS before the "
            f"first step {m['rss_before_mib']} MiB, peak during training "
            f"{m['training_peak_rss_mib']} MiB (+{m['growth_mib']} MiB)"
            for m in memory
        ),
        f"- reparam ÷ plain: peak RSS {quotient(ours['ru_maxrss_mib'], plain['ru_maxrss_mib'])}, "
        f"growth during training {quotient(ours['growth_mib'], plain['growth_mib'])}",
    ]
    if "cuda_max_allocated_mib" in plain:
        lines.append(
            f"- torch.cuda.max_memory_allocated: plain {plain['cuda_max_allocated_mib']} MiB, "
            f"reparam {ours['cuda_max_allocated_mib']} MiB, reparam ÷ plain "
            f"{quotient(ours['cuda_max_allocated_mib'], plain['cuda_max_allocated_mib'])}"
        )
    return lines


def markdown(report: dict[str, object]) -> str:
    info: dict[str, object] = report["machine"]  # type: ignore[assignment]
    records: list[dict[str, object]] = report["records"]  # type: ignore[assignment]
    grid = sorted({(int(r["k"]), int(r["batch"])) for r in records})  # type: ignore[call-overload]
    lines = [
        f"IWAE training steps per second (forward, backward, Adam), 784–200–200–50, on "
        f"{info['device']} ({info['device_name']}), torch {info['torch']}, "
        f"{info['threads']} threads, Pyro {report['pyro']}.",
        f"Data: {report['data']}. Best of {PASSES} interleaved passes; "
        f"plain and reparam agree to {report['check_relative_difference']:.1e} (loss and "
        f"gradients, same noise).",
        "",
        "| k | batch | plain steps/s | reparam steps/s | reparam time ÷ plain "
        "| Pyro Trace_ELBO steps/s | Pyro RenyiELBO steps/s | Pyro (RenyiELBO) ÷ reparam time |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
        *(table_row(records, k, batch) for k, batch in grid),
        "",
    ]
    if report.get("memory"):
        lines += memory_lines(report["memory"])  # type: ignore[arg-type]
        lines.append("")
    lines.append(f"Total time: {report['elapsed_s']:.0f} s.")
    return "\n".join(lines) + "\n"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--quick", action="store_true", help="k = 1, 5, batch 20, shorter runs")
    parser.add_argument("--threads", type=int, default=None, help="default: the cores usable")
    parser.add_argument(
        "--min-run-time",
        type=float,
        default=None,
        help=f"seconds per implementation and (k, batch) (default {MIN_RUN_TIME:g}; quick "
        f"{QUICK_MIN_RUN_TIME:g}); a GPU's steady timings need less",
    )
    parser.add_argument("--memory-child", choices=("plain", "reparam"), help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads or cores())
    device = resolve_device(args.device)
    if args.memory_child:
        memory_child(args.memory_child, device)
        return

    start = time.perf_counter()
    memory = measure_memory(device, torch.get_num_threads())  # first, while this process is small
    torch.manual_seed(0)
    vae = VAE(X_DIM).to(device)
    data, data_line = load_data(device)
    pyro, pyro_version = import_pyro()
    agreement = check_same_function(vae, data)
    quick = args.quick
    records = benchmark(
        vae,
        data,
        pyro,
        QUICK_SAMPLE_SIZES if quick else SAMPLE_SIZES,
        QUICK_BATCH_SIZES if quick else BATCH_SIZES,
        args.min_run_time or (QUICK_MIN_RUN_TIME if quick else MIN_RUN_TIME),
    )
    report: dict[str, object] = {
        "machine": machine(device),
        "data": data_line,
        "pyro": pyro_version,
        "check_relative_difference": agreement,
        "records": records,
        "memory": memory,
    }
    report["elapsed_s"] = round(time.perf_counter() - start, 1)

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "iwae_step.json").write_text(json.dumps(report, indent=2) + "\n")
    table = markdown(report)
    (args.out / "iwae_step.md").write_text(table)
    print(table, end="")


if __name__ == "__main__":
    main()

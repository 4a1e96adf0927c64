"""What the benchmarks share: importing a peer, timing contenders in interleaved rounds, and
the command-line types and thread limits (imported by the scripts beside it, which run from
the repository root as ``python benchmarks/NAME.py``).

Timing: every contender is warmed up, then each of ``repeats`` rounds times each once, the
order rotating from round to round so that load from elsewhere falls on all alike; on CUDA
the device is synchronized before each clock reading. A contender's time is its median.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import statistics
import time
from collections.abc import Callable
from importlib.metadata import version
from types import ModuleType

import torch
from torch import Tensor

Contenders = dict[str, tuple[Callable[[], object], torch.device]]


def import_peer(module: str, distribution: str) -> tuple[ModuleType | None, str]:
    """The module, and the distribution's version or why it could not be imported."""
    try:
        imported = __import__(module, fromlist=["_"])
    except Exception as error:  # ImportError, or a dependency broken here
        return None, f"missing ({type(error).__name__}: {error})"
    return imported, version(distribution)


def available(found: str) -> bool:
    return not found.startswith("missing")


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def seconds(run: Callable[[], object], device: torch.device) -> float:
    """Wall time of one call, the device synchronized before both clock readings."""
    synchronize(device)
    start = time.perf_counter()
    run()
    synchronize(device)
    return time.perf_counter() - start


def interleaved(contenders: Contenders, repeats: int, warmup: int = 0) -> dict[str, list[float]]:
    """Seconds per call of each contender in each of ``repeats`` rounds, the order rotating,
    after ``warmup`` untimed calls of each."""
    for run, device in contenders.values():
        for _ in range(warmup):
            run()
        synchronize(device)
    names = list(contenders)
    rounds: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            rounds[name].append(seconds(*contenders[name]))
    return rounds


def timing(rounds: list[float], device: torch.device) -> dict[str, object]:
    """A contender's record: its device, the median, extremes and every round."""
    return {
        "device": device.type,
        "median_s": statistics.median(rounds),
        "min_s": min(rounds),
        "max_s": max(rounds),
        "rounds_s": [round(s, 6) for s in rounds],
    }


def ratio(top: dict[str, object], bottom: dict[str, object]) -> float:
    """The ratio of two records' medians."""
    return top["median_s"] / bottom["median_s"]  # type: ignore[operator]


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be ≥ 1, got {value}")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite positive number, got {text!r}")
    return value


def listed(kind: Callable[[str], object]) -> Callable[[str], list[object]]:
    """An argparse type for a comma-separated list of ``kind``."""

    def parse(text: str) -> list[object]:
        parts = [part.strip() for part in text.split(",") if part.strip()]
        if not parts:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list, got {text!r}")
        return [kind(part) for part in parts]

    return parse


def thread_limits(threads: int) -> contextlib.AbstractContextManager[object]:
    """NumPy's BLAS and OpenMP pools (scikit-learn, hmmlearn, POT) limited to ``threads``."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=threads)


def saved_bytes(forward: Callable[[], Tensor]) -> int:
    """Bytes of the distinct storages autograd saves while ``forward()`` builds its graph."""
    storages: dict[tuple[str, int], int] = {}

    def pack(tensor: Tensor) -> Tensor:
        storage = tensor.untyped_storage()
        storages[(str(tensor.device), storage.data_ptr())] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        loss = forward()
    del loss
    return sum(storages.values())


def peak_cuda_bytes(step: Callable[[], object], device: torch.device) -> int | None:
    """``torch.cuda.max_memory_allocated`` over one call of ``step`` (None off CUDA)."""
    if device.type != "cuda":
        return None
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    step()
    torch.cuda.synchronize(device)
    return torch.cuda.max_memory_allocated(device)

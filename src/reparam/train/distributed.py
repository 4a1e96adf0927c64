"""Devices and torchrun: one process per rank, DistributedDataParallel when there are several."""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass

import torch
import torch.distributed as dist

DEVICE_PATTERN = re.compile(r"auto|cpu|cuda(:\d+)?")


def resolve_device(name: str) -> torch.device:
    """``auto`` → CUDA when present, else CPU; ``cpu``, ``cuda`` or ``cuda:N`` as asked, with a
    ``ValueError`` naming the choices for anything else or a GPU that is not there.

    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if not isinstance(name, str) or not DEVICE_PATTERN.fullmatch(name):
        raise ValueError(f"unknown device {name!r}; choose auto, cpu, cuda or cuda:N")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"device {name} was asked for but torch sees no GPU; use cpu or auto")
        index = int(name.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise ValueError(
                f"device {name} does not exist: torch sees {torch.cuda.device_count()} GPU(s)"
            )
    return torch.device(name)


@dataclass(frozen=True)
class Ranks:
    """This process's place among ``world`` processes started by torchrun (1 without it)."""

    rank: int
    world: int
    device: torch.device

    @property
    def main(self) -> bool:
        return self.rank == 0

    def share(self, order: torch.Tensor, index: int, size: int) -> torch.Tensor:
        """This rank's rows of batch ``index``, the ``size`` rows of ``order`` from
        ``index · size``: every ``world``-th from ``rank``, at most ``size // world`` of them
        (at least one), a last batch shorter than ``world`` repeated so that each rank has a
        row.

        >>> Ranks(1, 2, torch.device("cpu")).share(torch.arange(10), 1, 4).tolist()
        [5, 7]
        >>> Ranks(1, 2, torch.device("cpu")).share(torch.arange(9), 2, 4).tolist()
        [8]
        """
        rows = order[index * size : (index + 1) * size]
        if len(rows) < self.world:
            rows = rows.repeat(math.ceil(self.world / len(rows)))
        return rows[self.rank :: self.world][: max(1, size // self.world)]


def start(device: str) -> Ranks:
    """Join the process group torchrun set up (gloo on CPU, NCCL on CUDA), if any."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    chosen = resolve_device(device)
    if world == 1:
        return Ranks(0, 1, chosen)
    rank = int(os.environ["RANK"])
    if chosen.type == "cuda":
        chosen = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(chosen)
    dist.init_process_group("nccl" if chosen.type == "cuda" else "gloo")
    return Ranks(rank, world, chosen)


def stop(ranks: Ranks) -> None:
    if ranks.world > 1:
        dist.destroy_process_group()

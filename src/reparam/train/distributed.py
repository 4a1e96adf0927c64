"""Devices and torchrun: one process per rank, DistributedDataParallel when there are several."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


def resolve_device(name: str) -> torch.device:
    """``auto`` → CUDA when present, else CPU; anything else as ``torch.device`` reads it."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("CUDA was asked for but torch sees no GPU; use --device cpu or auto.")
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

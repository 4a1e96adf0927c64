"""Runs a trainer under DistributedDataParallel in ``world`` gloo processes on this machine
and returns what each rank ended with, for the tests that check the ranks stay in sync."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import torch
import torch.multiprocessing as mp

from reparam.train import run
from reparam.train.engine import Trainer
from tests.run_helpers import quiet_options


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(
    rank: int, world: int, port: int, trainer: type[Trainer], config: Any, out: str
) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank),
    )
    torch.set_num_threads(1)

    class Recording(trainer):  # type: ignore[valid-type, misc]
        """Saves this rank's weights after the last period."""

        def end_period(self, period: int) -> dict[str, Any]:
            row = super().end_period(period)
            if period == self.periods - 1:
                torch.save(self.model.state_dict(), f"{out}-rank{rank}.pt")
            return row

    result = run(Recording, config, quiet_options(out))
    torch.save(result.history, f"{out}-rank{rank}-history.pt")


def train_in_ranks(
    trainer: type[Trainer], config: Any, out: Path, world: int = 2
) -> list[dict[str, Any]]:
    """Train ``config`` with ``trainer`` in ``world`` processes writing the run folder
    ``out``; the ranks' final weights must be bit-equal (asserted here); rank 0's history is
    returned."""
    mp.spawn(_worker, args=(world, free_port(), trainer, config, str(out)), nprocs=world, join=True)
    states = [torch.load(f"{out}-rank{rank}.pt", weights_only=True) for rank in range(world)]
    for other in states[1:]:
        assert states[0].keys() == other.keys()
        for name, value in states[0].items():
            assert torch.equal(value, other[name]), name
    return torch.load(f"{out}-rank0-history.pt", weights_only=True)

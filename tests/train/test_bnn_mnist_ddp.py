"""BNN-MNIST under DistributedDataParallel: two gloo processes keep identical networks, learn,
and rank 0 alone writes the run folder."""

from __future__ import annotations

import os
import socket
from typing import Any

import torch
import torch.multiprocessing as mp

from reparam.experiments.bnn_mnist import MNISTConfig, MNISTTrainer
from reparam.train import RunOptions, run
from reparam.train.run_folder import read_metrics


class RecordingTrainer(MNISTTrainer):
    """Saves each rank's networks after the last epoch, as ``{prefix}-rank{rank}.pt``."""

    prefix = ""

    def end_period(self, period: int) -> dict[str, Any]:
        row = super().end_period(period)
        if period == self.periods - 1:
            torch.save(self.model.state_dict(), f"{self.prefix}-rank{self.ranks.rank}.pt")
        return row


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank),
    )
    torch.set_num_threads(1)
    config = MNISTConfig(
        dataset="digits",
        hidden=(16,),
        epochs=3,
        batch_size=100,
        samples=2,
        lr=1e-2,
        device="cpu",
    )
    RecordingTrainer.prefix = out
    run(RecordingTrainer, config, RunOptions(out, progress=False, tensorboard=False))


def test_two_processes_stay_in_sync_and_learn(tmp_path) -> None:
    out = str(tmp_path / "ddp")
    mp.spawn(worker, args=(2, free_port(), out), nprocs=2, join=True)
    states = [torch.load(f"{out}-rank{rank}.pt", weights_only=True) for rank in range(2)]
    assert states[0].keys() == states[1].keys()
    for name, value in states[0].items():
        assert torch.equal(value, states[1][name]), name
    rows = read_metrics(tmp_path / "ddp" / "metrics.csv")
    assert [row["epoch"] for row in rows] == [1, 2, 3]
    assert [row["step"] for row in rows] == [15, 30, 45]  # 1437 rows, batches of 100
    for name in ("bbb", "sgd", "dropout"):
        assert rows[-1][f"{name}_train_nll"] < rows[0][f"{name}_train_nll"]
    assert 0 < rows[0]["sgd_train_error"] < 100  # counted over both ranks' shares
    assert (tmp_path / "ddp" / "results.json").exists()

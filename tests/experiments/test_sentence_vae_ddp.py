"""The sentence VAE under DistributedDataParallel: two gloo processes, each on its share of
every batch (word dropout drawn apart), keep identical weights, and rank 0 alone writes."""

from __future__ import annotations

import os
import socket
from typing import Any

import pytest
import torch
import torch.multiprocessing as mp

from reparam.experiments.sentence_vae import SentenceVAETrainer
from reparam.experiments.sentence_vae_config import SentenceVAEConfig
from reparam.train import RunOptions, run
from reparam.train.run_folder import read_metrics


class RecordingTrainer(SentenceVAETrainer):
    """Saves each rank's weights after the last epoch, as ``{prefix}-rank{rank}.pt``."""

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
    config = SentenceVAEConfig(
        subset=40, embedding=8, hidden=8, latent=2, epochs=2, batch_size=20, kl_warmup=2,
        word_dropout=0.3, eval_k=2, device="cpu",
    )  # fmt: skip
    RecordingTrainer.prefix = out
    run(RecordingTrainer, config, RunOptions(out, progress=False, tensorboard=False))


@pytest.mark.slow  # 19 s: two interpreters start and load the corpus
def test_two_processes_stay_in_sync(tmp_path) -> None:
    out = str(tmp_path / "ddp")
    mp.spawn(worker, args=(2, free_port(), out), nprocs=2, join=True)
    states = [torch.load(f"{out}-rank{rank}.pt", weights_only=True) for rank in range(2)]
    assert states[0].keys() == states[1].keys()
    assert all(torch.equal(value, states[1][name]) for name, value in states[0].items())
    rows = read_metrics(tmp_path / "ddp" / "metrics.csv")
    assert [(row["epoch"], row["step"]) for row in rows] == [(1, 2), (2, 4)]
    assert (tmp_path / "ddp" / "samples.txt").exists()

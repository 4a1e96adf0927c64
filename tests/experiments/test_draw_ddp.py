"""DRAW under DistributedDataParallel: two gloo processes, each on its share of every batch,
keep identical weights, and rank 0 alone writes the run folder."""

from __future__ import annotations

from reparam.experiments.draw import DRAWTrainer
from reparam.experiments.draw_config import DRAWConfig
from reparam.train.run_folder import read_metrics
from tests.ddp_harness import train_in_ranks


def test_two_processes_stay_in_sync(tmp_path) -> None:
    config = DRAWConfig(
        dataset="digits", subset=200, epochs=2, batch_size=50, glimpses=2, hidden=8, latent=2,
        read_size=2, write_size=2, device="cpu",
    )  # fmt: skip
    train_in_ranks(DRAWTrainer, config, tmp_path / "ddp")
    rows = read_metrics(tmp_path / "ddp" / "metrics.csv")
    assert [(row["epoch"], row["step"]) for row in rows] == [(1, 4), (2, 8)]
    assert (tmp_path / "ddp" / "canvas.gif").exists()

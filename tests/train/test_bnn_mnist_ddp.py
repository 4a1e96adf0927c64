"""BNN-MNIST under DistributedDataParallel: two gloo processes keep identical networks, learn,
and rank 0 alone writes the run folder."""

from __future__ import annotations

from reparam.experiments.bnn_mnist import MNISTConfig, MNISTTrainer
from reparam.train.run_folder import read_metrics
from tests.ddp_harness import train_in_ranks


def test_two_processes_stay_in_sync_and_learn(tmp_path) -> None:
    config = MNISTConfig(
        dataset="digits",
        hidden=(16,),
        epochs=3,
        batch_size=100,
        samples=2,
        lr=1e-2,
        device="cpu",
    )
    train_in_ranks(MNISTTrainer, config, tmp_path / "ddp")
    rows = read_metrics(tmp_path / "ddp" / "metrics.csv")
    assert [row["epoch"] for row in rows] == [1, 2, 3]
    assert [row["step"] for row in rows] == [15, 30, 45]  # 1437 rows, batches of 100
    for name in ("bbb", "sgd", "dropout"):
        assert rows[-1][f"{name}_train_nll"] < rows[0][f"{name}_train_nll"]
    assert 0 < rows[0]["sgd_train_error"] < 100  # counted over both ranks' shares
    assert (tmp_path / "ddp" / "results.json").exists()

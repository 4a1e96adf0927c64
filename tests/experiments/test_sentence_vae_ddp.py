"""The sentence VAE under DistributedDataParallel: two gloo processes, each on its share of
every batch (word dropout drawn apart), keep identical weights, and rank 0 alone writes."""

from __future__ import annotations

import pytest

from reparam.experiments.sentence_vae import SentenceVAETrainer
from reparam.experiments.sentence_vae_config import SentenceVAEConfig
from reparam.train.run_folder import read_metrics
from tests.ddp_harness import train_in_ranks


@pytest.mark.slow  # 19 s: two interpreters start and load the corpus
def test_two_processes_stay_in_sync(tmp_path) -> None:
    config = SentenceVAEConfig(
        subset=40, embedding=8, hidden=8, latent=2, epochs=2, batch_size=20, kl_warmup=2,
        word_dropout=0.3, eval_k=2, device="cpu",
    )  # fmt: skip
    train_in_ranks(SentenceVAETrainer, config, tmp_path / "ddp")
    rows = read_metrics(tmp_path / "ddp" / "metrics.csv")
    assert [(row["epoch"], row["step"]) for row in rows] == [(1, 2), (2, 4)]
    assert (tmp_path / "ddp" / "samples.txt").exists()

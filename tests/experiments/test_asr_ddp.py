"""The CTC recognizer under DistributedDataParallel: two gloo processes, each on its share of
every batch (its own SpecAugment masks), keep identical weights, and rank 0 alone writes."""

from __future__ import annotations

import pytest

from reparam.data.speech import espeak
from reparam.experiments.asr import ASRTrainer
from reparam.experiments.asr_config import ASRConfig
from reparam.train.run_folder import read_metrics
from tests.ddp_harness import train_in_ranks


@pytest.mark.slow  # 24 s: two interpreters start, build the corpus and compute its features
@pytest.mark.skipif(not espeak.available(), reason=espeak.INSTALL)
def test_two_processes_stay_in_sync(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("REPARAM_SPEECH_CACHE", str(tmp_path / "speech"))
    config = ASRConfig(recipe="asr-small", channels=16, hidden=16, layers=1, batch_size=4,
                       steps=4, eval_every=2, decode_subset=1, device="cpu")  # fmt: skip
    train_in_ranks(ASRTrainer, config, tmp_path / "ddp")
    rows = read_metrics(tmp_path / "ddp" / "metrics.csv")
    assert [(row["period"], row["step"]) for row in rows] == [(1, 2), (2, 4)]
    assert (tmp_path / "ddp" / "evaluation.json").exists()

"""The UCI trainer on the engine: exact resume across both phases, the chosen networks, the
run's weights through load_run, and --resume's refusals."""

from __future__ import annotations

import json
import os
import signal

import pytest
import torch

from reparam.experiments.uci import UCIConfig, UCITrainer
from reparam.runs import load_run
from reparam.train import Interrupted, RunError, run
from reparam.train.checkpoint import load
from reparam.train.run_folder import read_metrics
from tests.cli.console import reparam_many
from tests.run_helpers import quiet_options
from tests.train.uci_fake import linear_set


def config(root, **kw) -> UCIConfig:
    settings = dict(
        epochs=6,
        batch_size=16,
        lr=1e-2,
        prior_sigmas=(0.3, 1.0),
        checkpoints=3,
        samples=4,
        data_dir=str(root),
        device="cpu",
    )
    return UCIConfig("uci:yacht", **{**settings, **kw})


def timeless(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]


def results(out) -> dict:
    saved = json.loads((out / "results.json").read_text())["result"]
    return {k: v for k, v in saved.items() if k != "seconds"}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return linear_set(tmp_path_factory.mktemp("uci"))


def test_a_run_stopped_in_each_phase_resumes_bit_for_bit(tmp_path, data, monkeypatch) -> None:
    straight = run(UCITrainer, config(data), quiet_options(tmp_path / "a"))
    original = UCITrainer.train_step
    count = {"steps": 0, "stop": 0}

    def step_then_ctrl_c(self, period, index):
        original(self, period, index)
        count["steps"] += 1
        if count["steps"] == count["stop"]:
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(UCITrainer, "train_step", step_then_ctrl_c)
    # 6 steps an epoch in the selection phase, 7 in retraining: step 10 is mid-selection,
    # step 36 the selection's last (stopped before its end-of-epoch choice), 50 mid-retraining.
    for stop in (10, 36, 50):
        count["stop"] = stop
        resume = stop != 10
        with pytest.raises(Interrupted):
            run(
                UCITrainer,
                {} if resume else config(data),
                quiet_options(tmp_path / "b", resume=resume),
            )
        assert load(tmp_path / "b" / "checkpoint.pt")["engine"]["step"] == count["steps"] == stop
    monkeypatch.setattr(UCITrainer, "train_step", original)
    resumed = run(UCITrainer, {}, quiet_options(tmp_path / "b", resume=True))
    assert timeless(resumed.history) == timeless(straight.history)
    csv_a, csv_b = (read_metrics(tmp_path / name / "metrics.csv") for name in "ab")
    assert len(csv_b) == 12 and timeless(csv_a) == timeless(csv_b)
    a, b = (load(tmp_path / name / "checkpoint.pt")["model"] for name in "ab")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert results(tmp_path / "a") == results(tmp_path / "b")


def test_the_chosen_networks_are_the_retrained_ones_at_the_chosen_epoch(tmp_path, data) -> None:
    result = run(UCITrainer, config(data, epochs=4, checkpoints=2), quiet_options(tmp_path / "run"))
    loaded = load_run(tmp_path / "run")
    assert loaded.weights == "last" and not (tmp_path / "run" / "best.pt").exists()
    chosen, final = loaded.model["chosen"], loaded.model["final"]
    saved = results(tmp_path / "run")
    assert chosen.epoch.tolist() == saved["epochs"] and set(saved["epochs"]) <= {2, 4}
    assert chosen.prior_sigma.tolist() == pytest.approx(saved["prior_sigma"])
    for split, epoch in enumerate(saved["epochs"]):
        same = all(
            torch.equal(p[split], q[split])
            for p, q in zip(chosen.net.parameters(), final.parameters(), strict=True)
        )
        assert same == (epoch == 4)
    rows = [r for r in result.history if r["phase"] == "select"]
    assert [r["phase_epoch"] for r in rows] == [1, 2, 3, 4]
    assert [("valid_ll" in r) for r in rows] == [False, True, False, True]
    with torch.no_grad():
        draws = chosen(torch.randn(5, 3, dtype=torch.float32))
    assert draws.shape == (2, 5) and torch.isfinite(draws).all()


def test_resume_refuses_another_epoch_count_and_other_settings(tmp_path, data) -> None:
    run(UCITrainer, config(data, epochs=2, checkpoints=1), quiet_options(tmp_path / "run"))
    with pytest.raises(RunError, match=r"--epochs 5 \(the run has 2\)"):
        run(UCITrainer, {"epochs": 5}, quiet_options(tmp_path / "run", resume=True))
    with pytest.raises(RunError, match=r"--lr 0.5 \(the run has 0.01\)"):
        run(UCITrainer, {"lr": 0.5}, quiet_options(tmp_path / "run", resume=True))
    finished = run(UCITrainer, {"epochs": 2}, quiet_options(tmp_path / "run", resume=True))
    assert len(finished.history) == 4


def test_repro_uci_writes_the_table_and_resumes_finished_sets(tmp_path, data) -> None:
    args = ["repro", "uci", "--datasets", "yacht", "--splits", "2", "--epochs", "2"]
    args += ["--samples", "2", "--data-dir", str(data), "--device", "cpu", "--out", str(tmp_path)]
    first, again = reparam_many([args, [*args, "--resume"]])
    assert first.status == 0, first.stderr
    table = (tmp_path / "uci.md").read_text()
    assert "| yacht | 2 |" in table and "yacht, 2 splits: test RMSE" in first.stdout
    assert json.loads((tmp_path / "yacht" / "config.json").read_text())["trainer"] == "bnn-uci"
    assert again.status == 0, again.stderr
    assert (tmp_path / "uci.md").read_text() == table

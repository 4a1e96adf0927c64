"""The CTC demo on the run engine: it learns, a resumed run equals a straight one bit for bit
(at a period's end, after Ctrl-C in the middle of one, and through the console script), and
the run loads back and exports."""

from __future__ import annotations

import os
import signal

import pytest
import torch

from reparam.experiments.ctc_demo import (
    CTCDemoConfig,
    CTCDemoTrainer,
    label_error_rate,
    toy_ctc_batch,
)
from reparam.runs import load_run
from reparam.train import Interrupted, run
from reparam.train.run_folder import read_metrics
from tests.cli.console import reparam_many
from tests.run_helpers import assert_same_weights, quiet_options, strip_time

SMALL = {"steps": 12, "eval_every": 4, "valid_size": 20, "batch_size": 8, "hidden": 8}


def test_the_toy_task_and_the_error_rate() -> None:
    x, targets, lengths = toy_ctc_batch(5, 3, torch.Generator().manual_seed(1), noise=0.0)
    assert x.shape[1:] == (5, 4) and int(lengths.max()) == x.shape[0]
    for i, target in enumerate(targets):
        frames = x[: lengths[i], i].argmax(1).tolist()  # noise 0: the frames are the path
        collapsed = [k for j, k in enumerate(frames) if k and (j == 0 or frames[j - 1] != k)]
        assert collapsed == target and 2 <= len(target) <= 5
    assert label_error_rate([[1, 2, 3], [1]], [[1, 2, 3], [2, 2]]) == pytest.approx(2 / 5)
    assert label_error_rate([[]], [[1, 2]]) == 1.0


def test_it_learns_and_keeps_the_best_period(tmp_path) -> None:
    config = CTCDemoConfig(steps=80, eval_every=40, seed=1, valid_size=100)
    result = run(CTCDemoTrainer, config, quiet_options(tmp_path / "run"))
    first, last = result.history
    assert last["train_loss"] < 0.5 * first["train_loss"]
    assert last["valid_ler"] < 0.15 and last["valid_neg_ler"] == -last["valid_ler"]
    assert (tmp_path / "run" / "ctc-alignment.png").stat().st_size > 1000
    best = torch.load(tmp_path / "run" / "best.pt", weights_only=True)
    assert best["period"] == max(result.history, key=lambda r: r["valid_neg_ler"])["period"]


def test_resume_equals_a_straight_run(tmp_path) -> None:
    straight = run(CTCDemoTrainer, SMALL, quiet_options(tmp_path / "a"))
    run(CTCDemoTrainer, {**SMALL, "steps": 4}, quiet_options(tmp_path / "b"))
    resumed = run(CTCDemoTrainer, {"steps": 12}, quiet_options(tmp_path / "b", resume=True))
    assert [row["step"] for row in resumed.history] == [4, 8, 12]
    assert strip_time(resumed.history) == strip_time(straight.history)
    assert_same_weights(tmp_path / "a", tmp_path / "b")
    assert resumed.config.steps == 12


def test_ctrl_c_mid_period_resumes_exactly(tmp_path, monkeypatch) -> None:
    straight = run(CTCDemoTrainer, SMALL, quiet_options(tmp_path / "a"))
    original, calls = CTCDemoTrainer.train_step, {"n": 0}

    def press_ctrl_c_at_step_6(self, period, index):
        original(self, period, index)
        calls["n"] += 1
        if calls["n"] == 6:
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(CTCDemoTrainer, "train_step", press_ctrl_c_at_step_6)
    with pytest.raises(Interrupted, match="period 2, step 6"):
        run(CTCDemoTrainer, SMALL, quiet_options(tmp_path / "b"))
    monkeypatch.setattr(CTCDemoTrainer, "train_step", original)
    resumed = run(CTCDemoTrainer, {}, quiet_options(tmp_path / "b", resume=True))
    assert strip_time(resumed.history) == strip_time(straight.history)
    assert_same_weights(tmp_path / "a", tmp_path / "b")


def test_resume_through_the_console_script(tmp_path) -> None:
    settings = {"eval_every": 3, "valid_size": 10, "batch_size": 4, "hidden": 4}
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in settings.items()]
    # Both runs in console-script processes: one thread each (the test process may use more,
    # and float sums differ in their last bits with the thread count).
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    straight, first, again = reparam_many(
        [["fit", "ctc-demo", "--steps", "6", *flags, "--out", a],
         ["fit", "ctc-demo", "--steps", "3", *flags, "--out", b],
         ["fit", "ctc-demo", "--steps", "6", "--out", b, "--resume"]]
    )  # fmt: skip
    assert straight.status == 0, straight.stderr[-2000:]
    assert first.status == 0, first.stderr[-2000:]
    assert "held-out label error rate" in first.stdout
    assert again.status == 0, again.stderr[-2000:]
    rows = read_metrics(tmp_path / "b" / "metrics.csv")
    assert [row["step"] for row in rows] == [3, 6]
    assert strip_time(rows) == strip_time(read_metrics(tmp_path / "a" / "metrics.csv"))
    assert_same_weights(tmp_path / "a", tmp_path / "b")


def test_the_run_loads_back_and_exports(tmp_path) -> None:
    out = tmp_path / "run"
    run(CTCDemoTrainer, SMALL, quiet_options(out))
    loaded = load_run(out)
    assert loaded.trainer == "ctc-demo" and loaded.weights == "best"
    assert set(loaded.pictures) == {"ctc-alignment"} and len(loaded.metrics) == 3
    x, _, _ = toy_ctc_batch(2, 4, torch.Generator().manual_seed(0))
    with torch.no_grad():
        log_probs = loaded.model(x)
    assert log_probs.shape == x.shape
    torch.testing.assert_close(log_probs.exp().sum(-1), torch.ones(x.shape[:2]))
    with pytest.raises(ValueError, match="not a generative model"):
        loaded.sample(4)
    network, example = CTCDemoTrainer.exportable(loaded.model, loaded.config)
    program = torch.export.export(network, example)
    torch.testing.assert_close(program.module()(*example), network(*example))


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"steps": 0}, "--steps must be > 0"),
        ({"steps": 30}, "multiple of --eval-every 50"),
        ({"eval_every": -1}, "--eval-every must be > 0"),
        ({"noise": float("nan")}, "--noise must be a finite number"),
        ({"lr": 0.0}, "--lr must be > 0"),
        ({"labels": 2.5}, "--labels must be a whole number"),
    ],
)
def test_bad_settings_name_the_option(settings, message) -> None:
    with pytest.raises(ValueError, match=message):
        CTCDemoConfig(**settings)

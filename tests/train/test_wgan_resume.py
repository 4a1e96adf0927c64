"""WGAN --resume: bit for bit the run that did not stop (both optimizers, the data generator,
the period's critic statistics), at a period's end, mid-period and after a SIGKILL."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time

import pytest
import torch

from reparam.experiments.wgan import WGANTrainer
from reparam.experiments.wgan_config import WGANConfig
from reparam.train import RunOptions, run
from reparam.train.checkpoint import load
from reparam.train.run_folder import read_metrics
from tests.cli.console import reparam, reparam_many
from tests.run_helpers import strip_time

TINY = ["--batch-size", "16", "--critic-steps", "2", "--hidden", "16", "--eval-points", "32"]
SMALL = {"batch_size": 16, "critic_steps": 2, "hidden": 16, "eval_points": 32, "device": "cpu"}


def assert_same_run(a, b) -> None:
    assert strip_time(read_metrics(a / "metrics.csv")) == strip_time(
        read_metrics(b / "metrics.csv")
    )
    first, second = load(a / "checkpoint.pt"), load(b / "checkpoint.pt")
    for name, tensor in first["model"].items():
        assert torch.equal(tensor, second["model"][name]), name
    for name in ("critic_optimizer", "generator_optimizer"):
        for key, value in first["trainer"][name]["state"].items():
            for field, tensor in value.items():
                assert torch.equal(torch.as_tensor(tensor), torch.as_tensor(
                    second["trainer"][name]["state"][key][field]))  # fmt: skip
    assert torch.equal(first["trainer"]["data_rng"], second["trainer"]["data_rng"])


@pytest.mark.parametrize("lipschitz", ["clip", "gp"])
def test_resumed_through_the_console_script_equals_a_straight_run(tmp_path, lipschitz) -> None:
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    config = {**SMALL, "lipschitz": lipschitz, "log_every": 4, "steps": 12}
    run(WGANTrainer, config, RunOptions(straight, progress=False, tensorboard=False))
    common = ["train", "wgan", "--lipschitz", lipschitz, "--log-every", "4", *TINY]
    outcomes = reparam_many(
        [[*common, "--steps", steps, "--out", str(resumed), *more]
         for steps, more in (("8", ["--device", "cpu"]), ("12", ["--resume"]))]
    )  # fmt: skip
    for outcome in outcomes:
        assert outcome.status == 0, outcome.stderr
    assert [r["step"] for r in read_metrics(resumed / "metrics.csv")] == [1, 4, 8, 12]
    assert_same_run(straight, resumed)
    saved = json.loads((resumed / "config.json").read_text())
    assert saved["steps"] == 12 and saved["device"] == "cpu"


def test_a_run_stopped_between_rows_keeps_its_last_row_and_the_same_steps(tmp_path) -> None:
    options = {"progress": False, "tensorboard": False}
    config = {**SMALL, "log_every": 4}
    run(WGANTrainer, {**config, "steps": 12}, RunOptions(tmp_path / "a", **options))
    run(WGANTrainer, {**config, "steps": 6}, RunOptions(tmp_path / "b", **options))
    run(WGANTrainer, {"steps": 12}, RunOptions(tmp_path / "b", resume=True, **options))
    rows = {r["step"]: r for r in read_metrics(tmp_path / "b" / "metrics.csv")}
    assert sorted(rows) == [1, 4, 6, 8, 12]  # the stop at 6 is a row of its own
    straight = {r["step"]: r for r in read_metrics(tmp_path / "a" / "metrics.csv")}
    for step in (1, 4, 8, 12):  # the metrics draw nothing from the training's generators
        for name in ("critic_w1", "lipschitz", "exact_w1"):
            assert rows[step][name] == straight[step][name]
    first, second = load(tmp_path / "a" / "checkpoint.pt"), load(tmp_path / "b" / "checkpoint.pt")
    for name, tensor in first["model"].items():
        assert torch.equal(tensor, second["model"][name]), name


@pytest.mark.parametrize("lipschitz", ["clip", "gp"])
def test_resume_at_a_period_end_and_mid_period_equals_a_straight_run(tmp_path, lipschitz):
    config = {**SMALL, "lipschitz": lipschitz, "log_every": 5}
    options = {"progress": False, "tensorboard": False}
    run(WGANTrainer, {**config, "steps": 15}, RunOptions(tmp_path / "a", **options))
    run(WGANTrainer, {**config, "steps": 10}, RunOptions(tmp_path / "b", **options))
    run(WGANTrainer, {"steps": 15}, RunOptions(tmp_path / "b", resume=True, **options))
    assert_same_run(tmp_path / "a", tmp_path / "b")

    calls = {"n": 0}
    original = WGANTrainer.train_step

    def crash_at_step_8(self, period, index):  # checkpoints at 3 and 6: mid-period (5, 10]
        calls["n"] += 1
        if calls["n"] == 8:
            raise RuntimeError("power cut")
        original(self, period, index)

    WGANTrainer.train_step = crash_at_step_8  # type: ignore[method-assign]
    try:
        with pytest.raises(RuntimeError, match="power cut"):
            run(WGANTrainer, {**config, "steps": 15},
                RunOptions(tmp_path / "c", checkpoint_every=3, **options))  # fmt: skip
    finally:
        WGANTrainer.train_step = original  # type: ignore[method-assign]
    saved = load(tmp_path / "c" / "checkpoint.pt")
    assert saved["engine"]["step"] == 6 and saved["engine"]["index"] == 1
    assert saved["trainer"]["window"][2] == 2  # the period's critic steps so far: 1 x 2
    run(WGANTrainer, {}, RunOptions(tmp_path / "c", resume=True, **options))
    assert_same_run(tmp_path / "a", tmp_path / "c")


def test_sigkill_mid_period_through_the_console_script_then_resume(tmp_path) -> None:
    common = ["train", "wgan", "--lipschitz", "gp", "--steps", "40", "--log-every", "10",
              *TINY, "--device", "cpu"]  # fmt: skip
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    assert reparam(*common, "--out", str(straight)).status == 0
    command = ["reparam", *common, "--out", str(killed), "--checkpoint-every", "3"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (killed / "checkpoint.pt").exists() and time.time() < deadline:
        time.sleep(0.01)
    time.sleep(random.Random(os.getpid()).uniform(0.0, 0.5))
    process.send_signal(signal.SIGKILL)
    process.wait()
    outcome = reparam(*common, "--out", str(killed), "--resume")
    assert outcome.status == 0, outcome.stderr
    assert_same_run(straight, killed)


def test_resume_refuses_fewer_steps_than_done_and_a_conflicting_option(tmp_path) -> None:
    out = tmp_path / "run"
    options = RunOptions(out, progress=False, tensorboard=False)
    run(WGANTrainer, {**SMALL, "steps": 4}, options)
    resume = RunOptions(out, resume=True, progress=False, tensorboard=False)
    with pytest.raises(ValueError, match="--steps 2 is fewer than the 4 steps"):
        run(WGANTrainer, {"steps": 2}, resume)
    with pytest.raises(ValueError, match=r"--lipschitz gp \(the run has clip\)"):
        run(WGANTrainer, {"steps": 6, "lipschitz": "gp"}, resume)
    result = run(WGANTrainer, {"steps": 6, "lr": 5e-5, "device": "cpu"}, resume)
    assert result.config == WGANConfig(**SMALL, steps=6, log_every=4).for_data(
        examples=0, dim=2, images=False
    )

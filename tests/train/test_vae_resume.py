"""Exact resume of VAE-family runs, bit for bit on CPU: stopped at an epoch's end, killed in the
middle of an epoch after a ``--checkpoint-every`` checkpoint, and SIGKILLed at a random moment
through the console script. Two cases: the IWAE, and the categorical VAE whose ``auto``
estimator at k = 1 is a score function with a moving-average baseline that the run owns."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch

from reparam.experiments.vae import CategoricalVAETrainer, IWAETrainer, LatentTrainer
from reparam.train import run
from reparam.train.checkpoint import load
from reparam.train.run_folder import read_metrics
from tests.run_helpers import assert_same_weights, quiet_options, strip_time

SMALL = {"epochs": 3, "subset": 300, "batch_size": 50, "device": "cpu"}  # 6 steps an epoch
CASES = {
    "iwae": (IWAETrainer, SMALL),
    "cat-vae-auto-k1": (CategoricalVAETrainer, {**SMALL, "k": 1, "estimator": "auto"}),
}


class Crash(Exception):
    """Stands for a kill: the run stops between two checkpoints."""


def crash_at(monkeypatch, step: int) -> None:
    original, calls = LatentTrainer.train_step, {"n": 0}

    def train_step(self, period: int, index: int) -> None:
        calls["n"] += 1
        if calls["n"] == step:
            raise Crash
        original(self, period, index)

    monkeypatch.setattr(LatentTrainer, "train_step", train_step)


@pytest.mark.parametrize("case", CASES)
def test_resumed_after_an_epoch_equals_a_straight_run(tmp_path, case: str) -> None:
    trainer, values = CASES[case]
    straight = run(trainer, values, quiet_options(tmp_path / "a"))
    run(trainer, {**values, "epochs": 1}, quiet_options(tmp_path / "b"))
    resumed = run(trainer, {"epochs": 3}, quiet_options(tmp_path / "b", resume=True))
    assert strip_time(resumed.history) == strip_time(straight.history)
    assert strip_time(read_metrics(tmp_path / "b" / "metrics.csv")) == strip_time(straight.history)
    assert_same_weights(tmp_path / "a", tmp_path / "b")
    assert json.loads((tmp_path / "b" / "config.json").read_text())["epochs"] == 3


@pytest.mark.parametrize("case", CASES)
def test_killed_mid_epoch_resumes_from_its_checkpoint_every(tmp_path, monkeypatch, case) -> None:
    trainer, values = CASES[case]
    straight = run(trainer, values, quiet_options(tmp_path / "a"))
    crash_at(monkeypatch, 11)  # the last checkpoint: step 8, two steps into epoch 2
    with pytest.raises(Crash):
        run(trainer, values, quiet_options(tmp_path / "b", checkpoint_every=4))
    monkeypatch.undo()
    engine = load(tmp_path / "b" / "checkpoint.pt")["engine"]
    assert (engine["step"], engine["period"], engine["index"]) == (8, 1, 2)
    assert len(read_metrics(tmp_path / "b" / "metrics.csv")) == 1
    resumed = run(trainer, {}, quiet_options(tmp_path / "b", resume=True))
    assert strip_time(resumed.history) == strip_time(straight.history)
    assert_same_weights(tmp_path / "a", tmp_path / "b")


def test_the_moving_average_lives_in_the_model_and_its_checkpoint(tmp_path) -> None:
    trainer, values = CASES["cat-vae-auto-k1"]
    straight = run(trainer, values, quiet_options(tmp_path / "a"))
    saved = load(tmp_path / "a" / "checkpoint.pt")
    assert int(saved["model"]["estimator.baseline.steps"]) == 18  # one update a step
    assert torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=True)  # no pickled objects
    run(trainer, {**values, "epochs": 1}, quiet_options(tmp_path / "b"))
    checkpoint = load(tmp_path / "b" / "checkpoint.pt")
    checkpoint["model"]["estimator.baseline.average"].zero_()  # a baseline lost on resume
    checkpoint["model"]["estimator.baseline.steps"].zero_()
    torch.save(checkpoint, tmp_path / "b" / "checkpoint.pt")
    resumed = run(trainer, {}, quiet_options(tmp_path / "b", resume=True))
    assert strip_time(resumed.history)[1:] != strip_time(straight.history)[1:]


def reparam_script() -> list[str]:
    script = shutil.which("reparam")
    return [script] if script else [sys.executable, "-m", "reparam"]


def test_sigkill_through_the_console_script_then_resume(tmp_path) -> None:
    """A real `reparam train iwae`, killed at a random moment after its first checkpoint
    (`--checkpoint-every 4`: mid-epoch ones too), then `--resume`d with no other option,
    ends as a straight run does (run here with the console's one thread)."""
    values = {"epochs": 3, "subset": 300, "batch_size": 20, "k": 2, "device": "cpu"}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run(IWAETrainer, values, quiet_options(tmp_path / "a"))
    finally:
        torch.set_num_threads(threads)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = tmp_path / "b"
    args = [f"--{k.replace('_', '-')}={v}" for k, v in values.items()]
    command = [*reparam_script(), "train", "iwae", *args, "--out", str(out)]
    process = subprocess.Popen(
        [*command, "--checkpoint-every", "4"], env=env, stdout=subprocess.DEVNULL
    )
    deadline = time.time() + 120
    while not (out / "checkpoint.pt").exists() and time.time() < deadline:
        time.sleep(0.01)
    time.sleep(random.Random(os.getpid()).uniform(0.0, 0.5))
    process.send_signal(signal.SIGKILL)
    process.wait()
    resume = [*reparam_script(), "train", "iwae", "--out", str(out), "--resume"]
    subprocess.run(resume, env=env, check=True, stdout=subprocess.DEVNULL)
    rows = read_metrics(out / "metrics.csv")
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert strip_time(rows) == strip_time(read_metrics(tmp_path / "a" / "metrics.csv"))
    assert_same_weights(tmp_path / "a", out)

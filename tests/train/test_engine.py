"""The run engine: folders, locks, checkpoints, exact resume, SIGKILL, Ctrl-C."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from reparam.train import Interrupted, RunError, RunOptions, run
from reparam.train.checkpoint import load
from reparam.train.run_folder import RunFolder, read_metrics
from tests.run_helpers import quiet_options, strip_time
from tests.train.toy_trainer import ToyConfig, ToyTrainer

HERE = Path(__file__).parent


def final_weights(out: Path) -> dict:
    return load(out / "checkpoint.pt")["model"]


def test_run_writes_folder_and_checkpoint_loads_weights_only(tmp_path) -> None:
    result = run(ToyTrainer, ToyConfig(epochs=3), quiet_options(tmp_path / "run"))
    names = sorted(p.name for p in (tmp_path / "run").iterdir())
    assert names == ["best.pt", "checkpoint.pt", "config.json", "metrics.csv", "picture.txt"]
    saved = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert saved["engine"]["period"] == 3 and len(saved["engine"]["history"]) == 3
    rows = read_metrics(tmp_path / "run" / "metrics.csv")
    assert strip_time(rows) == strip_time(result.history)
    best = max(result.history, key=lambda r: r["valid"])
    assert torch.load(tmp_path / "run" / "best.pt", weights_only=True)["epoch"] == best["epoch"]


def test_resume_equals_a_straight_run(tmp_path) -> None:
    straight = run(ToyTrainer, ToyConfig(epochs=4), quiet_options(tmp_path / "a"))
    run(ToyTrainer, ToyConfig(epochs=2), quiet_options(tmp_path / "b"))
    resumed = run(ToyTrainer, {"epochs": 4}, quiet_options(tmp_path / "b", resume=True))
    assert strip_time(resumed.history) == strip_time(straight.history)
    for name, tensor in final_weights(tmp_path / "a").items():
        assert torch.equal(tensor, final_weights(tmp_path / "b")[name])
    config = RunFolder(tmp_path / "b").read_config()
    assert config["epochs"] == 4 and config["trainer"] == "toy"


def test_ctrl_c_checkpoints_mid_period_and_resumes_exactly(tmp_path, monkeypatch) -> None:
    straight = run(ToyTrainer, ToyConfig(epochs=3), quiet_options(tmp_path / "a"))
    calls = {"n": 0}
    original = ToyTrainer.train_step

    def press_ctrl_c_at_step_8(self, period, index):
        original(self, period, index)
        calls["n"] += 1
        if calls["n"] == 8:
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(ToyTrainer, "train_step", press_ctrl_c_at_step_8)
    with pytest.raises(Interrupted, match="epoch 2, step 8"):
        run(ToyTrainer, ToyConfig(epochs=3), quiet_options(tmp_path / "b"))
    monkeypatch.setattr(ToyTrainer, "train_step", original)
    assert load(tmp_path / "b" / "checkpoint.pt")["engine"]["step"] == 8
    resumed = run(ToyTrainer, {}, quiet_options(tmp_path / "b", resume=True))
    assert strip_time(resumed.history) == strip_time(straight.history)


def test_sigkill_at_a_random_moment_loses_and_duplicates_nothing(tmp_path) -> None:
    straight = run(ToyTrainer, {"epochs": 5, "sleep": 0.02}, quiet_options(tmp_path / "a"))
    out = tmp_path / "b"
    env = {**os.environ, "PYTHONPATH": str(HERE.parents[1])}
    command = [sys.executable, str(HERE / "toy_trainer.py"), str(out), "5"]
    process = subprocess.Popen(command, env=env)
    deadline = time.time() + 60
    while not (out / "checkpoint.pt").exists() and time.time() < deadline:
        time.sleep(0.01)
    time.sleep(random.Random(os.getpid()).uniform(0.0, 0.4))
    process.send_signal(signal.SIGKILL)
    process.wait()
    subprocess.run([*command, "--resume"], env=env, check=True)
    rows = read_metrics(out / "metrics.csv")
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4, 5]
    assert strip_time(rows) == strip_time(read_metrics(tmp_path / "a" / "metrics.csv"))
    assert strip_time(rows) == strip_time(straight.history)
    for name, tensor in final_weights(tmp_path / "a").items():
        assert torch.equal(tensor, final_weights(out)[name])


def test_an_existing_run_is_refused_then_overwritten_on_request(tmp_path) -> None:
    out = tmp_path / "run"
    run(ToyTrainer, ToyConfig(epochs=1), quiet_options(out))
    (out / "notes.txt").write_text("mine")
    (out / "model.pt2").write_text("an export of the old run")
    with pytest.raises(RunError, match=r"--resume .* --overwrite"):
        run(ToyTrainer, ToyConfig(epochs=1), quiet_options(out))
    run(ToyTrainer, ToyConfig(epochs=2), quiet_options(out, overwrite=True))
    assert len(read_metrics(out / "metrics.csv")) == 2
    assert not (out / "model.pt2").exists()
    assert (out / "notes.txt").read_text() == "mine"  # not a run file: left alone


def test_resume_refuses_conflicting_options_naming_them(tmp_path) -> None:
    out = tmp_path / "run"
    run(ToyTrainer, ToyConfig(epochs=1), quiet_options(out))
    with pytest.raises(RunError, match=r"--lr 0.1 \(the run has 0.05\); --seed 3"):
        run(ToyTrainer, {"epochs": 2, "lr": 0.1, "seed": 3}, quiet_options(out, resume=True))
    run(ToyTrainer, {"epochs": 2, "lr": 0.05}, quiet_options(out, resume=True))  # same value: fine


def test_resume_needs_a_checkpoint_and_a_readable_one(tmp_path) -> None:
    with pytest.raises(RunError, match="holds no checkpoint"):
        run(ToyTrainer, {}, quiet_options(tmp_path / "empty", resume=True))
    out = tmp_path / "run"
    run(ToyTrainer, ToyConfig(epochs=1), quiet_options(out))
    (out / "checkpoint.pt").write_bytes(b"")
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        run(ToyTrainer, {"epochs": 2}, quiet_options(out, resume=True))
    (out / "checkpoint.pt").write_bytes(b"garbage" * 100)
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        run(ToyTrainer, {"epochs": 2}, quiet_options(out, resume=True))


def test_a_second_writer_is_refused_naming_the_pid(tmp_path) -> None:
    folder = RunFolder(tmp_path / "run")
    folder.acquire(resume=False, overwrite=False)
    try:
        code = (
            "from reparam.train.run_folder import RunFolder, RunError\n"
            f"try:\n RunFolder({str(tmp_path / 'run')!r}).acquire(resume=False, overwrite=False)\n"
            "except RunError as e:\n print(e)\n"
        )
        message = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout
        assert f"process {os.getpid()}" in message
    finally:
        folder.release()
    folder.acquire(resume=False, overwrite=False)  # free again once released
    folder.release()


def test_unwritable_folder_is_one_clear_error(tmp_path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(RunError, match=r"a file is in the way|cannot"):
        run(ToyTrainer, ToyConfig(epochs=1), quiet_options(tmp_path / "file" / "run"))
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(RunError, match="cannot write"):
            run(ToyTrainer, ToyConfig(epochs=1), quiet_options(locked / "run"))


def test_checkpoint_every_saves_mid_period(tmp_path) -> None:
    out = tmp_path / "run"
    seen = []
    original = ToyTrainer.train_step

    def spy(self, period, index):
        original(self, period, index)
        if (out / "checkpoint.pt").exists():
            seen.append(load(out / "checkpoint.pt")["engine"]["step"])

    ToyTrainer.train_step = spy
    try:
        run(ToyTrainer, ToyConfig(epochs=1), quiet_options(out, checkpoint_every=2))
    finally:
        ToyTrainer.train_step = original
    assert 2 in seen and 4 in seen


def test_tensorboard_scalars_when_installed(tmp_path) -> None:
    pytest.importorskip("torch.utils.tensorboard")
    out = tmp_path / "run"
    run(ToyTrainer, ToyConfig(epochs=1), RunOptions(out, progress=False))
    assert list(out.glob("events.out.tfevents.*"))


def test_a_trainer_that_fails_to_start_leaves_no_empty_folder(tmp_path, monkeypatch) -> None:
    def refuse(self, config, ranks):
        raise ValueError("--dataset: bad data")

    monkeypatch.setattr(ToyTrainer, "__init__", refuse)
    with pytest.raises(ValueError, match="bad data"):
        run(ToyTrainer, ToyConfig(epochs=1), quiet_options(tmp_path / "new" / "run"))
    assert not (tmp_path / "new" / "run").exists()


def test_resume_cannot_shorten_a_run(tmp_path) -> None:
    run(ToyTrainer, ToyConfig(epochs=3), quiet_options(tmp_path / "run"))
    with pytest.raises(RunError, match="cannot shorten"):
        run(ToyTrainer, {"epochs": 2}, quiet_options(tmp_path / "run", resume=True))

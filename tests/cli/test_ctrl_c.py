"""Ctrl-C on a real training command: a checkpoint, the command that resumes, exit 130."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from reparam.train.run_folder import read_metrics


def test_ctrl_c_prints_the_resume_command_and_the_resume_finishes(tmp_path) -> None:
    out = tmp_path / "run"
    command = [sys.executable, "-m", "reparam", "train", "iwae", "--epochs", "400", "--k", "1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(
        [*command, "--out", str(out), "--device", "cpu"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 120
    while not (out / "checkpoint.pt").exists() and time.time() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr[-2000:]
    assert f"Resume with: reparam train iwae --out {out} --resume" in stderr
    assert "Traceback" not in stderr
    done = len(read_metrics(out / "metrics.csv"))
    assert 1 <= done < 400
    resumed = subprocess.run(
        [*command[:6], str(done + 1), "--out", str(out), "--resume"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert [row["epoch"] for row in read_metrics(out / "metrics.csv")] == list(range(1, done + 2))

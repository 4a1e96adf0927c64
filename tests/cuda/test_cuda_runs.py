"""Training runs on a GPU, through the real console script: exact resume, load_run, sample."""

from __future__ import annotations

import csv
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import reparam as rp

pytestmark = pytest.mark.cuda


def reparam(*args: str) -> subprocess.CompletedProcess:
    """``reparam ARGS``: the installed console script, as a user runs it."""
    script = shutil.which("reparam")
    command = [script] if script else [sys.executable, "-m", "reparam"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([*command, *args], capture_output=True, text=True, env=env, timeout=300)


def rows(folder: Path) -> list[dict[str, float]]:
    with (folder / "metrics.csv").open() as f:
        return [
            {k: float(v) for k, v in row.items() if k != "seconds"} for row in csv.DictReader(f)
        ]


def train(folder: Path, device: torch.device, epochs: int, *extra: str):
    return reparam(
        "train",
        "iwae",
        "--epochs",
        str(epochs),
        "--device",
        str(device),
        "--out",
        str(folder),
        "--batch-size",
        "50",
        *extra,
    )


def test_a_resumed_run_on_the_device_equals_a_straight_one(tmp_path, device) -> None:
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert train(straight, device, 3).returncode == 0
    assert train(resumed, device, 2).returncode == 0
    done = train(resumed, device, 3, "--resume")
    assert done.returncode == 0, done.stderr[-2000:]
    a, b = rows(straight), rows(resumed)
    assert len(a) == len(b) == 3
    for x, y in zip(a, b, strict=True):
        assert x.keys() == y.keys()
        for key in x:
            assert math.isclose(x[key], y[key], rel_tol=1e-5, abs_tol=1e-6), (key, x[key], y[key])
    weights = [
        torch.load(f / "checkpoint.pt", weights_only=True)["model"] for f in (straight, resumed)
    ]
    for name, tensor in weights[0].items():
        torch.testing.assert_close(weights[1][name], tensor, rtol=1e-5, atol=1e-6)

    run = rp.load_run(resumed, device=str(device))
    assert next(run.model.parameters()).device.type == device.type
    samples = run.sample(8)
    assert samples.shape == (8, 64) and samples.device.type == device.type
    grid = tmp_path / "grid.png"
    drawn = reparam(
        "sample", str(resumed), "--n", "16", "--device", str(device), "--out", str(grid)
    )
    assert drawn.returncode == 0 and grid.is_file(), drawn.stderr[-2000:]

"""A trained WGAN put to use: load_run, `reparam sample`, `reparam export` (run without
reparam), TensorBoard grids, and data of one's own (2-D points and images)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from reparam import load_run
from reparam.experiments.wgan import WGANTrainer
from reparam.experiments.wgan_config import WGANConfig
from reparam.train import RunOptions, run
from reparam.train.distributed import Ranks
from reparam.train.run_folder import read_metrics
from tests.cli.console import reparam

SMALL = {"steps": 4, "log_every": 2, "batch_size": 16, "critic_steps": 1, "hidden": 16,
         "eval_points": 32, "device": "cpu"}  # fmt: skip


def train(out, **config) -> None:
    run(WGANTrainer, {**SMALL, **config}, RunOptions(out, progress=False, tensorboard=False))


@pytest.fixture(scope="module")
def ring_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("wgan") / "ring"
    train(out, lipschitz="gp")
    return out


def test_load_run_gives_the_generator_and_samples(ring_run) -> None:
    loaded = load_run(ring_run)
    assert loaded.trainer == "wgan" and loaded.weights == "best"
    assert isinstance(loaded.config, WGANConfig) and loaded.config.data_dim == 2
    assert set(loaded.model) == {"generator", "critic"} and not loaded.model.training
    assert loaded.sample(64).shape == (64, 2)
    assert [r["step"] for r in loaded.metrics] == [1, 2, 4]
    assert set(loaded.pictures) == {"samples", "curves"}


def test_sample_and_export_through_the_console_script(ring_run, tmp_path) -> None:
    picture = tmp_path / "x.png"
    outcome = reparam("sample", str(ring_run), "--n", "64", "--out", str(picture))
    assert outcome.status == 0, outcome.stderr
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    outcome = reparam("export", str(ring_run))
    assert outcome.status == 0, outcome.stderr
    code = (
        "import sys\n"
        "sys.modules['reparam'] = None  # importing reparam now fails\n"
        "import torch\n"
        f"program = torch.export.load({str(ring_run / 'model.pt2')!r})\n"
        "points = program.module()(torch.randn(64, 2))\n"
        "assert points.shape == (64, 2) and torch.isfinite(points).all()\n"
        "print('ok')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path
    )
    assert done.stdout.strip() == "ok", done.stderr[-2000:]


def test_image_runs_give_grids_to_tensorboard_and_sample_images(tmp_path) -> None:
    pytest.importorskip("torch.utils.tensorboard")
    out = tmp_path / "digits"
    config = {**SMALL, "dataset": "digits", "lipschitz": "gp", "subset": 64}
    run(WGANTrainer, config, RunOptions(out, progress=False))
    assert list(out.glob("events.out.tfevents.*"))
    trainer = WGANTrainer(WGANConfig(**config), Ranks(0, 1, torch.device("cpu")))
    grid = trainer.images()["samples"]
    assert grid.shape == (3, 8 * 9 + 1, 8 * 9 + 1) and 0 <= grid.min() <= grid.max() <= 1
    samples = load_run(out).sample(10)
    assert samples.shape == (10, 64) and 0 <= samples.min() <= samples.max() <= 1


def test_a_file_of_2d_points_and_a_file_of_images(tmp_path) -> None:
    rng = np.random.default_rng(0)
    points = tmp_path / "blob.npy"
    np.save(points, rng.normal([3.0, -1.0], [0.5, 2.0], size=(200, 2)))
    train(tmp_path / "blob", dataset=str(points))
    rows = read_metrics(tmp_path / "blob" / "metrics.csv")
    assert rows[-1]["exact_w1"] > 0 and rows[-1]["valid"] == -rows[-1]["exact_w1"]
    config = load_run(tmp_path / "blob").config
    assert (config.data_dim, config.images, config.noise_dim, config.batch_size) == (
        2,
        False,
        64,
        16,
    )
    assert (tmp_path / "blob" / "samples.png").exists()

    images = tmp_path / "squares.npz"
    pixels = (rng.random((120, 4, 4)) > 0.5).astype(np.float32)
    np.savez(images, train=pixels[:100], valid=pixels[100:])
    train(tmp_path / "squares", dataset=str(images), lipschitz="gp")
    config = load_run(tmp_path / "squares").config
    assert (config.data_dim, config.images) == (16, True)
    assert "exact_w1" not in read_metrics(tmp_path / "squares" / "metrics.csv")[0]
    assert (tmp_path / "squares" / "samples.png").exists()

    wide = tmp_path / "wide.csv"
    np.savetxt(wide, rng.normal(size=(50, 5)), delimiter=",")
    train(tmp_path / "wide", dataset=str(wide))  # 5 columns: neither points nor images
    assert not (tmp_path / "wide" / "samples.png").exists()
    assert (tmp_path / "wide" / "curves.png").exists()

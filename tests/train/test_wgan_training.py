"""The WGAN trainer: the ring, the papers' defaults in config.json, short runs with clip and
gp, image data with --subset, and the metrics rows."""

from __future__ import annotations

import json
import math

import pytest
import torch

from reparam.data.ring import ring_centres, sample_ring
from reparam.experiments.wgan import WGANTrainer, period_ends
from reparam.experiments.wgan_config import WGANConfig
from reparam.train import run
from reparam.train.run_folder import read_metrics
from tests.cli.console import reparam
from tests.run_helpers import quiet_options

TINY = ["--batch-size", "16", "--critic-steps", "2", "--hidden", "16", "--eval-points", "32"]


def test_ring_has_eight_modes_at_radius_two() -> None:
    centres = ring_centres()
    assert centres.shape == (8, 2)
    assert torch.allclose(centres.norm(dim=1), torch.full((8,), 2.0), atol=1e-6)
    angles = torch.atan2(centres[:, 1], centres[:, 0]) % (2 * math.pi)
    assert torch.allclose(angles.sort().values, torch.arange(8) * math.pi / 4, atol=1e-5)
    x = sample_ring(4000, torch.Generator().manual_seed(0))
    nearest = torch.cdist(x, centres).min(dim=1)
    assert nearest.values.max() < 0.2  # std 0.02: every point sits on a mode
    assert torch.allclose(x.norm(dim=1).mean(), torch.tensor(2.0), atol=0.01)
    counts = torch.bincount(nearest.indices, minlength=8)
    assert counts.min() > 400  # all eight modes, roughly 500 each


def test_the_papers_defaults_are_resolved_per_constraint_and_data() -> None:
    ring_clip, ring_gp = WGANConfig(), WGANConfig(lipschitz="gp")
    assert (ring_clip.lr, ring_clip.clip, ring_clip.gp_lambda) == (5e-5, 0.01, None)
    assert (ring_gp.lr, ring_gp.clip, ring_gp.gp_lambda) == (1e-4, None, 0.1)
    assert (ring_clip.batch_size, ring_clip.noise_dim, ring_clip.steps) == (256, 2, 1500)
    images = WGANConfig(dataset="binarized-mnist", lipschitz="gp")
    assert (images.gp_lambda, images.batch_size, images.noise_dim, images.steps) == (
        10,
        64,
        64,
        None,
    )
    resolved = images.for_data(examples=50_000, dim=784, images=True)
    assert resolved.steps == math.ceil(2 * 50_000 / (64 * 5)) and resolved.log_every == 10
    saved = resolved.to_dict()
    assert "clip" not in saved and saved["optimizer"] == "adam" and saved["betas"] == (0.5, 0.9)
    assert WGANConfig.from_dict(json.loads(json.dumps(saved))) == resolved
    with pytest.raises(ValueError, match="has changed"):
        resolved.for_data(examples=50_000, dim=64, images=True)


def test_periods_end_after_step_one_every_log_every_and_at_the_end() -> None:
    assert period_ends(1, 10) == [1]
    assert period_ends(25, 10) == [1, 10, 20, 25]
    assert period_ends(3, 1) == [1, 2, 3]
    assert period_ends(50, 10, done=[1, 10, 20, 25]) == [1, 10, 20, 25, 30, 40, 50]


@pytest.mark.parametrize("lipschitz", ["clip", "gp"])
def test_short_ring_run_through_the_console_script(tmp_path, lipschitz: str) -> None:
    out = tmp_path / f"ring-{lipschitz}"
    outcome = reparam(
        "train", "wgan", "--lipschitz", lipschitz, "--steps", "12", "--log-every", "5", *TINY,
        "--device", "cpu", "--out", str(out),
    )  # fmt: skip
    assert outcome.status == 0, outcome.stderr
    rows = read_metrics(out / "metrics.csv")
    assert [r["step"] for r in rows] == [1, 5, 10, 12]
    for row in rows:
        assert row["exact_w1"] > 0 and row["valid"] == -row["exact_w1"]
        assert all(math.isfinite(row[k]) for k in ("critic_w1", "critic_w1_train", "lipschitz"))
        assert (row["penalty"] > 0) == (lipschitz == "gp")
    config = json.loads((out / "config.json").read_text())
    assert config["trainer"] == "wgan" and config["lipschitz"] == lipschitz
    assert config["lr"] == (5e-5 if lipschitz == "clip" else 1e-4)  # the papers' defaults
    assert config.get("gp_lambda") == (0.1 if lipschitz == "gp" else None)  # ring: toy code
    assert config.get("clip") == (0.01 if lipschitz == "clip" else None)
    assert config["data_dim"] == 2 and config["images"] is False
    for name in ("samples.png", "curves.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = torch.load(out / "checkpoint.pt", weights_only=True)
    bound = max(v.abs().max().item() for k, v in saved["model"].items() if k.startswith("critic"))
    assert (bound <= 0.01) == (lipschitz == "clip")  # gp leaves the weights free
    best = torch.load(out / "best.pt", weights_only=True)
    assert best["step"] == max(rows, key=lambda r: r["valid"])["step"]


def test_the_learning_rate_given_is_the_one_recorded(tmp_path) -> None:
    result = run(WGANTrainer, {"lr": 0.01, "steps": 2, "hidden": 8, "batch_size": 8,
                               "critic_steps": 1, "eval_points": 8, "device": "cpu"},
                 quiet_options(tmp_path / "run"))  # fmt: skip
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["lr"] == 0.01 == result.config.lr
    assert result.config.steps == 2 and config["log_every"] == 2


def test_digits_with_a_subset_write_a_sample_grid_and_no_exact_w1(tmp_path) -> None:
    out = tmp_path / "digits"
    config = WGANConfig(dataset="digits", lipschitz="gp", subset=100, batch_size=10,
                        critic_steps=2, hidden=16, eval_points=50, device="cpu")  # fmt: skip
    result = run(WGANTrainer, config, quiet_options(out))
    assert result.config.steps == math.ceil(2 * 100 / (10 * 2)) == 10  # two critic passes
    assert result.config.images and result.config.data_dim == 64
    rows = read_metrics(out / "metrics.csv")
    assert "exact_w1" not in rows[0] and rows[-1]["valid"] == -rows[-1]["critic_w1"]
    saved = json.loads((out / "config.json").read_text())
    assert saved["subset"] == 100 and saved["gp_lambda"] == 10 and "data_dir" not in saved
    assert (out / "samples.png").exists() and (out / "curves.png").exists()
    with pytest.raises(ValueError, match="--subset 5000 exceeds the 1437 training rows"):
        run(WGANTrainer, WGANConfig(dataset="digits", subset=5000, device="cpu"),
            quiet_options(tmp_path / "big"))  # fmt: skip

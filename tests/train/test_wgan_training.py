"""The WGAN trainer: ring sampler, exact W1, short CLI runs with clip and gp, and bad names."""

from __future__ import annotations

import csv
import json
import math

import pytest
import torch
from typer.testing import CliRunner

from reparam.cli import app
from reparam.data.ring import ring_centres, sample_ring
from reparam.experiments.wgan import WGANConfig, exact_w1

runner = CliRunner()


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


def test_exact_w1_identical_and_shifted_clouds() -> None:
    x = torch.randn(64, 2, generator=torch.Generator().manual_seed(1))
    assert exact_w1(x, x) == pytest.approx(0.0, abs=1e-12)
    shift = torch.tensor([0.3, -0.4])
    assert exact_w1(x, x + shift) == pytest.approx(0.5, abs=1e-6)  # float32 shift
    small = x[:12]
    assert exact_w1(small, small + shift, method="kantorovich") == pytest.approx(0.5, abs=1e-7)
    y = torch.randn(12, 2, generator=torch.Generator().manual_seed(2))
    assert exact_w1(small, y) == pytest.approx(exact_w1(small, y, method="kantorovich"), abs=1e-7)


def read_rows(path) -> list[dict]:
    with path.open() as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("lipschitz", ["clip", "gp"])
def test_short_ring_run_through_cli(tmp_path, lipschitz: str) -> None:
    out = tmp_path / f"ring-{lipschitz}"
    result = runner.invoke(
        app,
        ["train", "wgan", "--dataset", "ring", "--lipschitz", lipschitz, "--steps", "30",
         "--batch-size", "32", "--critic-steps", "2", "--device", "cpu", "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "exact W1" in result.output
    rows = read_rows(out / "metrics.csv")
    assert len(rows) >= 2 and rows[-1]["step"] == "30"
    for row in rows:
        assert math.isfinite(float(row["exact_w1"])) and float(row["exact_w1"]) > 0
        assert math.isfinite(float(row["critic_w1"])) and math.isfinite(float(row["lipschitz"]))
    config = json.loads((out / "config.json").read_text())
    assert config["lipschitz"] == lipschitz and config["critic_steps"] == 2
    assert config["lr"] == (5e-5 if lipschitz == "clip" else 1e-4)  # the papers' defaults
    assert config["lam"] == 0.1  # ring: Gulrajani et al.'s toy-code value
    for name in ("samples.png", "curves.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    critic = torch.load(out / "model.pt", weights_only=True)["critic"]
    bound = max(p.abs().max().item() for p in critic.values())
    if lipschitz == "clip":
        assert bound <= config["clip"] == 0.01
    else:
        assert bound > 0.01  # gp leaves the weights free


def test_bad_names_fail_with_a_message(tmp_path) -> None:
    for args, word in (
        (["--dataset", "moons"], "unknown dataset 'moons'"),
        (["--lipschitz", "spectral"], "unknown Lipschitz constraint 'spectral'"),
        (["--dataset", "ring", "--lipschitz", "gp", "--gp-lambda", "-1"], "gp-lambda"),
    ):
        result = runner.invoke(app, ["train", "wgan", *args, "--out", str(tmp_path / "x")])
        assert result.exit_code != 0
        assert word in " ".join(result.output.split())
    with pytest.raises(ValueError, match="unknown Lipschitz constraint"):
        WGANConfig(lipschitz="none")
    with pytest.raises(ValueError, match="unknown dataset"):
        WGANConfig(dataset="mnist")


def test_short_image_run_writes_a_sample_grid(tmp_path) -> None:
    out = tmp_path / "digits-gp"
    result = runner.invoke(
        app,
        ["train", "wgan", "--dataset", "digits", "--lipschitz", "gp", "--steps", "5",
         "--critic-steps", "2", "--device", "cpu", "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = read_rows(out / "metrics.csv")
    assert rows[-1]["step"] == "5" and rows[-1]["exact_w1"] == "nan"  # no exact W1 in 64-D
    assert math.isfinite(float(rows[-1]["critic_w1"]))
    assert (out / "samples.png").exists() and (out / "curves.png").exists()

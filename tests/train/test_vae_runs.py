"""A trained VAE-family run put to use: load_run, sample, export (loaded without reparam),
eval, TensorBoard images, one's own data, --compile."""

from __future__ import annotations

import functools
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import reparam.cli.commands  # noqa: F401  (registers the commands on app)
from reparam.cli import app
from reparam.experiments.vae import (
    CategoricalVAETrainer,
    ConvVAETrainer,
    FlowVAETrainer,
    IWAETrainer,
    VAETrainer,
)
from reparam.experiments.vae_config import IWAEConfig
from reparam.experiments.vae_evaluation import evaluate_saved_run
from reparam.runs import load_run
from reparam.train import run
from reparam.train.run_folder import read_metrics
from tests.run_helpers import quiet_options

runner = CliRunner()
TINY = {"epochs": 2, "subset": 200, "batch_size": 100, "device": "cpu"}


@pytest.fixture(scope="module")
def iwae_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "iwae"
    run(IWAETrainer, {**TINY, "k": 2}, quiet_options(out, tensorboard=True))
    return out


def test_load_run_gives_config_model_metrics_and_pictures(iwae_run) -> None:
    loaded = load_run(iwae_run)
    assert isinstance(loaded.config, IWAEConfig) and loaded.config.k == 2
    assert loaded.trainer == "iwae" and loaded.weights == "best"
    assert not loaded.model.training
    assert [row["epoch"] for row in loaded.metrics] == [1, 2]
    assert set(loaded.pictures) == {"samples", "reconstructions", "curves"}
    samples = loaded.sample(16)
    assert samples.shape == (16, 64) and 0 <= float(samples.min()) <= float(samples.max()) <= 1
    last = load_run(iwae_run, weights="last")
    assert last.weights == "last"
    with torch.no_grad():
        x = torch.ones(3, 64)
        assert loaded.model.bound(x, objective="iwae", k=4).shape == (3,)


def test_tensorboard_holds_sample_and_reconstruction_grids(iwae_run) -> None:
    accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    events = accumulator.EventAccumulator(str(iwae_run))
    events.Reload()
    assert {"samples", "reconstructions"} <= set(events.Tags()["images"])
    assert {"train_bound", "valid_bound"} <= set(events.Tags()["scalars"])


def test_eval_on_a_run_folder(iwae_run) -> None:
    result = runner.invoke(app, ["eval", str(iwae_run), "--k", "20", "--chunk", "7"])
    assert result.exit_code == 0, result.output
    saved = json.loads((iwae_run / "eval-test-k20.json").read_text())
    assert saved["examples"] == 180 and saved["nll"] <= saved["negative_elbo"] + 1e-3
    small = evaluate_saved_run(iwae_run, k=5, split="valid", subset=50, device="cpu")
    assert small.examples == 50 and "valid (50 examples)" in small.summary()


EXPORTED = """
import sys, torch
for path in sys.argv[1:]:
    program = torch.export.load(path)
    (z,), _ = program.example_inputs
    means = program.module()(torch.cat([z, z, z]))  # any batch size
    assert 0 <= means.min() and means.max() <= 1 and len(means) == 6, path
    print(z.shape[1], means.shape[1])
assert "reparam" not in sys.modules
"""


def test_sample_and_export_every_model(iwae_run, tmp_path) -> None:
    grid = tmp_path / "grid.png"
    result = runner.invoke(app, ["sample", str(iwae_run), "--n", "16", "--out", str(grid)])
    assert result.exit_code == 0, result.output
    assert grid.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    folders = [iwae_run]
    for trainer, values in (
        (VAETrainer, {"layers": 2}),
        (FlowVAETrainer, {"flow_length": 2}),
        (CategoricalVAETrainer, {}),
        (ConvVAETrainer, {}),
    ):
        out = tmp_path / trainer.name
        run(trainer, {**TINY, "epochs": 1, **values}, quiet_options(out))
        folders.append(out)
    for folder in folders:
        result = runner.invoke(app, ["export", str(folder)])
        assert result.exit_code == 0, result.output
    files = [str(folder / "model.pt2") for folder in folders]
    done = subprocess.run(
        [sys.executable, "-c", EXPORTED, *files], capture_output=True, text=True, check=True
    )
    # z: iwae 50; two layers: the bottom layer's 100; flow 50; 20×10 one-hot codes; conv 50
    assert done.stdout.split() == ["50", "64", "100", "64", "50", "64", "200", "64", "50", "64"]


def test_own_data_trains_and_non_binary_data_is_refused(tmp_path) -> None:
    rng = np.random.default_rng(0)
    bits = (rng.random((120, 16)) < 0.3).astype(np.uint8)
    np.save(tmp_path / "bits.npy", bits)
    np.savez(tmp_path / "split.npz", train=bits[:100], valid=bits[100:])
    np.savetxt(tmp_path / "bits.csv", bits, fmt="%d", delimiter=",", header="a" * 16, comments="")
    for name in ("bits.npy", "split.npz", "bits.csv"):
        values = {"dataset": str(tmp_path / name), "epochs": 1, "batch_size": 50}
        result = run(
            VAETrainer,
            {**values, "device": "cpu"},
            quiet_options(tmp_path / name.replace(".", "-")),
        )
        assert result.config.x_dim == 16, name
        assert load_run(tmp_path / name.replace(".", "-")).sample(3).shape == (3, 16)
    np.save(tmp_path / "grey.npy", rng.random((50, 16)))
    with pytest.raises(ValueError, match="Bernoulli decoders need binary data"):
        run(VAETrainer, {"dataset": str(tmp_path / "grey.npy")}, quiet_options(tmp_path / "grey"))
    np.save(tmp_path / "36.npy", bits[:, :1].repeat(36, 1))  # 6×6 images
    with pytest.raises(ValueError, match="side is a multiple of 4"):
        run(ConvVAETrainer, {"dataset": str(tmp_path / "36.npy")}, quiet_options(tmp_path / "conv"))


def test_the_cli_records_an_absolute_path_for_a_file_of_ones_own(tmp_path, monkeypatch) -> None:
    np.save(tmp_path / "bits.npy", (np.arange(640).reshape(40, 16) % 3 == 0).astype(np.uint8))
    monkeypatch.chdir(tmp_path)
    args = ["train", "vae", "--dataset", "bits.npy", "--epochs", "1", "--device", "cpu"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    saved = json.loads((tmp_path / "runs" / "vae-bits" / "config.json").read_text())
    assert saved["dataset"] == str(tmp_path / "bits.npy")


def compile_matches_eager(tmp_path, monkeypatch, backend: str | None) -> None:
    if backend is not None:
        monkeypatch.setattr(torch, "compile", functools.partial(torch.compile, backend=backend))
    values = {**TINY, "epochs": 1, "k": 3}
    eager = run(IWAETrainer, values, quiet_options(tmp_path / "eager"))
    compiled = run(IWAETrainer, {**values, "compile": True}, quiet_options(tmp_path / "compiled"))
    for a, b in zip(eager.history, compiled.history, strict=True):
        assert a["train_bound"] == pytest.approx(b["train_bound"], rel=1e-5)
        assert a["valid_bound"] == pytest.approx(b["valid_bound"], rel=1e-5)
    assert read_metrics(tmp_path / "compiled" / "metrics.csv")
    assert load_run(tmp_path / "compiled").config.compile  # same weights' keys as eager


def test_compile_traces_the_bound_to_the_same_numbers(tmp_path, monkeypatch) -> None:
    """--compile through dynamo's graph capture (the eager backend: seconds, not minutes)."""
    compile_matches_eager(tmp_path, monkeypatch, "eager")


@pytest.mark.slow
def test_compile_with_inductor_gives_the_eager_numbers(tmp_path, monkeypatch) -> None:
    """--compile as a user gets it (inductor; about 1-2 minutes of compiling on CPU)."""
    compile_matches_eager(tmp_path, monkeypatch, None)

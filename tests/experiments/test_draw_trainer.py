"""``reparam train draw`` on the 8x8 digits: a few steps through the command line and its
pictures, exact resume (after an epoch and from a mid-epoch checkpoint), ``reparam sample``
and ``load_run``."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

import reparam.cli.commands  # noqa: F401  (registers the commands on app)
from reparam.cli import app
from reparam.experiments.draw import DRAWTrainer
from reparam.models import DRAW
from reparam.runs import load_run
from reparam.train import run
from reparam.train.checkpoint import load
from reparam.train.run_folder import read_metrics
from tests.run_helpers import arguments, assert_same_weights, quiet_options, strip_time

runner = CliRunner()
SMALL = {"dataset": "digits", "subset": 120, "epochs": 3, "batch_size": 40, "glimpses": 3,
         "hidden": 12, "latent": 3, "read_size": 3, "write_size": 3, "device": "cpu"}  # fmt: skip


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    """Two epochs of three steps through `reparam train draw`, with attention."""
    out = tmp_path_factory.mktemp("draw") / "run"
    result = runner.invoke(
        app, ["train", "draw", *arguments({**SMALL, "epochs": 2}), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    return out


def test_the_command_writes_a_run_and_its_pictures(cli_run) -> None:
    rows = read_metrics(cli_run / "metrics.csv")
    assert [r["epoch"] for r in rows] == [1, 2] and [r["step"] for r in rows] == [3, 6]
    assert all(r["valid_bound"] < 0 and r["valid_kl"] >= 0 for r in rows)
    config = json.loads((cli_run / "config.json").read_text())
    assert (config["trainer"], config["width"], config["height"]) == ("draw", 8, 8)
    for name in DRAWTrainer.outputs:
        assert (cli_run / name).stat().st_size > 0, name
    from PIL import Image

    with Image.open(cli_run / "canvas.gif") as gif:
        assert gif.n_frames == SMALL["glimpses"]


def test_load_run_and_sample(cli_run, tmp_path) -> None:
    loaded = load_run(cli_run)
    assert isinstance(loaded.model, DRAW) and loaded.model.attention and loaded.weights == "best"
    images = loaded.sample(5)
    assert images.shape == (5, 64) and ((images >= 0) & (images <= 1)).all()
    picture = tmp_path / "samples.png"
    result = runner.invoke(app, ["sample", str(cli_run), "--n", "9", "--out", str(picture)])
    assert result.exit_code == 0, result.output
    assert picture.stat().st_size > 0


def test_reparam_eval_gives_the_importance_weighted_bound(cli_run) -> None:
    """k = 1: L_1 is the one log-weight, so NLL = -ELBO; k = 12 in chunks of 5 (5, 5, 2):
    L_k < the mean log-weight (Jensen, strict for log-weights that differ)."""
    common = ["--chunk=5", "--split=valid", "--subset=30", "--batch-size=8", "--device=cpu"]
    for k in (1, 12):
        result = runner.invoke(app, ["eval", str(cli_run), f"--k={k}", *common])
        assert result.exit_code == 0, result.output
        assert "kl" in result.output
    one, many = (json.loads((cli_run / f"eval-valid-k{k}.json").read_text()) for k in (1, 12))
    assert one["nll"] == pytest.approx(one["negative_elbo"], rel=1e-6)
    assert many["nll"] < many["negative_elbo"]
    assert one["examples"] == many["examples"] == 30 and one["active_units"] is None
    assert one["extra"]["kl"] > 0


@pytest.mark.parametrize("attention", [True, False])
def test_resumed_after_an_epoch_equals_a_straight_run(tmp_path, attention: bool) -> None:
    values = {**SMALL, "attention": attention}
    if not attention:  # and with a KL warm-up over the first 5 of the 9 steps
        values.pop("read_size"), values.pop("write_size")
        values["kl_warmup"] = 5
    straight = run(DRAWTrainer, values, quiet_options(tmp_path / "a"))
    run(DRAWTrainer, {**values, "epochs": 1}, quiet_options(tmp_path / "b"))
    resumed = run(DRAWTrainer, {"epochs": 3}, quiet_options(tmp_path / "b", resume=True))
    assert strip_time(resumed.history) == strip_time(straight.history)
    assert_same_weights(tmp_path / "a", tmp_path / "b")
    betas = [row["beta"] for row in straight.history]
    assert betas == ([0.6, 1.0, 1.0] if not attention else [1.0, 1.0, 1.0])


class Crash(Exception):
    """Stands for a kill between two checkpoints."""


def test_killed_mid_epoch_resumes_from_its_checkpoint_every(tmp_path, monkeypatch) -> None:
    straight = run(DRAWTrainer, SMALL, quiet_options(tmp_path / "a"))
    original, calls = DRAWTrainer.train_step, {"n": 0}

    def train_step(self, period: int, index: int) -> None:
        calls["n"] += 1
        if calls["n"] == 6:
            raise Crash
        original(self, period, index)

    monkeypatch.setattr(DRAWTrainer, "train_step", train_step)
    with pytest.raises(Crash):
        run(DRAWTrainer, SMALL, quiet_options(tmp_path / "b", checkpoint_every=4))
    monkeypatch.undo()
    engine = load(tmp_path / "b" / "checkpoint.pt")["engine"]
    assert (engine["step"], engine["period"], engine["index"]) == (4, 1, 1)
    resumed = run(DRAWTrainer, {}, quiet_options(tmp_path / "b", resume=True))
    assert strip_time(resumed.history) == strip_time(straight.history)
    assert_same_weights(tmp_path / "a", tmp_path / "b")


def test_gradients_are_clipped(tmp_path, monkeypatch) -> None:
    """--clip-norm bounds the norm of every step's gradient."""
    norms: list[float] = []
    step = torch.optim.Adam.step

    def record(self, *args, **kwargs):
        grads = [p.grad for group in self.param_groups for p in group["params"]]
        norms.append(float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))))
        return step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", record)
    run(DRAWTrainer, {**SMALL, "epochs": 1, "clip_norm": 0.01}, quiet_options(tmp_path / "c"))
    assert len(norms) == 3 and max(norms) <= 0.01 * (1 + 1e-5)

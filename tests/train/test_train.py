"""The VAE family's training runs: every model trains, config.json holds what applies, the
schedule, the chunked test bound, the bounds' order, DDP, repro, binarized MNIST."""

import json
import math
import os

import pytest
import torch
from typer.testing import CliRunner

import reparam.cli.commands  # noqa: F401  (registers the commands on app)
import reparam.experiments.vae_evaluation as evaluate_module
from reparam.cli import app
from reparam.data import load
from reparam.experiments.schedule import BURDA_EPOCHS, burda_stage, learning_rate
from reparam.experiments.vae import (
    CategoricalVAETrainer,
    ConvVAETrainer,
    FlowVAETrainer,
    IWAETrainer,
    VAETrainer,
)
from reparam.objectives import iwae_bound
from reparam.runs import load_run
from reparam.train import run
from reparam.train.run_folder import read_metrics
from tests.ddp_harness import train_in_ranks
from tests.run_helpers import quiet_options

runner = CliRunner()


def tiny(**values) -> dict:
    return {"epochs": 2, "subset": 200, "batch_size": 100, "device": "cpu", **values}


@pytest.mark.parametrize(
    ("trainer", "values"),
    [
        (VAETrainer, {"layers": 2, "kl_warmup": 10}),
        (IWAETrainer, {"k": 3, "estimator": "dreg"}),
        (FlowVAETrainer, {"flow": "radial", "flow_length": 2}),
        (FlowVAETrainer, {"flow": "iaf", "flow_length": 2, "objective": "iwae", "k": 2}),
        (CategoricalVAETrainer, {"estimator": "gumbel-softmax"}),
        (CategoricalVAETrainer, {"objective": "iwae", "estimator": "vimco", "k": 2}),
        (CategoricalVAETrainer, {"estimator": "score+leave-one-out", "k": 2}),
        (ConvVAETrainer, {"estimator": "dreg", "objective": "iwae", "k": 2}),
    ],
)
def test_every_model_trains(tmp_path, trainer, values: dict) -> None:
    result = run(trainer, tiny(**values), quiet_options(tmp_path / "run"))
    rows = read_metrics(tmp_path / "run" / "metrics.csv")
    assert [r["epoch"] for r in rows] == [1, 2]
    assert all(math.isfinite(r["train_bound"]) and math.isfinite(r["valid_bound"]) for r in rows)
    assert result.best is not None
    for name in ("samples.png", "reconstructions.png", "curves.png", "best.pt"):
        assert (tmp_path / "run" / name).exists(), name


def test_config_json_holds_exactly_what_applies(tmp_path) -> None:
    run(VAETrainer, tiny(), quiet_options(tmp_path / "vae"))
    saved = json.loads((tmp_path / "vae" / "config.json").read_text())
    assert saved["trainer"] == "vae" and saved["x_dim"] == 64 and saved["device"] == "cpu"
    assert {"flow", "flow_length", "temperature_rate"}.isdisjoint(saved)
    assert saved["beta"] == 1.0 and saved["kl_warmup"] == 0 and saved["layers"] == 1

    run(IWAETrainer, tiny(), quiet_options(tmp_path / "iwae"))
    saved = json.loads((tmp_path / "iwae" / "config.json").read_text())
    assert saved["k"] == 5 and saved["objective"] == "iwae"
    assert {"beta", "kl_warmup", "flow"}.isdisjoint(saved)  # β weights the ELBO only

    run(CategoricalVAETrainer, tiny(), quiet_options(tmp_path / "cat"))
    saved = json.loads((tmp_path / "cat" / "config.json").read_text())
    assert saved["estimator"] == "gumbel-softmax" and saved["temperature_rate"] == 1e-4
    assert "temperature" in read_metrics(tmp_path / "cat" / "metrics.csv")[0]
    assert "layers" not in saved

    run(CategoricalVAETrainer, tiny(estimator="score"), quiet_options(tmp_path / "score"))
    assert "temperature_rate" not in json.loads((tmp_path / "score" / "config.json").read_text())


@pytest.mark.parametrize("estimator", ["gumbel-softmax", "st-gumbel-relaxed"])
def test_gumbel_temperature_is_annealed_every_500_steps(tmp_path, estimator) -> None:
    values = tiny(epochs=1, subset=None, batch_size=2, temperature_rate=1e-3, estimator=estimator)
    run(CategoricalVAETrainer, values, quiet_options(tmp_path / "run"))  # 719 steps
    (row,) = read_metrics(tmp_path / "run" / "metrics.csv")
    assert row["step"] == 719 and row["temperature"] == pytest.approx(math.exp(-0.5))


def test_burda_schedule() -> None:
    assert BURDA_EPOCHS == 3280
    assert [burda_stage(e) for e in (0, 1, 3, 4, 12, 13, 3279)] == [0, 1, 1, 2, 2, 3, 7]
    assert learning_rate("burda", 1e-3, 3279) == pytest.approx(1e-4)


def test_chunked_bound_merges_chunks_exactly(monkeypatch) -> None:
    log_w = torch.randn(23, 4, dtype=torch.float64) * 30
    pieces = iter(log_w.split(5))
    monkeypatch.setattr(evaluate_module, "log_weights", lambda model, x, k: next(pieces))
    bound, elbo = evaluate_module.bounds(None, torch.zeros(4, 1, dtype=torch.float64), 23, 5)
    torch.testing.assert_close(bound, iwae_bound(log_w))
    torch.testing.assert_close(elbo, log_w.mean(0))


def test_bounds_are_ordered_on_a_trained_model(tmp_path) -> None:
    """L_1 ≤ L_5 ≤ L_50 on the validation digits (means over 20 repeats, 5 SE apart)."""
    values = {"epochs": 15, "batch_size": 100, "device": "cpu"}
    result = run(IWAETrainer, values, quiet_options(tmp_path / "run"))
    model = load_run(result.folder.path).model
    x = load("digits", "valid")
    means, ses = {}, {}
    with torch.no_grad():
        for k in (1, 5, 50):
            values = torch.stack([model.bound(x, objective="iwae", k=k).mean() for _ in range(20)])
            means[k], ses[k] = float(values.mean()), float(values.std()) / math.sqrt(20)
    assert means[1] + 5 * (ses[1] + ses[5]) < means[5]
    assert means[5] + 5 * (ses[5] + ses[50]) < means[50]


def test_ddp_two_processes_stay_in_sync_and_learn(tmp_path) -> None:
    values = {"epochs": 4, "batch_size": 100, "device": "cpu"}
    history = train_in_ranks(IWAETrainer, values, tmp_path / "ddp")
    assert history[-1]["train_bound"] > history[0]["train_bound"] + 1
    assert [r["epoch"] for r in read_metrics(tmp_path / "ddp" / "metrics.csv")] == [1, 2, 3, 4]


def test_repro_writes_the_table_beside_the_paper(tmp_path) -> None:
    out = tmp_path / "repro"
    args = ["repro", "flows", "--dataset", "digits", "--epochs", "1", "--schedule", "constant"]
    args += ["--eval-k", "5", "--eval-subset", "50", "--batch-size", "200", "--device", "cpu"]
    args += ["--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    table = (out / "flows.md").read_text()
    assert "planar flow, K=80" in table and "| 85.10 |" in table
    assert "used digits" in table
    assert json.loads((out / "planar-flow--k-10" / "config.json").read_text())["flow_length"] == 10
    again = runner.invoke(app, [*args, "--resume"])  # finished rows: evaluated again only
    assert again.exit_code == 0, again.output
    assert len(read_metrics(out / "planar-flow--k-10" / "metrics.csv")) == 1


@pytest.mark.skipif(
    not (
        os.environ.get("REPARAM_DATA")
        and os.path.isdir(os.path.join(os.environ.get("REPARAM_DATA", ""), "binarized_mnist"))
    ),
    reason="binarized MNIST is not under $REPARAM_DATA",
)
def test_trains_and_evaluates_on_a_slice_of_binarized_mnist(tmp_path) -> None:
    out = tmp_path / "mnist"
    args = ["train", "iwae", "--dataset", "binarized-mnist", "--subset", "600", "--epochs", "3"]
    result = runner.invoke(app, [*args, "--out", str(out), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    bounds = [row["train_bound"] for row in read_metrics(out / "metrics.csv")]
    assert bounds[-1] > bounds[0] + 20  # from ~-540 nats at initialization
    result = runner.invoke(
        app, ["eval", str(out), "--k", "100", "--subset", "200", "--device", "cpu"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads((out / "eval-test-k100.json").read_text())["examples"] == 200

"""``reparam repro gumbel-table1`` end to end, tiny: a few steps on the 8x8 digits through the
real command line; TABLE.md's structure and finite numbers; one cell's exact resume."""

from __future__ import annotations

import csv
import json
import math
import re

import pytest
import torch
from typer.testing import CliRunner

import reparam.cli.commands  # noqa: F401  (registers the commands on app)
from reparam.cli import app
from reparam.experiments.gumbel_table1 import GumbelTable1Trainer
from reparam.experiments.gumbel_table1_config import GumbelTable1Config
from reparam.train import RunOptions, run

runner = CliRunner()
TINY = [
    "--dataset", "digits", "--steps", "4", "--eval-every", "2", "--train-subset", "200",
    "--valid-subset", "40", "--valid-samples", "3", "--eval-samples", "5",
    "--eval-subset", "40", "--lr", "1e-3,3e-3", "--device", "cpu",
]  # fmt: skip


def test_tiny_table_through_the_cli(tmp_path) -> None:
    out = tmp_path / "table"
    rows = "sbn-bernoulli,sbn-categorical,vae-bernoulli,vae-categorical"
    columns = "gumbel-softmax,straight-through,no-such-estimator"
    result = runner.invoke(
        app,
        ["repro", "gumbel-table1", *TINY, "--rows", rows, "--columns", columns, "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    table = (out / "TABLE.md").read_text()
    lines = table.splitlines()
    head = next(line for line in lines if line.startswith("| model |"))
    assert head == "| model | | Gumbel | ST | no-such-estimator |"
    ours = [line for line in lines if line.startswith("| | reparam |")]
    paper = [line for line in lines if "| paper |" in line]
    assert len(ours) == len(paper) == 4
    assert "| 58.5 | 58.9 | — |" in paper[0]  # SBN Bernoulli: Gumbel, ST, the unknown one
    for line in ours:
        cells = [c.strip() for c in line.strip("|").split("|")][2:]
        assert all(math.isfinite(float(c)) for c in cells[:2]) and cells[2] == "—"
    assert "'no-such-estimator' is not in the estimator vocabulary" in table
    assert len(re.findall(r"\| −L_m \|", table)) == 2
    cells = json.loads((out / "TABLE.json").read_text())["cells"]
    assert {c["lr"] for c in cells if c["lr"] is not None} <= {1e-3, 3e-3}
    # the rates of a column trained side by side, as replicas of one run
    assert (out / "vae-categorical" / "gumbel-softmax" / "lr-0.001_0.003" / "best.pt").exists()
    again = runner.invoke(
        app,
        [
            "repro", "gumbel-table1", *TINY, "--rows", "sbn-bernoulli", "--columns",
            "gumbel-softmax", "--out", str(out), "--resume",
        ],
    )  # fmt: skip
    assert again.exit_code == 0, again.output


def test_bad_rows_are_refused(tmp_path) -> None:
    result = runner.invoke(
        app, ["repro", "gumbel-table1", *TINY, "--rows", "sbn-gaussian", "--out", str(tmp_path)]
    )
    assert isinstance(result.exception, ValueError)  # the console script prints "error: ..."
    assert "unknown --rows sbn-gaussian" in str(result.exception)


@pytest.mark.parametrize(
    ("estimator", "lr"),
    [("score+moving-average", 3e-3), ("st-gumbel", 3e-3), ("nvil", 3e-3), ("rebar", 3e-3),
     ("st-gumbel", (1e-3, 3e-3))],
)  # fmt: skip
def test_a_cell_resumes_exactly(tmp_path, estimator: str, lr) -> None:
    """4 steps, then 4 more on --resume, equal 8 steps at once, bit for bit (replicas too)."""
    options = {
        "row": "sbn-categorical", "estimator": estimator, "dataset": "digits", "subset": 100,
        "eval_every": 2, "valid_subset": 20, "valid_samples": 2, "lr": lr, "device": "cpu",
    }  # fmt: skip
    quiet = {"progress": False, "tensorboard": False}
    straight = run(
        GumbelTable1Trainer,
        GumbelTable1Config(steps=8, **options),
        RunOptions(tmp_path / "a", **quiet),
    )
    run(
        GumbelTable1Trainer,
        GumbelTable1Config(steps=4, **options),
        RunOptions(tmp_path / "b", **quiet),
    )
    resumed = run(
        GumbelTable1Trainer, {"steps": 8}, RunOptions(tmp_path / "b", resume=True, **quiet)
    )
    assert [r["valid_metric"] for r in resumed.history] == [
        r["valid_metric"] for r in straight.history
    ]
    a = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=True)["model"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_column_that_does_not_apply_is_reported(tmp_path) -> None:
    from reparam.experiments.gumbel_table1_table import train_cell

    base = {"dataset": "digits", "steps": 2, "eval_every": 2, "valid_subset": 20,
            "valid_samples": 2, "device": "cpu"}  # fmt: skip
    cell = train_cell(
        "sbn-bernoulli", "dreg", [1e-3], base, tmp_path, eval_samples=2,
        eval_subset=20, resume=False, overwrite=False,
    )  # fmt: skip
    assert cell.value is None and cell.missing is not None


@pytest.mark.slow
def test_mid_size_grid_learns(tmp_path) -> None:
    """Every row with two columns, 300 steps on the digits: each cell's validation metric at
    its best period is below the one after the first 100 steps. (Not the plain score
    function: on the VAE with 200 Bernoulli latents it does not improve in 300 steps.)"""
    from reparam.experiments.gumbel_table1_table import reproduce_table1

    base = {"dataset": "digits", "steps": 300, "eval_every": 100, "valid_subset": 200,
            "valid_samples": 20, "device": "cpu"}  # fmt: skip
    columns = ("straight-through", "gumbel-softmax")
    reproduce_table1(tmp_path, columns=columns, lrs=(3e-3,), base=base, eval_samples=50)
    cells = json.loads((tmp_path / "TABLE.json").read_text())["cells"]
    assert len(cells) == 8 and all(math.isfinite(c["value"]) for c in cells)
    for cell in cells:
        path = tmp_path / cell["row"] / cell["column"] / "lr-0.003" / "metrics.csv"
        valid = [float(r["valid_metric"]) for r in csv.DictReader(path.open())]
        assert min(valid) < valid[0], (cell["row"], cell["column"], valid)


def test_replicas_start_from_the_plain_models_weights() -> None:
    from reparam.experiments.gumbel_table1 import build_model
    from reparam.models.replicas import unstack

    options = {"row": "vae-bernoulli", "estimator": "arm", "k": 2, "x_dim": 64}
    torch.manual_seed(3)
    plain = build_model(GumbelTable1Config(**options, lr=1e-3)).state_dict()
    torch.manual_seed(3)
    stacked = build_model(GumbelTable1Config(**options, lr=(1e-3, 3e-3, 1e-2)))
    for r in range(3):
        mine = unstack(stacked, r).state_dict()
        assert mine.keys() == plain.keys()
        assert all(torch.equal(mine[k], plain[k]) for k in plain)


def test_an_estimator_that_learns_from_the_batch_trains_one_rate_a_run() -> None:
    from reparam.experiments.gumbel_table1 import build_model
    from reparam.experiments.gumbel_table1_table import runs_of

    config = GumbelTable1Config(row="sbn-bernoulli", estimator="nvil", lr=(1e-3, 3e-3), x_dim=64)
    with pytest.raises(ValueError, match=r"nvil learns from the whole batch.*give one --lr"):
        build_model(config)
    for column in ("nvil", "rebar", "relax", "score+moving-average"):
        assert runs_of(column, [1e-3, 3e-3], replicas=True) == [1e-3, 3e-3]
    for column in ("score", "gumbel-softmax", "muprop", "disarm", "vimco"):
        assert runs_of(column, [1e-3, 3e-3], replicas=True) == [(1e-3, 3e-3)]
    assert runs_of("score", [1e-3, 3e-3], replicas=False) == [1e-3, 3e-3]
    assert runs_of("score", [1e-3], replicas=True) == [1e-3]


def test_a_diverging_replica_is_frozen_and_ranks_last(tmp_path) -> None:
    """A rate of 1e30 breaks its replica in the first steps; the other trains on."""
    config = GumbelTable1Config(
        row="sbn-bernoulli", estimator="straight-through", dataset="digits", subset=100,
        steps=6, eval_every=3, valid_subset=20, valid_samples=2, lr=(1e-3, 1e30), device="cpu",
    )  # fmt: skip
    result = run(GumbelTable1Trainer, config, RunOptions(tmp_path, progress=False))
    last = result.history[-1]
    assert last["valid_metric_lr1e+30"] == math.inf
    assert math.isfinite(last["valid_metric_lr0.001"]) and last["lr"] == 1e-3
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)["model"]
    assert all(torch.isfinite(v).all() for v in state.values())


def test_the_table_evaluates_the_best_replica(tmp_path) -> None:
    from reparam.experiments.gumbel_table1 import metrics
    from reparam.experiments.gumbel_table1_table import train_cell
    from reparam.experiments.vae_build import load_split
    from reparam.models.replicas import unstack
    from reparam.runs import load_run

    base = {"dataset": "digits", "steps": 4, "eval_every": 2, "valid_subset": 20,
            "valid_samples": 2, "device": "cpu", "subset": 100}  # fmt: skip
    rates = [1e-3, 1e-2, 3e-2]
    cell = train_cell(
        "sbn-categorical", "gumbel-softmax", rates, base, tmp_path, eval_samples=3,
        eval_subset=20, resume=False, overwrite=False,
    )  # fmt: skip
    folder = tmp_path / "lr-0.001_0.01_0.03"
    rows = list(csv.DictReader((folder / "metrics.csv").open()))
    best = min(rows, key=lambda r: float(r["valid_metric"]))
    assert cell.lr == float(best["lr"]) and cell.valid["step"] == int(best["step"])
    by_rate = {rate: float(best[f"valid_metric_lr{rate:g}"]) for rate in rates}
    assert by_rate[cell.lr] == min(by_rate.values())
    loaded = load_run(folder, weights="best", device="cpu")
    model = unstack(loaded.model, rates.index(cell.lr))
    test = load_split("digits", "test", None, 20)
    torch.manual_seed(loaded.config.seed)
    assert cell.test == {k: float(v) for k, v in metrics(model, test, 3).items()}


@pytest.mark.parametrize(
    ("lr", "message"),
    [((), "--lr names no learning rate"), ((1e-3, -1.0), "--lr must be > 0; got -1.0"),
     (("fast",), "--lr must be a number; got 'fast'"), ((1e-3, math.inf), "--lr")],
)  # fmt: skip
def test_bad_rates_are_refused_by_name(lr, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        GumbelTable1Config(lr=lr)

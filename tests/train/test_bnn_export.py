"""BNN runs back in Python and out of it: load_run rebuilds the networks from config.json,
`reparam export` writes a predictive network that runs where reparam is not imported, and
`reparam sample` says in one line that a classifier has nothing to sample."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from reparam.experiments.bnn_mnist import MNISTConfig, MNISTTrainer
from reparam.experiments.uci import UCIConfig, UCITrainer
from reparam.runs import load_run
from reparam.train import RunOptions, run
from tests.cli.console import assert_user_error, reparam
from tests.train.uci_fake import linear_set

RUN_EXPORTED = """
import sys, torch
program = torch.export.load(sys.argv[1]).module()
out = program(torch.rand(2, int(sys.argv[2])))
assert not any(name.startswith("reparam") for name in sys.modules), "reparam was imported"
print(*(tuple(t.shape) for t in (out if isinstance(out, tuple) else (out,))))
print(float((out[0] if isinstance(out, tuple) else out).sum()))
"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    options = {"progress": False, "tensorboard": False}
    mnist = MNISTConfig(dataset="digits", hidden=(16,), epochs=1, train_size=200, samples=4)
    run(MNISTTrainer, mnist, RunOptions(root / "mnist", **options))
    data = linear_set(root / "data")
    uci = UCIConfig("uci:yacht", epochs=2, checkpoints=1, samples=4, data_dir=str(data))
    run(UCITrainer, uci, RunOptions(root / "uci", **options))
    return root


def test_load_run_rebuilds_the_networks_from_the_config(runs) -> None:
    mnist = load_run(runs / "mnist")
    assert mnist.trainer == "bnn-mnist" and set(mnist.model) == {"bbb", "sgd", "dropout"}
    assert mnist.weights == "last" and "reliability" in mnist.pictures
    assert not mnist.model.training
    with torch.no_grad():
        assert mnist.model["sgd"](torch.zeros(3, 64)).shape == (3, 10)
    uci = load_run(runs / "uci")
    assert uci.trainer == "bnn-uci" and set(uci.model) == {"select", "final", "chosen"}
    assert uci.config.inputs == 3 and uci.config.splits == 2
    with pytest.raises(ValueError, match="not a generative model"):
        mnist.sample(4)


@pytest.mark.parametrize(
    ("name", "inputs", "shapes"), [("mnist", 64, "(2, 10)"), ("uci", 3, "(2, 2) (2, 2)")]
)
def test_export_runs_without_reparam(runs, tmp_path, name, inputs, shapes) -> None:
    target = tmp_path / f"{name}.pt2"
    outcome = reparam("export", str(runs / name), "--out", str(target))
    assert outcome.status == 0, outcome.stderr
    done = subprocess.run(
        [sys.executable, "-c", RUN_EXPORTED, str(target), str(inputs)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == shapes
    if name == "mnist":  # class probabilities: each row sums to one
        assert float(lines[1]) == pytest.approx(2.0, abs=1e-4)


def test_sample_on_a_bnn_run_is_one_error_line(runs, tmp_path) -> None:
    outcome = reparam("sample", str(runs / "mnist"), "--out", str(tmp_path / "s.png"))
    assert_user_error(outcome, "bnn-mnist run is not a generative model")

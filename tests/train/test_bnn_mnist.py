"""The MNIST classifiers on the engine: the run folder, the re-split, the predictive average,
the settings' checks, and exact resume (mid-epoch, and to more epochs through the console)."""

import json
import math
import os
import signal

import pytest
import torch

import reparam.experiments.bnn_mnist as bnn_mnist
from reparam.bayes import predict
from reparam.experiments.bnn_mnist import (
    MNISTConfig,
    MNISTResults,
    MNISTTrainer,
    load_split,
    predictive_log_probs,
)
from reparam.models.bnn import BayesMLP
from reparam.train import Interrupted, run
from reparam.train.checkpoint import load
from reparam.train.run_folder import read_metrics
from tests.cli.console import reparam_many
from tests.run_helpers import quiet_options

TINY = dict(dataset="digits", hidden=(16,), train_size=300, batch_size=50, samples=3, device="cpu")


def timeless(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if not k.endswith("seconds")} for row in rows]


def figures(out) -> list[dict]:
    models = json.loads((out / "results.json").read_text())["results"]["models"]
    return [{k: v for k, v in m.items() if not k.endswith("seconds")} for m in models]


def same_weights(a, b) -> bool:
    first, second = (load(folder / "checkpoint.pt")["model"] for folder in (a, b))
    return first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)


def test_end_to_end_on_digits(tmp_path) -> None:
    out = tmp_path / "run"
    result = run(
        MNISTTrainer, MNISTConfig(**{**TINY, "hidden": (32, 32), "epochs": 2}), quiet_options(out)
    )
    results = MNISTResults.read(out)
    assert [m.key for m in results.models] == ["bbb", "sgd", "dropout", "dropout-mc"]
    for model in results.models:
        for metric in ("test_error", "nll", "ece", "mce", "train_seconds"):
            assert math.isfinite(getattr(model, metric)), (model.key, metric)
        assert 0 <= model.test_error <= 100 and 0 <= model.ece <= 100
        assert model.nll > 0 and model.examples == 180 and model.calibration.total == 180
    assert results["bbb"].samples == 3 and results["dropout"].samples == 1
    assert "MC dropout: test error" in results.summary()
    for name in ("config.json", "metrics.csv", "results.json", "results.md", "reliability.png"):
        assert (out / name).stat().st_size > 0, name
    assert not (out / "best.pt").exists()  # no validation set: nothing to choose on
    rows = read_metrics(out / "metrics.csv")
    assert [r["epoch"] for r in rows] == [1, 2] and rows[0]["bbb_kl"] > 0
    assert rows[-1]["bbb_train_error"] == result.history[-1]["bbb_train_error"]
    saved = json.loads((out / "config.json").read_text())
    assert saved["hidden"] == [32, 32] and saved["trainer"] == "bnn-mnist"
    assert (saved["inputs"], saved["train_size"], saved["test_size"]) == (64, 300, 180)
    assert (saved["epochs"], saved["batch_size"], saved["init_std"]) == (2, 50, 0.01)
    table = (out / "results.md").read_text()
    assert "64–32–32–10" in table and "| BBB (scale mixture) |" in table


def test_plain_and_dropout_networks_start_from_the_same_weights() -> None:
    trainer = MNISTTrainer(MNISTConfig(**TINY), bnn_mnist_ranks())
    plain, dropout = trainer.model["sgd"], trainer.model["dropout"]
    linear = [m for m in dropout if isinstance(m, torch.nn.Linear)]
    assert all(torch.equal(a.weight, b.weight) for a, b in zip(plain[::2], linear, strict=True))


def bnn_mnist_ranks():
    from reparam.train.distributed import Ranks

    return Ranks(0, 1, torch.device("cpu"))


def test_mnist_test_is_the_registry_resplit(monkeypatch) -> None:
    def fake(name, split, data_dir=None):
        assert name == "mnist-resplit"
        start, rows = (0, 8000) if split == "train" else (8000, 2000)
        values = torch.arange(start, start + rows, dtype=torch.float32)
        return values[:, None].expand(-1, 784), torch.arange(rows) % 10

    monkeypatch.setattr(bnn_mnist, "load_labelled", fake)
    split = load_split("mnist-test")
    assert split.x_train.shape == (8000, 784) and split.x_test.shape == (2000, 784)
    assert split.x_train[[0, -1], 0].tolist() == [0, 7999]
    assert split.x_test[[0, -1], 0].tolist() == [8000, 9999]
    assert "re-split" in split.description
    small = load_split("mnist-test", train_size=100, test_size=50)
    assert small.x_train[-1, 0] == 99 and small.x_test[-1, 0] == 8049


def test_predictive_average_matches_predict() -> None:
    model = BayesMLP([6, 8, 4], task="classification", estimator="weight")
    x = torch.randn(7, 6)
    torch.manual_seed(3)
    mine = predictive_log_probs(model, x, 20).exp()
    torch.manual_seed(3)
    theirs = predict(model, x, samples=20).probs
    torch.testing.assert_close(mine, theirs)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"estimator": "dropout-A"}, "--estimator"),
        ({"kl_weighting": "linear"}, "--kl-weighting"),
        ({"dataset": "cifar"}, "--dataset"),
        ({"epochs": 0}, "--epochs must be > 0"),
        ({"batch_size": -3}, "--batch-size must be > 0"),
        ({"lr": math.nan}, "--lr must be a finite number"),
        ({"hidden": ()}, "--hidden"),
        ({"hidden": (0, 4)}, "--hidden"),
        ({"train_size": 0}, "--train-size"),
        ({"prior_sigma2": 2.0}, "--prior-sigma1 > --prior-sigma2"),
        ({"prior_pi": 1.0}, "--prior-pi"),
        ({"dropout": 1.0}, "--dropout"),
        ({"samples": 0}, "--samples"),
        ({"device": "tpu"}, "--device"),
    ],
)
def test_bad_settings_raise_naming_the_option(options, message) -> None:
    with pytest.raises(ValueError, match=message):
        MNISTConfig(**options)


def test_ctrl_c_mid_epoch_resumes_bit_for_bit(tmp_path, monkeypatch) -> None:
    config = MNISTConfig(**TINY, epochs=2)
    run(MNISTTrainer, config, quiet_options(tmp_path / "a"))
    original = MNISTTrainer.train_step

    def step_then_ctrl_c(self, period, index):
        original(self, period, index)
        if (period, index) == (1, 2):
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(MNISTTrainer, "train_step", step_then_ctrl_c)
    with pytest.raises(Interrupted, match="epoch 2, step 9"):
        run(MNISTTrainer, config, quiet_options(tmp_path / "b"))
    monkeypatch.setattr(MNISTTrainer, "train_step", original)
    run(MNISTTrainer, {}, quiet_options(tmp_path / "b", resume=True))
    rows = [read_metrics(tmp_path / name / "metrics.csv") for name in "ab"]
    assert timeless(rows[0]) == timeless(rows[1]) and len(rows[1]) == 2
    assert same_weights(tmp_path / "a", tmp_path / "b")
    assert figures(tmp_path / "a") == figures(tmp_path / "b")


def test_resume_to_more_epochs_through_the_console_equals_a_longer_run(tmp_path) -> None:
    common = ["train", "bnn", "--dataset", "digits", "--hidden", "16", "--train-size", "300"]
    common += ["--batch-size", "50", "--samples", "3", "--device", "cpu"]
    straight, first, resumed = reparam_many(
        [[*common, "--epochs", "2", "--out", str(tmp_path / "a")],
         [*common, "--epochs", "1", "--out", str(tmp_path / "b")],
         ["train", "bnn", "--out", str(tmp_path / "b"), "--resume", "--epochs", "2"]]
    )  # fmt: skip
    assert straight.status == 0, straight.stderr
    assert "BBB (scale mixture): test error" in straight.stdout
    assert first.status == 0, first.stderr
    assert resumed.status == 0, resumed.stderr
    rows = [read_metrics(tmp_path / name / "metrics.csv") for name in "ab"]
    assert timeless(rows[0]) == timeless(rows[1]) and len(rows[1]) == 2
    assert same_weights(tmp_path / "a", tmp_path / "b")
    assert figures(tmp_path / "a") == figures(tmp_path / "b")
    assert json.loads((tmp_path / "b" / "config.json").read_text())["epochs"] == 2

import csv
import json
import math

import pytest
import torch

import reparam.experiments.bnn_mnist as bnn_mnist
from reparam.bayes import predict
from reparam.experiments.bnn_mnist import (
    MNISTConfig,
    load_split,
    predictive_log_probs,
    train_mnist_classifiers,
)
from reparam.models.bnn import BayesMLP


def test_end_to_end_on_digits(tmp_path) -> None:
    out = tmp_path / "run"
    results = train_mnist_classifiers(
        dataset="digits",
        hidden=(32, 32),
        epochs=2,
        train_size=400,
        samples=5,
        mc_dropout=True,
        device="cpu",
        out=str(out),
        progress=False,
    )
    assert list(results) == ["bbb", "sgd", "dropout", "dropout-mc"]
    for name, result in results.items():
        for metric in ("test_error", "nll", "ece", "mce", "train_seconds"):
            assert math.isfinite(result[metric]), (name, metric)
        assert 0 <= result["test_error"] <= 100 and 0 <= result["ece"] <= 100
        assert result["nll"] > 0 and result["examples"] == 180
        assert sum(result["calibration"]["counts"]) == 180
    assert results["bbb"]["samples"] == 5 and results["dropout"]["samples"] == 1
    for name in ("config.json", "metrics.csv", "results.json", "results.md", "reliability.png"):
        assert (out / name).stat().st_size > 0, name
    with open(out / "metrics.csv") as file:
        rows = list(csv.DictReader(file))
    assert [(r["model"], int(r["epoch"])) for r in rows] == [
        (m, e) for m in ("bbb", "sgd", "dropout") for e in (1, 2)
    ]
    assert float(rows[0]["kl"]) > 0
    saved = json.loads((out / "results.json").read_text())
    assert saved["bbb"]["test_error"] == results["bbb"]["test_error"]
    assert json.loads((out / "config.json").read_text())["hidden"] == [32, 32]
    table = (out / "results.md").read_text()
    assert "64–32–32–10" in table and "| BBB (scale mixture) |" in table


def test_mnist_split_is_first_8000_then_last_2000(monkeypatch) -> None:
    def fake(name, split, data_dir=None):
        assert (name, split) == ("mnist-test", "test")
        return torch.arange(10_000.0)[:, None].expand(-1, 784), torch.arange(10_000) % 10

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
    "options",
    [
        {"estimator": "dropout-A"},
        {"kl_weighting": "linear"},
        {"dataset": "cifar"},
        {"epochs": 0},
        {"hidden": ()},
        {"train_size": 0},
        {"prior_sigma2": 2.0},
        {"dropout": 1.0},
    ],
)
def test_bad_settings_raise(options) -> None:
    with pytest.raises(ValueError):
        MNISTConfig(**options)

import json
import math

import pytest
import torch
from typer.testing import CliRunner

import reparam.cli.commands  # noqa: F401  (registers the commands on app)
from reparam.cli import app
from reparam.data import files
from reparam.data.registry import load_labelled
from reparam.experiments.bnn_variance import (
    ESTIMATOR_ORDER,
    NO_NOISE,
    BnnStudy,
    VarianceStudyConfig,
    VarianceStudyTrainer,
    gradient_variances,
    mean_log_likelihood,
    parse_sizes,
    set_noise,
)
from reparam.models import BayesMLP
from reparam.runs import load_run
from reparam.train import RunOptions, run
from reparam.train.checkpoint import load
from reparam.train.run_folder import read_metrics
from tests.run_helpers import strip_time

runner = CliRunner()


@pytest.fixture(scope="module")
def digits() -> tuple[torch.Tensor, torch.Tensor]:
    return load_labelled("digits", "train")


def tiny_model(hidden: int = 32, alpha: float = 1.0) -> BayesMLP:
    model = BayesMLP([64, hidden, 10], task="classification")
    set_noise(model, alpha)
    return model


def test_every_estimator_gives_finite_positive_variances(digits) -> None:
    x, y = digits
    model = tiny_model(16)
    result = gradient_variances(model, x, y, ESTIMATOR_ORDER, repeats=6, batch_size=50)
    assert list(result) == list(ESTIMATOR_ORDER)
    for estimator, stats in result.items():
        assert set(stats) == {
            (layer, p) for layer in ("top", "bottom") for p in ("weight_mu", "weight_rho")
        }
        for (_, parameter), estimate in stats.items():
            assert math.isfinite(estimate.value) and math.isfinite(estimate.stderr)
            if estimator == NO_NOISE and parameter == "weight_rho":
                assert estimate.value == 0  # only the closed-form KL reaches ρ: no variance
            else:
                assert estimate.value > 0 and estimate.stderr > 0
    assert model.layers[0].estimator == "local"  # restored


def test_local_reparameterization_beats_a_single_weight_sample_at_the_top(digits) -> None:
    """At initialization (σ = |μ|, α = 1), M = 100: the top layer's μ-gradient variance of one
    shared weight sample is about twice local reparameterization's (its noise does not average
    over the minibatch). 200 draws put the gap at 16-27 standard errors (batch-means SE over
    10 groups; ratio 1.96-2.11 on 8 seeds tried); we ask for 6 and a ratio above 1.3."""
    x, y = digits
    model = tiny_model(32)
    result = gradient_variances(model, x, y, ["local", "weight"], repeats=200, batch_size=100)
    local, single = result["local"][("top", "weight_mu")], result["weight"][("top", "weight_mu")]
    z = (single.value - local.value) / math.hypot(single.stderr, local.stderr)
    assert z > 6, (local, single)
    assert single.value > 1.3 * local.value


def test_minibatch_sampling_alone_gives_the_finite_population_variance(digits) -> None:
    """Without weight noise the only randomness is the minibatch, drawn without replacement:
    Var[(N/M) Σ_B g_i] = (N/M)² M s² (N − M)/(N − 1), s² the population variance of the
    per-example gradients g_i (exact, from N backward passes). Measured within 5 SE: the SE
    comes from 10 batch means (9 degrees of freedom) and a low variance estimate tends to come
    with a low SE, so the z-score has heavier tails than a normal's (|z| ≤ 1.8 on 7 of 8 seeds
    tried, 3.9 on the eighth)."""
    x, y = digits
    x, y = x[:300], y[:300]
    n, m = len(x), 30
    model = tiny_model(16)
    top, bottom = model.layers[-1].weight_mu, model.layers[0].weight_mu
    per_example = {"top": [], "bottom": []}
    for i in range(n):
        g_top, g_bottom = torch.autograd.grad(
            -mean_log_likelihood(model, x[i : i + 1], y[i : i + 1]), [top, bottom]
        )
        per_example["top"].append(g_top)
        per_example["bottom"].append(g_bottom)
    measured = gradient_variances(model, x, y, [NO_NOISE], repeats=400, batch_size=m)[NO_NOISE]
    for layer, grads in per_example.items():
        spread = torch.stack(grads).double().var(0, unbiased=False)
        exact = float(((n / m) ** 2 * m * spread * (n - m) / (n - 1)).mean())
        estimate = measured[(layer, "weight_mu")]
        assert abs(estimate.value - exact) < 5 * estimate.stderr, (layer, estimate, exact)


def test_set_noise_makes_sigma_proportional_to_mu() -> None:
    model = tiny_model(8, alpha=4.0)
    layer = model.layers[0]
    torch.testing.assert_close(layer.weight_sigma, (2 * layer.weight_mu.abs()).clamp_min(1e-8))
    with pytest.raises(ValueError, match="alpha"):
        set_noise(model, 0.0)


@pytest.fixture
def offline(tmp_path, monkeypatch) -> None:
    """No MNIST in an empty data folder, and every download fails: the digits fallback."""

    def fail(url, destination) -> None:
        raise OSError("no network in tests")

    monkeypatch.setattr(files, "download", fail)
    monkeypatch.setenv("REPARAM_DATA", str(tmp_path / "data"))


def test_variance_bnn_writes_table_plot_and_rows(tmp_path, offline) -> None:
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        [
            "variance",
            "--problem",
            "bnn",
            "--sizes",
            "64,16,10",
            "--epochs",
            "1",
            "--repeats",
            "4",
            "--estimators",
            "local,weight",
            "--out",
            str(out),
            "--device",
            "cpu",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "fell back to digits" in result.output
    assert "local reparameterization" in result.output and "7.8e+03" in result.output
    assert (out / "bnn.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    study = json.loads((out / "bnn.json").read_text())
    assert study["config"]["sizes"] == [64, 16, 10] and study["config"]["dataset"] == "digits"
    assert len(study["variance"]) == 2 * 2 * 2 * 2  # estimators × phases × layers × μ/ρ
    assert {r["estimator"] for r in study["timing"]} == {"deterministic", "local", "weight"}
    assert all(r["seconds_per_epoch"] > 0 for r in study["timing"])
    config = json.loads((out / "config.json").read_text())
    assert config["trainer"] == "bnn-variance" and config["train_size"] == 1437
    assert config["dataset"] == "digits" and "init_std" not in config  # alpha sets σ
    assert [row["epoch"] for row in read_metrics(out / "metrics.csv")] == [1]


def test_a_resumed_study_equals_a_straight_one(tmp_path) -> None:
    """Training through the engine: two epochs straight, or one and a resume, give the same
    metrics, weights and measured variances (the timings aside)."""
    settings = {
        "sizes": (64, 8, 10),
        "repeats": 3,
        "batch_size": 200,
        "dataset": "digits",
        "estimators": ("local", "none"),
        "min_seconds": 0.0,
    }
    options = {"progress": False, "tensorboard": False}
    a, b = tmp_path / "a", tmp_path / "b"
    straight = run(VarianceStudyTrainer, {**settings, "epochs": 2}, RunOptions(a, **options))
    run(VarianceStudyTrainer, {**settings, "epochs": 1}, RunOptions(b, **options))
    resumed = run(VarianceStudyTrainer, {"epochs": 2}, RunOptions(b, resume=True, **options))
    assert strip_time(resumed.history) == strip_time(straight.history)
    for name, tensor in load(a / "checkpoint.pt")["model"].items():
        assert torch.equal(tensor, load(b / "checkpoint.pt")["model"][name]), name
    first, second = BnnStudy.read(a / "bnn.json"), BnnStudy.read(b / "bnn.json")
    assert first.variance == second.variance and len(first.variance) == 2 * 2 * 4
    assert second.config["epochs"] == 2 and first.summary().startswith("64-8-10 on 1437 digits")


def test_the_study_run_loads_back(tmp_path) -> None:
    settings = {"sizes": (64, 8, 10), "epochs": 1, "repeats": 2, "dataset": "digits"}
    out = tmp_path / "run"
    run(
        VarianceStudyTrainer,
        {**settings, "estimators": ("local",), "min_seconds": 0.0},
        RunOptions(out, progress=False, tensorboard=False),
    )
    loaded = load_run(out)
    assert loaded.weights == "last" and set(loaded.pictures) == {"bnn"}
    assert isinstance(loaded.model, BayesMLP) and loaded.config.sizes == (64, 8, 10)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"sizes": (64, 8, 3), "dataset": "digits"}, "the 10 classes"),
        ({"sizes": (784, 8, 10), "dataset": "digits"}, "use 64,8,10"),
        ({"dataset": "digits", "train_size": 5000}, "more than the 1437 training examples"),
        ({"dataset": "digits", "batch_size": 2000}, "--batch-size 2000 is more than"),
        ({"dataset": "mnist"}, "missing"),  # offline: strict MNIST says which files
    ],
)
def test_the_study_refuses_what_does_not_fit_the_data(tmp_path, offline, settings, message):
    with pytest.raises(ValueError, match=message):
        run(VarianceStudyTrainer, settings, RunOptions(tmp_path / "run", progress=False))


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"estimators": ("magic",)}, "unknown estimator"),
        ({"estimators": ()}, "names none"),
        ({"estimators": ("local", "local")}, "twice"),
        ({"dataset": "cifar"}, "unknown --dataset"),
        ({"alpha": 0.0}, "--alpha must be > 0"),
        ({"alpha": float("nan")}, "--alpha must be a finite number"),
        ({"repeats": 1}, "--repeats must be >= 2"),
        ({"epochs": 0}, "--epochs must be > 0"),
        ({"sizes": (64,)}, "two or more"),
        ({"train_estimator": "none"}, "unknown train estimator"),
    ],
)
def test_bad_settings_name_the_option(settings, message) -> None:
    with pytest.raises(ValueError, match=message):
        VarianceStudyConfig(**settings)


def test_parse_sizes_names_the_option() -> None:
    assert parse_sizes("64, 32,10") == [64, 32, 10]
    with pytest.raises(ValueError, match="--sizes must be comma-separated widths"):
        parse_sizes("64,x,10")
    with pytest.raises(ValueError, match="--sizes needs two or more widths"):
        parse_sizes("64")

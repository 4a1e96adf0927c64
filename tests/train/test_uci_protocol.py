"""The UCI protocol: normalization, metrics in original units, the budget, the table, and a
run that learns."""

import json
import math
import os
from pathlib import Path

import pytest
import torch

from reparam.data.uci import UCIDataset, load_uci
from reparam.experiments.uci import (
    Scaled,
    UCIConfig,
    UCIResult,
    UCITrainer,
    budget,
    held_out_metrics,
    run_uci,
    scale,
)
from reparam.experiments.uci_table import PUBLISHED, uci_table
from reparam.train.distributed import Ranks
from tests.cli.console import reparam
from tests.train.uci_fake import linear_set

SHARED = Path(os.environ.get("REPARAM_DATA", "/nonexistent"))


def test_scale_normalizes_each_replica_by_its_own_fit_rows() -> None:
    x = torch.arange(20, dtype=torch.float64).reshape(10, 2) ** 1.5
    y = torch.arange(10, dtype=torch.float64) ** 2
    fit_rows = torch.tensor([[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]])
    test_rows = torch.tensor([[9], [0]])
    fitted, held_out = scale(x, y, fit_rows, test_rows)
    torch.testing.assert_close(fitted.x.mean(1), torch.zeros(2, 2), atol=1e-6, rtol=0)
    torch.testing.assert_close(fitted.x.std(1), torch.ones(2, 2))
    torch.testing.assert_close(fitted.y.std(1), torch.ones(2))
    back = held_out.y.double() * held_out.y_std[:, None] + held_out.y_mean[:, None]
    torch.testing.assert_close(back, y[test_rows], rtol=1e-6, atol=1e-4)


class Fixed(torch.nn.Module):
    """A 'network' whose draws are known: output = x[..., 0] + noise from a fixed list."""

    def __init__(self, draws: list[float], noise_std: float) -> None:
        super().__init__()
        self.draws = iter(draws)
        self.log_noise_std = torch.nn.Parameter(torch.full((1,), math.log(noise_std)))

    def forward(self, x):
        return x[..., 0] + next(self.draws)


def test_metrics_are_in_original_units() -> None:
    data = Scaled(
        x=torch.tensor([[[0.5], [-1.0]]]),
        y=torch.tensor([[0.2, -0.4]]),
        x_mean=torch.zeros(1, 1, 1, dtype=torch.float64),
        x_std=torch.ones(1, 1, 1, dtype=torch.float64),
        y_mean=torch.tensor([10.0], dtype=torch.float64),
        y_std=torch.tensor([4.0], dtype=torch.float64),
    )
    rmse, log_lik = held_out_metrics(Fixed([0.1, -0.3], noise_std=0.5), data, samples=2)
    means = torch.tensor([[0.6, -0.9], [0.2, -1.3]], dtype=torch.float64)
    y = torch.tensor([0.2, -0.4], dtype=torch.float64)
    expected_rmse = ((means.mean(0) - y) ** 2).mean().sqrt() * 4
    density = torch.exp(-0.5 * ((y - means) / 0.5) ** 2) / (0.5 * math.sqrt(2 * math.pi))
    expected_ll = torch.log(density.mean(0)).mean() - math.log(4)
    torch.testing.assert_close(rmse, expected_rmse[None])
    torch.testing.assert_close(log_lik, expected_ll[None])


def test_protocol_learns_a_linear_function(tmp_path) -> None:
    linear_set(tmp_path)
    config = UCIConfig(
        dataset="uci:yacht",
        epochs=40,
        batch_size=16,
        lr=1e-2,
        prior_sigmas=(0.3, 1.0),
        checkpoints=4,
        samples=20,
        data_dir=str(tmp_path),
        device="cpu",
    )
    result = run_uci(config, tmp_path / "run", progress=False)
    assert len(result.rmse) == len(result.log_likelihood) == 2
    assert set(result.prior_sigma) <= {0.3, 1.0}
    assert set(result.epochs) <= {10, 20, 30, 40}
    # y's standard deviation is about 3.2 and the noise 0.1: a fit must get well below 1.
    assert max(result.rmse) < 1.0
    assert min(result.log_likelihood) > -1.5
    saved = json.loads((tmp_path / "run" / "results.json").read_text())
    assert tuple(saved["result"]["rmse"]) == result.rmse
    assert saved["config"]["epochs"] == 40 and saved["config"]["splits"] == 2
    assert "yacht, 2 splits: test RMSE" in result.summary()


def test_config_resolves_per_data_set_defaults_and_records_the_data(tmp_path) -> None:
    linear_set(tmp_path)
    config = UCIConfig("yacht", data_dir=str(tmp_path), device="cpu")
    assert config.dataset == "uci:yacht" and config.init_std == 1e-3
    trainer = UCITrainer(config, Ranks(0, 1, torch.device("cpu")))
    epochs, batch = budget(load_uci("yacht", tmp_path))
    resolved = trainer.config
    assert (resolved.epochs, resolved.batch_size, resolved.splits) == (epochs, batch, 2)
    assert (resolved.inputs, resolved.hidden_units) == (3, 16)
    assert trainer.periods == 2 * epochs
    assert [trainer.where(p) for p in (0, epochs - 1, epochs, 2 * epochs - 1)] == [
        (0, 1),
        (0, epochs),
        (1, 1),
        (1, epochs),
    ]


def test_bad_settings_are_refused(tmp_path) -> None:
    linear_set(tmp_path)
    for options, message in [
        ({"valid_fraction": 1.5}, "--valid-fraction"),
        ({"estimator": "magic"}, "unknown --estimator 'magic'"),
        ({"kl_weighting": "lumpy"}, "unknown --kl-weighting"),
        ({"splits": 0}, "--splits must be > 0"),
        ({"epochs": 0}, "--epochs must be > 0"),
        ({"lr": math.nan}, "--lr must be a finite number"),
        ({"prior_sigmas": ()}, "--prior-sigmas"),
        ({"prior_sigmas": (0.1, -1.0)}, "--prior-sigmas"),
        ({"seed": -1}, "--seed"),
    ]:
        with pytest.raises(ValueError, match=message):
            UCIConfig("yacht", data_dir=str(tmp_path), **options)
    with pytest.raises(ValueError, match="unknown UCI set"):
        UCIConfig("uci:nope")
    with pytest.raises(ValueError, match="--splits must be at most 2"):
        run_uci(UCIConfig("yacht", splits=3, data_dir=str(tmp_path)), tmp_path / "a")
    with pytest.raises(FileNotFoundError, match="REPARAM_DATA"):
        run_uci(UCIConfig("boston", data_dir=str(tmp_path)), tmp_path / "b")


def test_budget_gives_small_sets_more_passes() -> None:
    def fake(rows: int) -> UCIDataset:
        index = torch.arange(rows)
        return UCIDataset("x", torch.zeros(rows, 1), torch.zeros(rows), (index,), (index,), 50)

    small, large = budget(fake(300)), budget(fake(40_000))
    assert small[1] == 32 and large[1] == 128
    assert small[0] > large[0] >= 40


def test_table_compares_with_the_published_columns() -> None:
    result = UCIResult("boston", (3.0, 3.2), (-2.5, -2.6), (1.0, 1.0), (10, 10), 1.0)
    markdown = uci_table([result], "test")
    assert "| boston | 2 | 3.10 ± 0.10 | 4.32 | 3.01 | 2.97 | -2.55 ± 0.05 |" in markdown
    assert "| yes | yes |" in markdown
    assert len(PUBLISHED) == 9
    assert UCIResult.from_dict(result.to_dict()) == result


@pytest.mark.skipif(
    not (SHARED / "uci" / "yacht" / "data.txt").is_file(), reason="no UCI data in $REPARAM_DATA"
)
def test_two_splits_of_yacht_from_the_command_line(tmp_path) -> None:
    out = tmp_path / "run"
    outcome = reparam(
        *("train", "bnn", "--dataset", "uci:yacht", "--splits", "2", "--epochs", "20"),
        *("--samples", "10", "--data-dir", str(SHARED), "--out", str(out), "--device", "cpu"),
    )
    assert outcome.status == 0, outcome.stderr
    assert "yacht, 2 splits: test RMSE" in outcome.stdout
    saved = json.loads((out / "results.json").read_text())["result"]
    assert len(saved["rmse"]) == 2 and all(math.isfinite(v) for v in saved["log_likelihood"])
    assert (out / "results.md").read_text().startswith("Test RMSE and test log-likelihood")

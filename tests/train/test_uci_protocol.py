import json
import math
import os
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from reparam.cli import app
from reparam.data.uci import UCIDataset
from reparam.experiments.uci import UCIConfig, UCIResult, budget, held_out_metrics, run_uci, scale
from reparam.experiments.uci_table import PUBLISHED, uci_table

SHARED = Path(os.environ.get("REPARAM_DATA", "/nonexistent"))
runner = CliRunner()


def linear_set(root: Path, rows: int = 120, splits: int = 2, noise: float = 0.1) -> None:
    """y = 3·x0 − x1 + noise, written in the UCI layout under root/uci/yacht."""
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(rows, 3, generator=generator, dtype=torch.float64)
    y = 3 * x[:, 0] - x[:, 1] + noise * torch.randn(rows, generator=generator, dtype=torch.float64)
    folder = root / "uci" / "yacht"
    folder.mkdir(parents=True)
    table = torch.cat([x, y[:, None]], 1)
    (folder / "data.txt").write_text(
        "\n".join(" ".join(f"{v:.10f}" for v in r) for r in table.tolist())
    )
    (folder / "index_features.txt").write_text("0\n1\n2\n")
    (folder / "index_target.txt").write_text("3\n")
    (folder / "n_splits.txt").write_text(f"{splits}\n")
    (folder / "n_hidden.txt").write_text("16\n")
    test = rows // 10
    for s in range(splits):
        order = torch.randperm(rows, generator=generator).tolist()
        (folder / f"index_train_{s}.txt").write_text("\n".join(map(str, order[test:])))
        (folder / f"index_test_{s}.txt").write_text("\n".join(map(str, order[:test])))


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
    from reparam.experiments.uci import Scaled

    data = Scaled(
        x=torch.tensor([[[0.5], [-1.0]]]),
        y=torch.tensor([[0.2, -0.4]]),
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
    result = run_uci(
        UCIConfig(
            dataset="uci:yacht",
            epochs=60,
            batch_size=16,
            lr=1e-2,
            prior_sigmas=(0.3, 1.0),
            checkpoints=4,
            samples=20,
            data_dir=str(tmp_path),
            out=str(tmp_path / "run"),
        ),
        progress=False,
    )
    assert len(result.rmse) == len(result.log_likelihood) == 2
    assert set(result.prior_sigma) <= {0.3, 1.0}
    assert set(result.epochs) <= {15, 30, 45, 60}
    # y's standard deviation is about 3.2 and the noise 0.1: a fit must get well below 1.
    assert max(result.rmse) < 1.0
    assert min(result.log_likelihood) > -1.5
    saved = json.loads((tmp_path / "run" / "results.json").read_text())
    assert saved["rmse"] == result.rmse and saved["config"]["epochs"] == 60


def test_bad_settings_are_refused(tmp_path) -> None:
    linear_set(tmp_path)
    with pytest.raises(ValueError, match="valid_fraction"):
        run_uci(UCIConfig("yacht", valid_fraction=1.5, data_dir=str(tmp_path)), progress=False)
    with pytest.raises(ValueError, match="weight-noise estimator"):
        run_uci(UCIConfig("yacht", estimator="magic", data_dir=str(tmp_path)), progress=False)
    with pytest.raises(ValueError, match="KL weighting"):
        run_uci(
            UCIConfig("yacht", epochs=1, kl_weighting="lumpy", data_dir=str(tmp_path)),
            progress=False,
        )
    with pytest.raises(FileNotFoundError, match="REPARAM_DATA"):
        run_uci(UCIConfig("boston", data_dir=str(tmp_path)), progress=False)


def test_budget_gives_small_sets_more_passes() -> None:
    def fake(rows: int) -> UCIDataset:
        index = torch.arange(rows)
        return UCIDataset("x", torch.zeros(rows, 1), torch.zeros(rows), (index,), (index,), 50)

    small, large = budget(fake(300)), budget(fake(40_000))
    assert small[1] == 32 and large[1] == 128
    assert small[0] > large[0] >= 40


def test_table_compares_with_the_published_columns() -> None:
    result = UCIResult("boston", [3.0, 3.2], [-2.5, -2.6], [1.0, 1.0], [10, 10], 1.0)
    markdown = uci_table([result], "test")
    assert "| boston | 2 | 3.10 ± 0.10 | 4.32 | 3.01 | 2.97 | -2.55 ± 0.05 |" in markdown
    assert "| yes | yes |" in markdown
    assert len(PUBLISHED) == 9


@pytest.mark.skipif(
    not (SHARED / "uci" / "yacht" / "data.txt").is_file(), reason="no UCI data in $REPARAM_DATA"
)
def test_two_splits_of_yacht_from_the_command_line(tmp_path) -> None:
    out = tmp_path / "run"
    result = runner.invoke(
        app,
        [
            *("train", "bnn", "--dataset", "uci:yacht", "--splits", "2", "--epochs", "20"),
            *("--data-dir", str(SHARED), "--out", str(out), "--device", "cpu"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "yacht, 2 splits, local" in result.output
    saved = json.loads((out / "results.json").read_text())
    assert len(saved["rmse"]) == 2 and all(math.isfinite(v) for v in saved["log_likelihood"])

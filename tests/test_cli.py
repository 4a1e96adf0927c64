import json

import torch
from typer.testing import CliRunner

from reparam.cli import app

runner = CliRunner()


def test_help_lists_the_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "variance" in result.output


def test_variance_writes_table_plot_and_rows(tmp_path) -> None:
    result = runner.invoke(
        app,
        ["variance", "--k", "1", "--repeats", "4000", "--out", str(tmp_path), "--device", "cpu"],
    )
    assert result.exit_code == 0, result.output
    assert "pathwise" in result.output and "74" in result.output  # the exact σ-variance of score
    png = tmp_path / "quadratic.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = json.loads((tmp_path / "quadratic.json").read_text())
    assert {r["estimator"] for r in rows} == {"pathwise", "score", "score+moving-average"}


def test_variance_on_every_problem(tmp_path) -> None:
    for problem in ("exp", "cosine", "categorical", "gamma"):
        result = runner.invoke(
            app,
            [
                "variance",
                "--problem",
                problem,
                "--k",
                "1",
                "--n",
                "2",
                "--repeats",
                "200",
                "--out",
                str(tmp_path),
            ],
        )
        assert result.exit_code == 0, result.output
        assert (tmp_path / f"{problem}.png").exists()


def test_variance_rejects_bad_input(tmp_path) -> None:
    for args, message in [
        (["--problem", "poisson"], "unknown problem"),
        (["--k", "one"], "comma-separated numbers"),
        (["--estimators", "magic"], "unknown estimator"),
    ] + ([] if torch.cuda.is_available() else [(["--device", "cuda"], "no GPU")]):
        result = runner.invoke(app, ["variance", *args, "--out", str(tmp_path), "--repeats", "10"])
        assert result.exit_code != 0
        assert message in result.output, result.output

import json
import subprocess
import sys

from typer.testing import CliRunner

import reparam.cli.commands  # noqa: F401  (registers the commands on app)
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


def test_the_fit_and_variance_modules_do_not_import_pyplot() -> None:
    """matplotlib is imported only when a picture is drawn (reparam.plots.pyplot): importing
    the commands, experiments and plot modules of these areas leaves pyplot out, and so does
    importing every command (what `reparam --help` does)."""
    modules = (
        "reparam.cli.fit",
        "reparam.cli.variance",
        "reparam.experiments.fitting",
        "reparam.experiments.ctc_demo",
        "reparam.experiments.bnn_variance",
        "reparam.experiments.bnn_report",
        "reparam.plots.latent",
        "reparam.plots.variance",
        "reparam.plots.bnn_variance",
        "reparam.diagnostics",
    )
    for code in (
        f"import sys, {', '.join(modules)}",
        "import sys, reparam.cli.commands",
    ):
        check = code + "; assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'"
        done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True)
        assert done.returncode == 0, (code, done.stderr[-2000:])

"""``reparam repro draw`` end to end, tiny: both variants a few steps on the 8x8 digits through
the command line; TABLE.md and TABLE.json beside the paper's numbers, the pictures, resume."""

from __future__ import annotations

import json
import math

from typer.testing import CliRunner

import reparam.cli.commands  # noqa: F401  (registers the commands on app)
from reparam.cli import app

runner = CliRunner()
TINY = [
    "--dataset", "digits", "--epochs", "1", "--subset", "100", "--glimpses", "2", "--hidden", "8",
    "--latent", "2", "--read-size", "2", "--write-size", "2", "--batch-size", "50",
    "--eval-k", "5", "--eval-subset", "40", "--device", "cpu",
]  # fmt: skip


def test_tiny_table_through_the_cli(tmp_path) -> None:
    out = tmp_path / "table"
    result = runner.invoke(app, ["repro", "draw", *TINY, "--out", str(out)])
    assert result.exit_code == 0, result.output
    lines = (out / "TABLE.md").read_text().splitlines()
    rows = [line for line in lines if line.startswith("| DRAW")]
    assert [row.split("|")[2].strip() for row in rows] == ["≤ 87.40", "≤ 80.97"]
    for row in rows:
        ours = [cell.strip().lstrip("≤ ") for cell in row.split("|")[3:6]]
        assert all(math.isfinite(float(value)) and float(value) > 0 for value in ours)
    saved = json.loads((out / "TABLE.json").read_text())
    assert [r["variant"] for r in saved["rows"]] == ["no-attention", "attention"]
    assert saved["settings"]["eval_k"] == 5 and saved["rows"][0]["steps"] == 2
    for variant in ("no-attention", "attention"):
        assert (out / variant / "canvas.png").exists() and (out / variant / "canvas.gif").exists()
        assert f"]({variant}/canvas.gif)" in "\n".join(lines)
    config = json.loads((out / "no-attention" / "config.json").read_text())
    assert config["attention"] is False and "read_size" not in config
    more = [*TINY[:3], "2", *TINY[4:]]  # --epochs 2
    again = runner.invoke(
        app, ["repro", "draw", *more, "--variants", "attention", "--out", str(out), "--resume"]
    )
    assert again.exit_code == 0, again.output
    rows = json.loads((out / "TABLE.json").read_text())["rows"]
    assert [(r["variant"], r["epochs"], r["steps"]) for r in rows] == [("attention", 2, 4)]


def test_bad_variants_are_refused(tmp_path) -> None:
    result = runner.invoke(
        app, ["repro", "draw", *TINY, "--variants", "lstm", "--out", str(tmp_path)]
    )
    assert isinstance(result.exception, ValueError)  # the console script prints "error: ..."
    assert "--variants must name some of no-attention, attention" in str(result.exception)

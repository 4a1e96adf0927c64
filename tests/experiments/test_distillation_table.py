"""``reparam repro distillation`` on the small corpus: the teacher and the four students are
trained, the table names each, a second call reuses the finished runs, and the aligned step
is the first validation past both thresholds."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import reparam.cli.commands  # noqa: F401  (registers the commands on app)
from reparam.cli import app
from reparam.data.speech import espeak
from reparam.experiments.distillation_table import aligned_at
from tests.run_helpers import arguments

pytestmark = [
    pytest.mark.skipif(not espeak.available(), reason=espeak.INSTALL),
    pytest.mark.usefixtures("speech_cache"),
]
runner = CliRunner()
TINY = {"recipe": "tts-small", "r": 2, "teacher_units": 32, "student_units": 16,
        "teacher_steps": 4, "steps": 4, "eval_every": 2, "embedding": 16, "attention_rnn": 32,
        "decoder_rnn": 32, "postnet_channels": 16, "batch_size": 2, "eval_frames": 60,
        "device": "cpu"}  # fmt: skip


def test_the_table_has_the_teacher_and_every_student_and_reuses_runs(tmp_path) -> None:
    out = tmp_path / "repro"
    command = ["repro", "distillation", *arguments(TINY), "--out", str(out)]
    result = runner.invoke(app, command)
    assert result.exit_code == 0, result.output
    table = (out / "TABLE.md").read_text()
    for label in ("| teacher |", "| student alone |", "| student + attention KL |",
                  "| student + attention KL + soft targets |", "| student + guided attention |"):  # fmt: skip
        assert label in table, table
    rows = json.loads((out / "TABLE.json").read_text())["rows"]
    assert set(rows) == {"teacher", "alone", "distilled", "soft targets", "guided"}
    assert all(row["steps"] == 4 and row["first_validation"] == 2 for row in rows.values())
    student = json.loads((out / "student-distilled" / "config.json").read_text())
    assert student["encoder_units"] == 16 and student["distill_weight"] == 1.0
    assert student["teacher"] == str((out / "teacher").resolve())
    stamp = (out / "teacher" / "best.pt").stat().st_mtime_ns
    again = runner.invoke(app, [*command, "--soft-target-weight", "0"])
    assert again.exit_code == 0, again.output
    assert (out / "teacher" / "best.pt").stat().st_mtime_ns == stamp
    assert "soft targets" not in (out / "TABLE.md").read_text().split("Settings")[0]


def test_aligned_at_is_the_first_row_past_both_thresholds() -> None:
    rows = [{"step": 25, "valid_focus": 0.4, "valid_diagonal": 0.5},
            {"step": 50, "valid_focus": 0.2, "valid_diagonal": 0.9},
            {"step": 75, "valid_focus": 0.3, "valid_diagonal": 0.8}]  # fmt: skip
    assert aligned_at(rows, 0.3, 0.8) == 75
    assert aligned_at(rows, 0.5, 0.8) is None


def test_bad_thresholds_are_one_line_errors(tmp_path) -> None:
    result = runner.invoke(app, ["repro", "distillation", "--focus", "0", "--out", str(tmp_path)])
    assert result.exit_code != 0 and "--focus and --diagonal" in str(result.exception)

"""The command line as a whole: help, version, unknown names, and run commands' errors."""

from __future__ import annotations

import subprocess
import sys

from tests.cli.console import assert_user_error, reparam

MODELS = ("vae", "iwae", "flow-vae", "cat-vae", "conv-vae", "bnn", "wgan")


def test_short_and_long_help_and_version() -> None:
    for flag in ("-h", "--help"):
        outcome = reparam(flag)
        assert outcome.status == 0 and "train" in outcome.stdout
    outcome = reparam("--version")
    assert outcome.status == 0 and outcome.stdout.startswith("reparam ")
    outcome = reparam("train", "-h")
    assert outcome.status == 0 and "<bool>" not in outcome.stdout


def test_unknown_model_lists_every_model() -> None:
    outcome = reparam("train", "foo")
    assert_user_error(outcome, "unknown model 'foo'", *MODELS)


def test_each_model_has_its_own_help() -> None:
    for model in MODELS:
        outcome = reparam("train", model, "-h")
        assert outcome.status == 0, (model, outcome.stderr)
        assert "<bool>" not in outcome.stdout


def test_unknown_command_and_option_are_one_line() -> None:
    assert_user_error(reparam("frobnicate"), "frobnicate")
    assert_user_error(reparam("train", "iwae", "--no-such-option"), "--no-such-option")


def test_run_commands_on_missing_or_foreign_folders(tmp_path) -> None:
    assert_user_error(reparam("sample", str(tmp_path / "nothing")), "no run folder")
    (tmp_path / "plain").mkdir()
    assert_user_error(reparam("export", str(tmp_path / "plain")), "config.json")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text("{not json")
    assert_user_error(reparam("sample", str(tmp_path / "broken")), "not valid JSON")
    assert_user_error(reparam("sample", str(tmp_path / "plain"), "--n", "0"), "--n")


def test_help_does_not_import_pyplot() -> None:
    code = (
        "import sys; from reparam.cli import main\n"
        "try:\n main(['--help'])\nexcept SystemExit:\n pass\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]


def test_architecture_mismatch_is_one_line(tmp_path) -> None:
    small, large = str(tmp_path / "small"), str(tmp_path / "large")
    common = ("--epochs", "1", "--subset", "50", "--device", "cpu")
    assert reparam("train", "iwae", *common, "--out", small).status == 0
    assert reparam("train", "iwae", *common, "--layers", "2", "--out", large).status == 0
    for name in ("checkpoint.pt", "best.pt"):  # a two-layer model's weights in a one-layer run
        (tmp_path / "small" / name).write_bytes((tmp_path / "large" / name).read_bytes())
    assert_user_error(
        reparam("train", "iwae", "--epochs", "2", "--out", small, "--resume"), "does not fit"
    )
    assert_user_error(reparam("sample", small, "--out", str(tmp_path / "s.png")), "does not fit")
    assert_user_error(
        reparam("train", "cat-vae", "--epochs", "2", "--out", small, "--resume"),
        "holds a run of iwae, not of cat-vae",
    )

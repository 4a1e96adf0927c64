"""The command line as a whole: help, version, unknown names, and run commands' errors."""

from __future__ import annotations

import subprocess
import sys

from tests.cli.console import assert_user_error, reparam, reparam_many

MODELS = ("vae", "iwae", "flow-vae", "cat-vae", "conv-vae", "bnn", "wgan")


def test_short_and_long_help_and_version() -> None:
    short, long, version, train = reparam_many([["-h"], ["--help"], ["--version"], ["train", "-h"]])
    for outcome in (short, long):
        assert outcome.status == 0 and "train" in outcome.stdout
    assert version.status == 0 and version.stdout.startswith("reparam ")
    assert train.status == 0 and "<bool>" not in train.stdout


def test_unknown_model_lists_every_model() -> None:
    outcome = reparam("train", "foo")
    assert_user_error(outcome, "unknown model 'foo'", *MODELS)


def test_each_model_has_its_own_help() -> None:
    for model, outcome in zip(
        MODELS, reparam_many([["train", m, "-h"] for m in MODELS]), strict=True
    ):
        assert outcome.status == 0, (model, outcome.stderr)
        assert "<bool>" not in outcome.stdout


def test_unknown_command_and_option_are_one_line() -> None:
    command, option = reparam_many([["frobnicate"], ["train", "iwae", "--no-such-option"]])
    assert_user_error(command, "frobnicate")
    assert_user_error(option, "--no-such-option")


def test_run_commands_on_missing_or_foreign_folders(tmp_path) -> None:
    (tmp_path / "plain").mkdir()
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text("{not json")
    cases = [
        (["sample", str(tmp_path / "nothing")], "no run folder"),
        (["export", str(tmp_path / "plain")], "config.json"),
        (["sample", str(tmp_path / "broken")], "not valid JSON"),
        (["sample", str(tmp_path / "plain"), "--n", "0"], "--n"),
    ]
    for (_, fragment), outcome in zip(cases, reparam_many([a for a, _ in cases]), strict=True):
        assert_user_error(outcome, fragment)


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
    trained = reparam_many(
        [["train", "iwae", *common, "--out", small],
         ["train", "iwae", *common, "--layers", "2", "--out", large]]
    )  # fmt: skip
    assert [outcome.status for outcome in trained] == [0, 0], trained
    for name in ("checkpoint.pt", "best.pt"):  # a two-layer model's weights in a one-layer run
        (tmp_path / "small" / name).write_bytes((tmp_path / "large" / name).read_bytes())
    resumed, sampled, other = reparam_many(
        [["train", "iwae", "--epochs", "2", "--out", small, "--resume"],
         ["sample", small, "--out", str(tmp_path / "s.png")],
         ["train", "cat-vae", "--epochs", "2", "--out", small, "--resume"]]
    )  # fmt: skip
    assert_user_error(resumed, "does not fit")
    assert_user_error(sampled, "does not fit")
    assert_user_error(other, "holds a run of iwae, not of cat-vae")

"""`reparam train wgan`: every user error is one `error:` line naming the option, exit 2."""

from __future__ import annotations

import codecs

import pytest

from reparam.experiments.wgan import WGANTrainer
from reparam.train import RunOptions, run
from tests.cli.console import assert_user_error, reparam

TINY = {"steps": 2, "batch_size": 8, "critic_steps": 1, "hidden": 8, "eval_points": 8,
        "device": "cpu"}  # fmt: skip

# (arguments, fragments the error line must hold)
CASES = [
    (["--steps", "0"], ["--steps must be > 0"]),
    (["--steps", "many"], ["'--steps'", "integer"]),
    (["--critic-steps", "0"], ["--critic-steps must be > 0"]),
    (["--batch-size", "-5"], ["--batch-size must be > 0"]),
    (["--lr", "nan"], ["--lr must be a finite number"]),
    (["--lr", "0"], ["--lr must be > 0"]),
    (["--lipschitz", "gp", "--gp-lambda", "-1"], ["--gp-lambda must be > 0"]),
    (["--clip", "0"], ["--clip must be > 0"]),
    (["--noise-dim", "0"], ["--noise-dim must be > 0"]),
    (["--hidden", "0"], ["--hidden must be > 0"]),
    (["--log-every", "0"], ["--log-every must be > 0"]),
    (["--eval-points", "1"], ["--eval-points must be >= 2"]),
    (["--seed", "-1"], ["--seed must be a whole number >= 0"]),
    (["--lipschitz", "spectral"], ["unknown --lipschitz 'spectral'", "clip, gp"]),
    (["--dataset", "moons"], ["unknown --dataset 'moons'", "ring", ".csv"]),
    (["--lipschitz", "clip", "--gp-lambda", "5"], ["--gp-lambda applies to --lipschitz gp"]),
    (["--lipschitz", "gp", "--clip", "0.1"], ["--clip applies to --lipschitz clip"]),
    (["--subset", "10"], ["--subset applies to a data set, not the ring"]),
    (["--data-dir", "/tmp"], ["--data-dir applies to the registry's data sets"]),
    (["--dataset", "digits", "--subset", "99999"], ["--subset 99999 exceeds the 1437"]),
    (["--device", "tpu"], ["unknown --device 'tpu'"]),
]


@pytest.mark.parametrize(("args", "fragments"), CASES, ids=[" ".join(a) for a, _ in CASES])
def test_bad_options(tmp_path, args, fragments) -> None:
    out = tmp_path / "run"
    assert_user_error(reparam("train", "wgan", *args, "--out", str(out)), *fragments)
    assert not (out / "checkpoint.pt").exists()


def test_bad_files_of_ones_own(tmp_path) -> None:
    bom = tmp_path / "bom.csv"
    bom.write_bytes(codecs.BOM_UTF8 + b"x,y\n1,2\n3,4\n5,6\n")
    text = tmp_path / "text.csv"
    text.write_text("x,y\n1,2\n3,four\n")
    for path, fragment in (
        (bom, "byte-order mark"),
        (text, "line 3 has a cell 'four' that is not a number"),
        (tmp_path / "missing.npy", "no such file"),
    ):
        outcome = reparam("train", "wgan", "--dataset", str(path), "--out", str(tmp_path / "r"))
        assert_user_error(outcome, f"--dataset {path}", fragment)


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("wgan") / "run"
    run(WGANTrainer, TINY, RunOptions(out, progress=False, tensorboard=False))
    return out


def test_resume_errors(tmp_path, saved_run) -> None:
    assert_user_error(
        reparam("train", "wgan", "--resume", "--out", str(tmp_path / "none")),
        "--resume",
        "holds no checkpoint",
    )
    assert_user_error(
        reparam("train", "wgan", "--resume", "--lipschitz", "gp", "--out", str(saved_run)),
        "--lipschitz gp (the run has clip)",
        "Only --steps may change",
    )
    assert_user_error(
        reparam("train", "wgan", "--resume", "--gp-lambda", "5", "--out", str(saved_run)),
        "--resume: --gp-lambda does not apply to this run (--lipschitz clip on ring)",
    )
    assert_user_error(
        reparam("train", "wgan", "--resume", "--steps", "1", "--out", str(saved_run)),
        "--steps 1 is fewer than the 2 steps the run has done",
    )
    assert_user_error(
        reparam("train", "wgan", "--out", str(saved_run)), "already holds a run", "--resume",
        "--overwrite",
    )  # fmt: skip


def test_a_corrupt_checkpoint_and_a_file_in_the_way(tmp_path, saved_run) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("config.json", "metrics.csv"):
        (broken / name).write_bytes((saved_run / name).read_bytes())
    (broken / "checkpoint.pt").write_bytes(b"not a checkpoint")
    outcome = reparam("train", "wgan", "--resume", "--steps", "4", "--out", str(broken))
    assert_user_error(outcome, "not a readable checkpoint")
    (tmp_path / "file").write_text("")
    outcome = reparam("train", "wgan", "--steps", "1", "--out", str(tmp_path / "file"))
    assert_user_error(outcome, "a file is in the way")

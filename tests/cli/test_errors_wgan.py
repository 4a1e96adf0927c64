"""`reparam train wgan`: every user error is one `error:` line naming the option, exit 2."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest

from reparam.experiments.wgan import WGANTrainer
from reparam.train import RunOptions, run
from tests.cli.console import Outcome, assert_user_error, reparam_many

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


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory) -> list[tuple[Outcome, Path]]:
    """Each case's outcome and its --out folder, all through one forking driver."""
    outs = [tmp_path_factory.mktemp("case") / "run" for _ in CASES]
    commands = [
        ["train", "wgan", *args, "--out", str(out)]
        for (args, _), out in zip(CASES, outs, strict=True)
    ]
    return list(zip(reparam_many(commands), outs, strict=True))


@pytest.mark.parametrize("index", range(len(CASES)), ids=[" ".join(a) for a, _ in CASES])
def test_bad_options(outcomes, index: int) -> None:
    outcome, out = outcomes[index]
    assert_user_error(outcome, *CASES[index][1])
    assert not (out / "checkpoint.pt").exists()


def test_bad_files_of_ones_own(tmp_path) -> None:
    bom = tmp_path / "bom.csv"
    bom.write_bytes(codecs.BOM_UTF8 + b"x,y\n1,2\n3,4\n5,6\n")
    text = tmp_path / "text.csv"
    text.write_text("x,y\n1,2\n3,four\n")
    cases = [
        (bom, "byte-order mark"),
        (text, "line 3 has a cell 'four' that is not a number"),
        (tmp_path / "missing.npy", "no such file"),
    ]
    outcomes = reparam_many(
        [
            ["train", "wgan", "--dataset", str(path), "--out", str(tmp_path / "r")]
            for path, _ in cases
        ]
    )
    for (path, fragment), outcome in zip(cases, outcomes, strict=True):
        assert_user_error(outcome, f"--dataset {path}", fragment)


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("wgan") / "run"
    run(WGANTrainer, TINY, RunOptions(out, progress=False, tensorboard=False))
    return out


def test_resume_errors(tmp_path, saved_run) -> None:
    wgan, run_folder = ("train", "wgan"), str(saved_run)
    cases = [
        ((*wgan, "--resume", "--out", str(tmp_path / "none")), ("--resume", "holds no checkpoint")),
        (
            (*wgan, "--resume", "--lipschitz", "gp", "--out", run_folder),
            ("--lipschitz gp (the run has clip)", "Only --steps may change"),
        ),
        (
            (*wgan, "--resume", "--gp-lambda", "5", "--out", run_folder),
            ("--resume: --gp-lambda does not apply to this run (--lipschitz clip on ring)",),
        ),
        (
            (*wgan, "--resume", "--steps", "1", "--out", run_folder),
            ("--steps 1 is fewer than the 2 steps the run has done",),
        ),
        ((*wgan, "--out", run_folder), ("already holds a run", "--resume", "--overwrite")),
    ]
    outcomes = reparam_many([args for args, _ in cases])
    for (_, fragments), outcome in zip(cases, outcomes, strict=True):
        assert_user_error(outcome, *fragments)


def test_eval_refuses_a_run_without_latent_variables(saved_run) -> None:
    (outcome,) = reparam_many([["eval", str(saved_run), "--k", "2"]])
    assert_user_error(outcome, "reparam eval computes the bounds of latent-variable models")
    assert not list(saved_run.glob("eval-*.json"))


def test_a_corrupt_checkpoint_and_a_file_in_the_way(tmp_path, saved_run) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("config.json", "metrics.csv"):
        (broken / name).write_bytes((saved_run / name).read_bytes())
    (broken / "checkpoint.pt").write_bytes(b"not a checkpoint")
    (tmp_path / "file").write_text("")
    corrupt, in_the_way = reparam_many(
        [
            ["train", "wgan", "--resume", "--steps", "4", "--out", str(broken)],
            ["train", "wgan", "--steps", "1", "--out", str(tmp_path / "file")],
        ]
    )
    assert_user_error(corrupt, "not a readable checkpoint")
    assert_user_error(in_the_way, "a file is in the way")

"""`reparam train draw`: every user error is one `error:` line naming the option, exit 2."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from reparam.experiments.draw import DRAWTrainer
from reparam.train import RunOptions, run
from tests.cli.console import Outcome, assert_user_error, reparam_many

TINY = {"dataset": "digits", "subset": 40, "epochs": 1, "batch_size": 20, "glimpses": 2,
        "hidden": 4, "latent": 2, "read_size": 2, "write_size": 2, "device": "cpu"}  # fmt: skip

# (arguments, fragments the error line must hold)
CASES = [
    (["--epochs", "0"], ["--epochs must be > 0; got 0"]),
    (["--glimpses", "0"], ["--glimpses must be > 0; got 0"]),
    (["--glimpses", "many"], ["'--glimpses'", "integer"]),
    (["--read-size", "0"], ["--read-size must be > 0"]),
    (["--write-size", "-1"], ["--write-size must be > 0"]),
    (["--hidden", "0"], ["--hidden must be > 0"]),
    (["--latent", "0"], ["--latent must be > 0"]),
    (["--batch-size", "0"], ["--batch-size must be > 0"]),
    (["--subset", "0"], ["--subset must be > 0"]),
    (["--lr", "nan"], ["--lr must be a finite number"]),
    (["--lr", "0"], ["--lr must be > 0"]),
    (["--clip-norm", "0"], ["--clip-norm must be > 0"]),
    (["--clip-norm", "inf"], ["--clip-norm must be a finite number"]),
    (["--seed", "-1"], ["--seed must be >= 0"]),
    (["--kl-warmup", "-1"], ["--kl-warmup must be >= 0"]),
    (["--dataset", "moons"], ["unknown --dataset 'moons'", "binarized-mnist", ".npy"]),
    (["--dataset", "mnist-test"], ["--dataset mnist-test", "binary data"]),
    (
        ["--no-attention", "--read-size", "3"],
        ["--read-size sizes the attention grid", "--no-attention"],
    ),
    (["--no-attention", "--write-size", "3"], ["--write-size sizes the attention grid"]),
    (["--device", "tpu"], ["unknown --device 'tpu'"]),
    (["--checkpoint-every", "-1"], ["'--checkpoint-every'", "greater than or equal to 0"]),
]


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory) -> list[tuple[Outcome, Path]]:
    """Each case's outcome and its --out folder, all through one forking driver."""
    outs = [tmp_path_factory.mktemp("case") / "run" for _ in CASES]
    commands = [
        ["train", "draw", "--dataset", "digits", *args, "--out", str(out)]
        for (args, _), out in zip(CASES, outs, strict=True)
    ]
    return list(zip(reparam_many(commands), outs, strict=True))


@pytest.mark.parametrize("index", range(len(CASES)), ids=[" ".join(a) for a, _ in CASES])
def test_bad_options(outcomes, index: int) -> None:
    outcome, out = outcomes[index]
    assert_user_error(outcome, *CASES[index][1])
    assert not (out / "checkpoint.pt").exists()


def test_files_of_ones_own_must_be_square_binary_images(tmp_path) -> None:
    rows = np.random.default_rng(0).integers(0, 2, (30, 10)).astype(np.uint8)
    oblong, halves = tmp_path / "oblong.npy", tmp_path / "halves.npy"
    np.save(oblong, rows)
    np.save(halves, np.full((30, 16), 0.5))
    cases = [
        (oblong, "has 10 values a row: DRAW needs square images"),
        (halves, "0 or 1"),
        (tmp_path / "missing.npy", "no such file"),
    ]
    outcomes = reparam_many(
        [["train", "draw", "--dataset", str(p), "--out", str(tmp_path / "r")] for p, _ in cases]
    )
    for (path, fragment), outcome in zip(cases, outcomes, strict=True):
        assert_user_error(outcome, f"--dataset {path}", fragment)


def test_resume_errors(tmp_path) -> None:
    saved = tmp_path / "saved"
    run(DRAWTrainer, TINY, RunOptions(saved, progress=False, tensorboard=False))
    draw, folder = ("train", "draw"), str(saved)
    cases = [
        ((*draw, "--resume", "--out", str(tmp_path / "none")), ("--resume", "holds no checkpoint")),
        (
            (*draw, "--resume", "--glimpses", "5", "--out", folder),
            ("--glimpses 5 (the run has 2)", "Only --epochs may change"),
        ),
        (
            (*draw, "--resume", "--no-attention", "--out", folder),
            ("--attention False (the run has True)",),
        ),
        ((*draw, "--out", folder), ("already holds a run", "--resume", "--overwrite")),
    ]
    outcomes = reparam_many([args for args, _ in cases])
    for (_, fragments), outcome in zip(cases, outcomes, strict=True):
        assert_user_error(outcome, *fragments)

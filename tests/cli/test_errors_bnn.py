"""`reparam train bnn`'s user errors, each through the real console script: exit status 2 and
one `error:` line naming the option, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from reparam.experiments.uci import UCIConfig, UCITrainer
from reparam.train import RunOptions, run
from tests.cli.console import Outcome, assert_user_error, reparam, reparam_many
from tests.train.uci_fake import linear_set


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A two-split uci:yacht, and a finished two-epoch run on it."""
    root = linear_set(tmp_path_factory.mktemp("data"))
    config = UCIConfig("uci:yacht", epochs=2, checkpoints=1, samples=2, data_dir=str(root))
    run(UCITrainer, config, RunOptions(root / "run", progress=False, tensorboard=False))
    return root


UCI = ("--dataset", "uci:yacht")
CASES = [
    ((*UCI, "--splits", "0"), ("--splits must be > 0",)),
    ((*UCI, "--splits", "99"), ("--splits must be at most 2", "yacht")),
    (("--epochs", "0"), ("--epochs must be > 0",)),
    ((*UCI, "--epochs", "0"), ("--epochs must be > 0",)),
    (("--batch-size", "0"), ("--batch-size must be > 0",)),
    (("--lr", "nan"), ("--lr must be a finite number",)),
    ((*UCI, "--lr", "-0.1"), ("--lr must be > 0",)),
    ((*UCI, "--prior-sigmas", "0.1,x"), ("--prior-sigmas must be comma-separated numbers",)),
    ((*UCI, "--prior-sigmas", "0.1,-1"), ("--prior-sigmas must be positive numbers",)),
    ((*UCI, "--prior-sigmas", ""), ("--prior-sigmas",)),
    (("--kl-weighting", "lumpy"), ("unknown --kl-weighting 'lumpy'", "uniform, blundell")),
    ((*UCI, "--estimator", "magic"), ("unknown --estimator 'magic'", "local")),
    (("--dataset", "cifar"), ("unknown --dataset 'cifar'", "uci:NAME")),
    (("--dataset", "uci:nope"), ("unknown UCI set 'uci:nope'",)),
    (("--splits", "2"), ("--splits applies to --dataset uci:NAME only",)),
    ((*UCI, "--hidden", "8"), ("--hidden applies to --dataset mnist-test and digits only",)),
    (("--hidden", "8,x"), ("--hidden must be comma-separated whole numbers",)),
    (("--hidden", "0"), ("--hidden needs one or more widths >= 1",)),
    (("--dropout", "1"), ("--dropout must be < 1",)),
    ((*UCI, "--valid-fraction", "1.5"), ("--valid-fraction must lie in (0, 1)",)),
    (("--seed", "-1"), ("--seed must be a whole number >= 0",)),
    (("--device", "cuda:7"), ("cuda:7",)),
    (("--device", "tpu"), ("unknown --device 'tpu'",)),
]


@pytest.fixture(scope="module")
def outcomes(data, tmp_path_factory) -> list[tuple[Outcome, Path]]:
    """Each case's outcome and its --out folder, all through one forking driver."""
    outs = [tmp_path_factory.mktemp("case") / "run" for _ in CASES]
    commands = [
        ["train", "bnn", *args, "--data-dir", str(data), "--out", str(out)]
        for (args, _), out in zip(CASES, outs, strict=True)
    ]
    return list(zip(reparam_many(commands), outs, strict=True))


@pytest.mark.parametrize("index", range(len(CASES)), ids=[" ".join(a)[:40] for a, _ in CASES])
def test_bad_option_is_one_error_line(outcomes, index: int) -> None:
    outcome, out = outcomes[index]
    assert_user_error(outcome, *CASES[index][1])
    assert not (out / "checkpoint.pt").exists()


def test_missing_uci_files_name_the_folder(tmp_path) -> None:
    outcome = reparam(
        *("train", "bnn", "--dataset", "uci:boston", "--data-dir", str(tmp_path)),
        *("--out", str(tmp_path / "run")),
    )
    assert_user_error(outcome, str(tmp_path / "uci"), "REPARAM_DATA")


def test_run_folder_errors(data, tmp_path) -> None:
    run_folder = str(data / "run")
    common = ("train", "bnn", "--data-dir", str(data))
    cases = [
        ((*common, "--out", str(tmp_path), "--resume"), ("no config.json",)),
        ((*common, *UCI, "--out", run_folder), ("already holds a run", "--resume", "--overwrite")),
        (
            (*common, "--out", run_folder, "--resume", "--epochs", "5"),
            ("--epochs 5 (the run has 2)",),
        ),
        (
            (*common, "--out", run_folder, "--resume", "--hidden", "8"),
            ("--hidden applies to --dataset mnist-test and digits only",),
        ),
        (
            (*common, "--out", run_folder, "--resume", "--lr", "0.5"),
            ("--lr 0.5 (the run has 0.001)",),
        ),
    ]
    outcomes = reparam_many([args for args, _ in cases])
    for (_, fragments), outcome in zip(cases, outcomes, strict=True):
        assert_user_error(outcome, *fragments)

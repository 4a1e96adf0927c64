"""`reparam variance` user errors through the real console script: each is exit status 2 and
one `error:` line naming the option, never a traceback."""

from __future__ import annotations

import pytest

from tests.cli.console import assert_user_error, reparam_many

BNN = ["--problem", "bnn", "--dataset", "digits", "--sizes", "64,8,10", "--repeats", "2"]

CASES = [
    (["--problem", "poisson"], ["unknown --problem 'poisson'", "bnn"]),
    (["--n", "0"], ["--n", ">= 1"]),
    (["--repeats", "1"], ["--repeats must be >= 2"]),
    (["--k", "abc"], ["--k must be comma-separated numbers", "'abc'"]),
    (["--k", "1,nan"], ["--k must be finite"]),
    (["--problem", "gamma", "--k", "0"], ["--k must be > 0", "gamma"]),
    (["--estimators", "magic"], ["unknown estimator", "magic"]),
    (["--device", "tpu"], ["unknown device 'tpu'"]),
    (["--problem", "quadratic", "--epochs", "3"], ["--epochs applies only to --problem bnn"]),
    ([*BNN, "--k", "1"], ["--k does not apply to --problem bnn"]),
    ([*BNN, "--alpha", "nan"], ["--alpha must be a finite number"]),
    ([*BNN, "--alpha", "0"], ["--alpha must be > 0"]),
    ([*BNN, "--epochs", "0"], ["--epochs must be > 0"]),
    ([*BNN, "--repeats", "1"], ["--repeats must be >= 2"]),
    ([*BNN, "--sizes", "64,x,10"], ["--sizes must be comma-separated widths"]),
    ([*BNN, "--sizes", "784,8,10"], ["--sizes starts with 784 inputs", "use 64,8,10"]),
    ([*BNN, "--estimators", "local,local"], ["--estimators names one twice"]),
    ([*BNN, "--dataset", "cifar"], ["unknown --dataset 'cifar'"]),
    ([*BNN, "--train-size", "9999"], ["--train-size 9999 is more than"]),
    ([*BNN, "--resume"], ["--resume", "no checkpoint"]),
]


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    """Every case's outcome, all through one forking driver (torch is imported once)."""
    outs = [tmp_path_factory.mktemp("case") / "out" for _ in CASES]
    commands = [
        ["variance", *args, "--out", str(out)] for (args, _), out in zip(CASES, outs, strict=True)
    ]
    return reparam_many(commands)


@pytest.mark.parametrize("index", range(len(CASES)), ids=[" ".join(a) for a, _ in CASES])
def test_variance_user_errors(outcomes, index: int) -> None:
    assert_user_error(outcomes[index], *CASES[index][1])

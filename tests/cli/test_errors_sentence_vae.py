"""`reparam train sentence-vae`: every user error is one `error:` line naming the option,
exit 2, and leaves no run behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.console import Outcome, assert_user_error, reparam_many

# (arguments, fragments the error line must hold)
CASES = [
    (["--epochs", "0"], ["--epochs must be > 0; got 0"]),
    (["--embedding", "0"], ["--embedding must be > 0; got 0"]),
    (["--hidden", "0"], ["--hidden must be > 0"]),
    (["--latent", "-1"], ["--latent must be >= 0; got -1"]),
    (["--latent", "two"], ["'--latent'", "integer"]),
    (["--batch-size", "0"], ["--batch-size must be > 0"]),
    (["--subset", "0"], ["--subset must be > 0"]),
    (["--k", "0"], ["--k must be > 0"]),
    (["--eval-k", "0"], ["--eval-k must be > 0"]),
    (["--lr", "nan"], ["--lr must be a finite number"]),
    (["--lr", "0"], ["--lr must be > 0"]),
    (["--clip", "0"], ["--clip must be > 0"]),
    (["--clip", "inf"], ["--clip must be a finite number"]),
    (["--word-dropout", "1.5"], ["--word-dropout must lie in [0, 1]; got 1.5"]),
    (["--word-dropout", "-0.1"], ["--word-dropout must lie in [0, 1]"]),
    (["--kl-anneal", "cosine"], ["unknown --kl-anneal 'cosine'", "none, linear, sigmoid"]),
    (["--kl-warmup", "-1"], ["--kl-warmup must be >= 0"]),
    (["--condition", "late"], ["unknown --condition 'late'", "initial, every"]),
    (["--objective", "map"], ["unknown --objective 'map'", "elbo, iwae"]),
    (["--corpus", "wiki"], ["unknown --corpus 'wiki'", "embedded, austen, ptb"]),
    (["--estimator", "dreg"], ["--estimator 'dreg' does not apply", "elbo", "pathwise"]),
    (["--objective", "iwae", "--estimator", "gumbel-softmax"], ["dreg"]),
    (["--estimator", "score+leave-one-out"], ["needs --k 2 or more; got --k 1"]),
    (
        ["--objective", "iwae", "--kl-warmup", "10"],
        ["--kl-warmup weights the ELBO's KL term", "--objective iwae"],
    ),
    (
        ["--kl-anneal", "none", "--kl-warmup", "100"],
        ["--kl-warmup sets the annealing's length", "--kl-anneal none"],
    ),
    (["--latent", "0", "--condition", "every"], ["--condition concerns z", "--latent 0"]),
    (["--latent", "0", "--k", "5"], ["--k concerns z", "language model"]),
    (["--latent", "0", "--kl-anneal", "linear"], ["--kl-anneal concerns z"]),
    (["--device", "tpu"], ["unknown --device 'tpu'"]),
    (["--seed", "-1"], ["--seed must be >= 0"]),
    (["--resume"], ["holds no checkpoint.pt", "without --resume"]),
    (["--checkpoint-every", "-1"], ["'--checkpoint-every'", "greater than or equal to 0"]),
]


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory) -> list[tuple[Outcome, Path]]:
    """Each case's outcome and its --out folder, all through one forking driver."""
    outs = [tmp_path_factory.mktemp("case") / "run" for _ in CASES]
    commands = [
        ["train", "sentence-vae", *args, "--out", str(out)]
        for (args, _), out in zip(CASES, outs, strict=True)
    ]
    return list(zip(reparam_many(commands), outs, strict=True))


@pytest.mark.parametrize("index", range(len(CASES)), ids=[" ".join(a) for a, _ in CASES])
def test_bad_options(outcomes, index: int) -> None:
    outcome, out = outcomes[index]
    assert_user_error(outcome, *CASES[index][1])
    assert not (out / "checkpoint.pt").exists()

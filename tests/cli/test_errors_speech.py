"""`reparam train asr`, `train xvector`, `repro xvector` and `data speech`: every user error
is one `error:` line naming the option, exit 2."""

from __future__ import annotations

import pytest

from tests.cli.console import Outcome, assert_user_error, reparam_many

# (command and arguments, fragments the error line must hold)
CASES = [
    (["train", "asr", "--steps", "0"], ["--steps must be > 0; got 0"]),
    (["train", "asr", "--steps", "10", "--eval-every", "4"], ["must be a multiple of"]),
    (["train", "asr", "--ctc", "warp"], ["unknown --ctc 'warp'", "reparam, torch"]),
    (["train", "asr", "--recipe", "vctk"], ["unknown --recipe 'vctk'", "asr-small"]),
    (["train", "asr", "--dropout", "1"], ["--dropout must lie in [0, 0.9]"]),
    (["train", "asr", "--lr", "nan"], ["--lr must be a finite number"]),
    (["train", "asr", "--decode-beam", "0"], ["--decode-beam must be > 0"]),
    (["train", "asr", "--device", "tpu"], ["unknown --device 'tpu'"]),
    (["train", "xvector", "--bayesian-layers", "7"], ["--bayesian-layers must lie in [0, 5]"]),
    (["train", "xvector", "--kl-weight", "2"], ["--kl-weight", "--bayesian-layers 1 or more"]),
    (["train", "xvector", "--p-target", "0"], ["--p-target must lie in (0, 1)"]),
    (["train", "xvector", "--segment", "0"], ["--segment must be > 0"]),
    (["repro", "xvector", "--seeds", "a,b"], ["--seeds must be comma-separated integers"]),
    (["repro", "xvector", "--bayesian-layers", "0"], ["--bayesian-layers must lie in [1, 5]"]),
    (["data", "speech", "--recipe", "timit"], ["unknown recipe 'timit'", "speakers"]),
]


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory) -> list[Outcome]:
    """Each case's outcome, all through one forking driver."""
    commands = []
    for args, _ in CASES:
        out = ["--out", str(tmp_path_factory.mktemp("case") / "run")] if args[0] != "data" else []
        commands.append([*args, *out])
    return reparam_many(commands)


@pytest.mark.parametrize("index", range(len(CASES)), ids=[" ".join(a) for a, _ in CASES])
def test_bad_options(outcomes, index: int) -> None:
    assert_user_error(outcomes[index], *CASES[index][1])

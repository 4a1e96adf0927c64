"""`reparam fit` user errors through the real console script: each is exit status 2 and one
`error:` line naming what is wrong, never a traceback."""

from __future__ import annotations

import pytest

from tests.cli.console import assert_user_error, reparam, reparam_many


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("fit")
    (tmp_path / "ok.csv").write_text("a,b\n" + "".join(f"{i},{i % 3}\n" for i in range(12)))
    (tmp_path / "bom.csv").write_bytes(b"\xef\xbb\xbfa,b\n1,2\n3,4\n")
    (tmp_path / "text.csv").write_text("a,b\n1,2\nthree,4\n")
    (tmp_path / "fitted").mkdir()
    (tmp_path / "fitted" / "params.json").write_text("{}")
    (tmp_path / "a-file").write_text("")
    return tmp_path


CASES = [
    (["gmm", "{d}/missing.csv", "--components", "2"], ["no such file", "missing.csv"]),
    (["gmm", "{d}/bom.csv", "--components", "1"], ["byte-order mark", "bom.csv"]),
    (["gmm", "{d}/text.csv", "--components", "1"], ["'three' is not a number", "line 3"]),
    (["gmm", "{d}/ok.csv", "--components", "0"], ["--components", ">= 1"]),
    (["gmm", "{d}/ok.csv", "--components", "abc"], ["--components", "valid integer"]),
    (["gmm", "{d}/ok.csv", "--components", "2", "--tol", "nan"], ["--tol", "nan"]),
    (["gmm", "{d}/ok.csv", "--components", "2", "--rows", "bad"], ["--rows", "'bad'"]),
    (["gmm", "{d}/ok.csv", "--components", "2", "--columns", "c"], ["--columns", "no column 'c'"]),
    (["gmm", "{d}/ok.csv", "--components", "2", "--out", "{d}/a-file"], ["a file is in the way"]),
    (["hmm", "{d}/ok.csv", "--states", "0"], ["--states", ">= 1"]),
    (["ctc-demo", "--steps", "0", "--out", "{d}/ctc"], ["--steps must be > 0"]),
    (["ctc-demo", "--steps", "30", "--out", "{d}/ctc"], ["--steps 30", "--eval-every 50"]),
    (["ctc-demo", "--noise", "nan", "--out", "{d}/ctc"], ["--noise", "nan"]),
    (["ctc-demo", "--out", "{d}/ctc", "--resume"], ["--resume", "no checkpoint"]),
    (["ctc-demo", "--out", "{d}/ctc", "--checkpoint-every", "-1"], ["--checkpoint-every"]),
]


@pytest.fixture(scope="module")
def outcomes(files):
    """Every case's outcome, all through one forking driver (torch is imported once)."""
    return reparam_many([["fit", *(arg.format(d=files) for arg in args)] for args, _ in CASES])


@pytest.mark.parametrize("index", range(len(CASES)), ids=[" ".join(a) for a, _ in CASES])
def test_fit_user_errors(outcomes, index: int) -> None:
    assert_user_error(outcomes[index], *CASES[index][1])


def test_an_existing_fit_is_refused_and_kept(files) -> None:
    assert_user_error(
        reparam("fit", "gmm", f"{files}/ok.csv", "--components", "2", "--out", f"{files}/fitted"),
        "already holds a fit (params.json)",
        "pass --overwrite to replace it",
    )
    assert (files / "fitted" / "params.json").read_text() == "{}"
    assert sorted(p.name for p in (files / "fitted").iterdir()) == ["params.json"]

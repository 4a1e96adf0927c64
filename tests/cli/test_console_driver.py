"""The forking driver of the error tables gives what the installed console script gives."""

from __future__ import annotations

from tests.cli.console import reparam, reparam_many


def test_the_driver_matches_the_script(tmp_path) -> None:
    cases = [
        ["--version"],
        ["train", "iwae", "--epochs", "0", "--out", str(tmp_path / "a")],
        ["train", "nothing"],
    ]
    assert reparam_many(cases, cwd=str(tmp_path)) == [
        reparam(*args, cwd=str(tmp_path)) for args in cases
    ]

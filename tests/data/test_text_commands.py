import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reparam.cli.commands import app
from reparam.data import austen, cache

runner = CliRunner()
REAL_DEB = austen.find_source()
CP = shutil.which("cp")


@pytest.fixture
def nowhere(tmp_path, monkeypatch) -> Path:
    """No installed package, an empty data folder and cache folder, and no apt-get."""
    monkeypatch.setattr(austen, "INSTALLED", tmp_path / "not-installed" / "Rdata.rdb")
    monkeypatch.setattr(cache, "FOLDER", tmp_path / "cache" / "parsed")
    monkeypatch.setenv("REPARAM_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    return tmp_path


def test_list_shows_the_corpora_and_where_they_are(nowhere) -> None:
    result = runner.invoke(app, ["data", "list", "--data-dir", str(nowhere / "data")])
    assert result.exit_code == 0, result.output
    rows = {n: next(line for line in result.output.splitlines() if line.startswith(f"│ {n} "))
            for n in ("embedded", "austen", "ptb")}  # fmt: skip
    assert "inside reparam" in rows["embedded"] and "missing" in rows["austen"]
    assert "sentence corpora" in result.output


def test_fetch_austen_without_apt_get_says_what_to_do(nowhere) -> None:
    result = runner.invoke(app, ["data", "fetch-austen"])
    assert isinstance(result.exception, FileNotFoundError)
    assert "apt-get not found" in str(result.exception)
    assert str(nowhere / "cache" / "austen") in str(result.exception)


@pytest.mark.slow  # parses the package afresh (2-5 s); test_text_austen covers fetch and load
@pytest.mark.skipif(
    REAL_DEB is None or REAL_DEB.suffix != ".deb",
    reason=f"no {austen.PACKAGE}_*.deb to stand for the download (run `{austen.FETCH}`)",
)
def test_fetch_austen_puts_the_deb_in_the_cache_and_loads_it(nowhere) -> None:
    (nowhere / "bin").mkdir()
    (nowhere / "bin" / "apt-get").write_text(f"#!/bin/sh\n{CP} {REAL_DEB} .\n")
    (nowhere / "bin" / "apt-get").chmod(0o755)
    result = runner.invoke(app, ["data", "fetch-austen"])
    assert result.exit_code == 0, result.output
    fetched = nowhere / "cache" / "austen" / REAL_DEB.name
    assert fetched.is_file() and "Corpus('austen': train 28301" in result.output
    shutil.rmtree(nowhere / "cache")

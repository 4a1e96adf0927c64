import os
import urllib.error
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reparam.cli.commands import app
from reparam.data import files

runner = CliRunner()
DATASET_NAMES = ("binarized-mnist", "mnist-test", "digits")
SHARED = Path(os.environ.get("REPARAM_DATA", "/nonexistent"))


@pytest.fixture(autouse=True)
def offline(monkeypatch) -> None:
    """No test reaches the network: every download fails."""

    def fail(url: str, destination: Path) -> None:
        raise urllib.error.URLError("no network in tests")

    monkeypatch.setattr(files, "download", fail)


def test_list_shows_where_each_dataset_is_looked_up(tmp_path) -> None:
    (tmp_path / "mnist").mkdir()
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (tmp_path / "mnist" / name).write_bytes(b"")
    result = runner.invoke(app, ["data", "list", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    row = {name: next(line for line in lines if name in line) for name in DATASET_NAMES}
    assert "missing" in row["binarized-mnist"] and "50000×784" in row["binarized-mnist"]
    assert "present" in row["mnist-test"]
    assert "embedded" in row["digits"] and "1437×64" in row["digits"]
    assert str(tmp_path) in result.output


def test_verify_reports_each_split(tmp_path) -> None:
    result = runner.invoke(app, ["data", "verify", "digits", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    for split in ("train", "valid", "test"):
        assert f"OK digits {split}" in result.output


def test_verify_fails_on_corrupt_and_missing_files(tmp_path) -> None:
    (tmp_path / "binarized_mnist").mkdir()
    corrupt = b"0 " * 783 + b"0\n" + b"0 1 2\n"
    (tmp_path / "binarized_mnist" / "binarized_mnist_valid.amat").write_bytes(corrupt)
    result = runner.invoke(app, ["data", "verify", "--data-dir", str(tmp_path)])
    assert result.exit_code == 1, result.output
    assert "line 2: value '2'" in result.output
    assert "binarized_mnist_train.amat" in result.output and "no network" in result.output
    assert "OK digits train" in result.output
    assert "6 split(s) with problems" in result.output


@pytest.mark.skipif(
    files.locate(SHARED, "mnist/t10k-images-idx3-ubyte.gz") is None,
    reason="the MNIST test set is not in $REPARAM_DATA",
)
def test_verify_passes_on_the_shared_data() -> None:
    result = runner.invoke(app, ["data", "verify", "mnist-test", "--data-dir", str(SHARED)])
    assert result.exit_code == 0, result.output
    assert "OK mnist-test test: 10000×784" in result.output


def test_verify_rejects_an_unknown_dataset() -> None:
    result = runner.invoke(app, ["data", "verify", "cifar"])
    assert result.exit_code != 0
    assert "unknown dataset 'cifar'" in result.output

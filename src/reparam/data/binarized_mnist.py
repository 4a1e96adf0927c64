"""Binarized MNIST (Larochelle & Murray, 2011): the fixed binarization, in ``.amat`` text.

One image a line, 784 values ``0`` or ``1`` separated by blanks; the train, valid and test
files hold 50000, 10000 and 10000 lines.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from reparam.data.cache import cached
from reparam.data.files import read_bytes

PIXELS = 784
BLANK = ord(" ")  # bytes up to the space (tab, line ends) separate values


def parse_amat(text: bytes, columns: int = PIXELS, source: str = "amat text") -> np.ndarray:
    """The 0/1 matrix in ``text``, as uint8 ``[lines, columns]``; blank lines are skipped.

    Raises ``ValueError`` naming the line of the first value other than 0 or 1, or of the
    first line without ``columns`` values.

    >>> parse_amat(b"0 1 1\\n1 0 0\\n", columns=3)
    array([[0, 1, 1],
           [1, 0, 0]], dtype=uint8)
    """
    if not text:
        return np.zeros((0, columns), dtype=np.uint8)
    chars = np.frombuffer(text, dtype=np.uint8)
    filled = chars > BLANK
    offending = filled & (chars - np.uint8(ord("0")) > 1)  # uint8 wraps below "0"
    offending[1:] |= filled[1:] & filled[:-1]  # a value of two characters or more: 10, 1.0
    if offending.any():
        at = int(offending.argmax())
        start = at
        while start > 0 and chars[start - 1] > BLANK:
            start -= 1
        value = text[start : start + 20].split()[0].decode(errors="replace")
        line = text.count(b"\n", 0, at) + 1
        raise ValueError(f"{source}, line {line}: value {value!r}, expected 0 or 1")
    starts = np.concatenate(([0], np.flatnonzero(chars == ord("\n")) + 1))
    starts = starts[starts < len(chars)]
    counts = np.add.reduceat(filled, starts, dtype=np.intp)
    wrong = np.flatnonzero((counts != 0) & (counts != columns))
    if len(wrong):
        line = int(wrong[0])
        raise ValueError(
            f"{source}, line {line + 1}: {counts[line]} values, expected {columns} a line"
        )
    return (chars[filled] - np.uint8(ord("0"))).reshape(-1, columns)


def read_amat(path: Path) -> Tensor:
    """The uint8 0/1 matrix in the ``.amat`` (or ``.amat.gz``) file at ``path``, kept parsed
    in a ``.pt`` copy (see ``reparam.data.cache``)."""
    return cached(path, parse_file)


def parse_file(path: Path) -> Tensor:
    """The uint8 0/1 matrix in the ``.amat`` (or ``.amat.gz``) file at ``path``, parsed afresh."""
    return torch.from_numpy(parse_amat(read_bytes(path), source=str(path)))


def read(split: str, paths: tuple[Path, ...]) -> tuple[Tensor, None]:
    """One split of binarized MNIST as float32 ``[N, 784]``; it has no labels."""
    (path,) = paths
    return read_amat(path).float(), None

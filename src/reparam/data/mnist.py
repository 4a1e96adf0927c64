"""The MNIST test set in the idx format of LeCun et al.: 10000 grey 28×28 images and labels,
and its fixed re-split into 8000 training and 2000 test images (``RESPLIT``).

Only MNIST's 10 000 labelled *test* images are assumed present, so the experiments that need a
labelled training set (the Bayesian classifiers, the gradient-variance study) cut them, always
the same way: images 0–7999 train, 8000–9999 test. MNIST's first 5000 test images come from
NIST's SD-3 (Census employees), the last 5000 from SD-1 (high-school students, harder), so
test errors on this re-split are not comparable to published MNIST numbers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from reparam.data.files import read_bytes

RESPLIT = {"train": 8000, "test": 2000}  # rows of the re-split, in this order
IMAGES_MAGIC = 2051  # unsigned bytes, 3 dimensions
LABELS_MAGIC = 2049  # unsigned bytes, 1 dimension


def parse_idx(data: bytes, magic: int, source: str = "idx data") -> np.ndarray:
    """The uint8 array in idx ``data``, whose magic number must be ``magic``.

    The header is the magic number (its last byte the number of dimensions) and one big-endian
    uint32 per dimension; the values follow. Raises ``ValueError`` on another magic number, or
    when the values do not fill the dimensions exactly (a truncated file).

    >>> parse_idx(bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9]), magic=2049)
    array([7, 8, 9], dtype=uint8)
    """
    if len(data) < 4:
        raise ValueError(f"{source}: {len(data)} bytes, too short for an idx file")
    found = int.from_bytes(data[:4], "big")
    if found != magic:
        raise ValueError(f"{source}: magic number {found}, expected {magic}")
    header = 4 + 4 * data[3]
    if len(data) < header:
        raise ValueError(f"{source}: truncated in its header ({len(data)} bytes)")
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=data[3], offset=4))
    if len(data) - header != int(np.prod(shape)):
        raise ValueError(
            f"{source}: {len(data) - header} bytes of values, expected {int(np.prod(shape))} "
            f"for dimensions {shape} (truncated or padded)"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def read(split: str, paths: tuple[Path, ...]) -> tuple[Tensor, Tensor]:
    """The images (float32 ``[N, 784]``, grey levels scaled to [0, 1]) and labels (int64 ``[N]``)
    of the idx image and label files ``paths``."""
    images_path, labels_path = paths
    images = parse_idx(read_bytes(images_path), IMAGES_MAGIC, str(images_path))
    labels = parse_idx(read_bytes(labels_path), LABELS_MAGIC, str(labels_path))
    if images.shape[1:] != (28, 28):
        raise ValueError(f"{images_path}: images of {images.shape[1:]} pixels, expected (28, 28)")
    if len(labels) != len(images):
        raise ValueError(f"{labels_path}: {len(labels)} labels for {len(images)} images")
    if len(labels) and labels.max() > 9:
        raise ValueError(f"{labels_path}: label {labels.max()}, expected 0 to 9")
    pixels = torch.from_numpy(images.reshape(len(images), -1).astype(np.float32) / 255)
    return pixels, torch.from_numpy(labels.astype(np.int64))


def read_resplit(split: str, paths: tuple[Path, ...]) -> tuple[Tensor, Tensor]:
    """The ``split`` (``"train"``: images 0–7999, ``"test"``: 8000–9999) of the test set in
    the idx files ``paths``, read as :func:`read`."""
    if split not in RESPLIT:
        raise ValueError(f"the MNIST re-split has no split {split!r}; choose from train, test")
    images, labels = read(split, paths)
    start = 0 if split == "train" else RESPLIT["train"]
    rows = slice(start, start + RESPLIT[split])
    return images[rows], labels[rows]

"""scikit-learn's 8×8 digits, binarized: the dataset that needs no download.

The 1797 images of ``sklearn.datasets.load_digits`` (grey levels 0–16) become 0/1 at
threshold 8 (a pixel > 7 is 1). A fixed permutation (``numpy.random.RandomState(0)``, whose
stream NumPy keeps stable across versions) splits them 80/10/10: train 1437, valid 180,
test 180 images.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

SIZES = {"train": 1437, "valid": 180, "test": 180}
SEED = 0


def split_indices(split: str) -> np.ndarray:
    """The indices into ``load_digits()`` of the images in ``split``.

    >>> len(split_indices("valid"))
    180
    """
    order = np.random.RandomState(SEED).permutation(sum(SIZES.values()))
    start = 0
    for name, size in SIZES.items():
        if name == split:
            return order[start : start + size]
        start += size
    raise ValueError(f"digits has no split {split!r}; choose from {', '.join(SIZES)}")


def read(split: str, paths: tuple[Path, ...]) -> tuple[Tensor, Tensor]:
    """The binarized images (float32 ``[N, 64]``) and labels (int64 ``[N]``) of ``split``;
    the data ship with scikit-learn, so ``paths`` is empty."""
    from sklearn.datasets import load_digits  # here, not above: it takes a second to import

    digits = load_digits()
    chosen = split_indices(split)
    images = torch.from_numpy((digits.data[chosen] > 7).astype(np.float32))
    return images, torch.from_numpy(digits.target[chosen].astype(np.int64))

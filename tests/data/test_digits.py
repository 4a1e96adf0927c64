import numpy as np
import pytest
import torch

from reparam.data import DATASETS, load, load_labelled
from reparam.data.digits import split_indices


def test_splits_have_their_shapes_and_binary_values() -> None:
    for split, rows in [("train", 1437), ("valid", 180), ("test", 180)]:
        x, y = load_labelled("digits", split)
        assert x.shape == (rows, 64) and x.dtype == torch.float32
        assert ((x == 0) | (x == 1)).all() and 0.3 < x.mean() < 0.5
        assert y.shape == (rows,) and y.dtype == torch.int64 and y.min() >= 0 and y.max() <= 9
        assert DATASETS["digits"].shapes[split] == (rows, 64)


def test_splits_are_fixed_disjoint_and_cover_every_image() -> None:
    parts = [split_indices(split) for split in ("train", "valid", "test")]
    everything = np.concatenate(parts)
    assert len(everything) == 1797 and len(np.unique(everything)) == 1797
    np.testing.assert_array_equal(split_indices("test"), parts[2])
    assert torch.equal(load("digits", "valid"), load("digits", "valid"))


def test_binarized_at_eight_of_sixteen() -> None:
    from sklearn.datasets import load_digits

    grey = load_digits().data[split_indices("test")]
    np.testing.assert_array_equal(load("digits", "test").numpy(), grey >= 8)


def test_unknown_split_is_named() -> None:
    with pytest.raises(ValueError, match="no split 'dev'; choose from train, valid, test"):
        split_indices("dev")

import gzip
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from reparam.data import load, load_labelled
from reparam.data.files import locate
from reparam.data.mnist import parse_idx

SHARED = Path(os.environ.get("REPARAM_DATA", "/nonexistent"))


def idx(magic: int, values: np.ndarray) -> bytes:
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in values.shape)
    return header + values.astype(np.uint8).tobytes()


def write(folder: Path, images: bytes, labels: bytes) -> None:
    (folder / "mnist").mkdir(exist_ok=True)
    (folder / "mnist" / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(images, 1))
    (folder / "mnist" / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(labels, 1))


@pytest.mark.skipif(
    locate(SHARED, "mnist/t10k-images-idx3-ubyte.gz") is None,
    reason="the MNIST test set is not in $REPARAM_DATA",
)
def test_the_real_test_set() -> None:
    x, y = load_labelled("mnist-test", "test", SHARED)
    assert x.shape == (10_000, 784) and x.dtype == torch.float32
    assert x.min() == 0 and x.max() == 1
    assert y.shape == (10_000,) and y.dtype == torch.int64
    assert torch.equal(y.unique(), torch.arange(10))
    assert y[:4].tolist() == [7, 2, 1, 0]  # the first test digits of MNIST
    assert torch.equal(load("mnist-test", "test", SHARED), x)


def test_a_written_test_set_round_trips(tmp_path) -> None:
    images = np.random.default_rng(0).integers(0, 256, size=(10_000, 28, 28))
    labels = np.arange(10_000) % 10
    write(tmp_path, idx(2051, images), idx(2049, labels))
    x, y = load_labelled("mnist-test", "test", tmp_path)
    np.testing.assert_allclose(x.numpy(), images.reshape(10_000, 784) / 255, rtol=1e-6)
    np.testing.assert_array_equal(y.numpy(), labels)


def test_parse_idx_rejects_bad_magic_and_truncation() -> None:
    good = idx(2049, np.array([1, 2, 3]))
    np.testing.assert_array_equal(parse_idx(good, 2049), [1, 2, 3])
    with pytest.raises(ValueError, match="magic number 2049, expected 2051"):
        parse_idx(good, 2051)
    with pytest.raises(ValueError, match="2 bytes of values, expected 3"):
        parse_idx(good[:-1], 2049)
    with pytest.raises(ValueError, match="4 bytes of values, expected 3"):
        parse_idx(good + b"\0", 2049)
    with pytest.raises(ValueError, match="truncated in its header"):
        parse_idx(good[:6], 2049)
    with pytest.raises(ValueError, match="too short"):
        parse_idx(good[:2], 2049)


@pytest.mark.parametrize(
    ("images", "labels", "message"),
    [
        (idx(2049, np.zeros((5, 28, 28))), idx(2049, np.zeros(5)), "magic number 2049"),
        (idx(2051, np.zeros((5, 28, 28)))[:-1], idx(2049, np.zeros(5)), "truncated or padded"),
        (idx(2051, np.zeros((5, 28, 28))), idx(2051, np.zeros((5, 1, 1))), "magic number 2051"),
        (idx(2051, np.zeros((5, 28, 27))), idx(2049, np.zeros(5)), "expected \\(28, 28\\)"),
        (idx(2051, np.zeros((5, 28, 28))), idx(2049, np.zeros(4)), "4 labels for 5 images"),
        (idx(2051, np.zeros((5, 28, 28))), idx(2049, np.full(5, 10)), "label 10"),
        (idx(2051, np.zeros((5, 28, 28))), idx(2049, np.zeros(5)), "expected \\(10000, 784\\)"),
    ],
)
def test_corrupt_files_raise(tmp_path, images, labels, message) -> None:
    write(tmp_path, images, labels)
    with pytest.raises(ValueError, match=message):
        load("mnist-test", "test", tmp_path)

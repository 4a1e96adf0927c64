import gzip
import os
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from reparam.data import cache, load
from reparam.data.binarized_mnist import parse_amat
from reparam.data.cache import cached
from reparam.data.files import locate

SHARED = Path(os.environ.get("REPARAM_DATA", "/nonexistent"))
needs_shared = pytest.mark.skipif(
    locate(SHARED, "binarized_mnist/binarized_mnist_train.amat") is None,
    reason="binarized MNIST is not in $REPARAM_DATA",
)


def amat(rows: list[list[int]]) -> bytes:
    return b"".join(" ".join(map(str, row)).encode() + b"\n" for row in rows)


@pytest.fixture
def parsed_cache(tmp_path, monkeypatch) -> Path:
    """Parsed copies go to a fresh cache folder, so each test starts cold."""
    folder = tmp_path / "parsed"
    monkeypatch.setattr(cache, "FOLDER", folder)
    return folder


@needs_shared
def test_every_split_of_the_real_files(parsed_cache) -> None:
    for split, rows in [("train", 50_000), ("valid", 10_000), ("test", 10_000)]:
        start = time.perf_counter()
        x = load("binarized-mnist", split, SHARED)
        assert time.perf_counter() - start < 20, "parsing should take seconds"
        assert x.shape == (rows, 784) and x.dtype == torch.float32
        assert ((x == 0) | (x == 1)).all() and x.max() == 1
        assert 0.1 < x.mean() < 0.16  # about 13% of the pixels are lit
    # Whether $REPARAM_DATA is the read-only shared folder or a user's writable copy, the
    # parsed copy goes to the cache folder and nothing is written beside the data.
    assert list(parsed_cache.glob("binarized_mnist_test-*.pt"))
    assert not list((SHARED / "binarized_mnist").glob("*.pt*"))
    assert torch.equal(load("binarized-mnist", "test", SHARED), x)


def test_parse_reads_blanks_tabs_and_line_ends() -> None:
    text = b"0 1\t1 \r\n\n1 0 0\n"
    np.testing.assert_array_equal(parse_amat(text, columns=3), [[0, 1, 1], [1, 0, 0]])
    assert parse_amat(b"", columns=3).shape == (0, 3)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b"0 1 1\n0 1\n", "line 2: 2 values, expected 3"),
        (b"0 1 1\n1 2 0\n", "line 2: value '2'"),
        (b"0 10 1\n", "line 1: value '10'"),
        (b"0 1.0 1\n", "line 1: value '1.0'"),
        (b"0 -1 1\n", "line 1: value '-1'"),
    ],
)
def test_parse_rejects_bad_rows_and_values(text, message) -> None:
    with pytest.raises(ValueError, match=message):
        parse_amat(text, columns=3)


def test_corrupt_files_raise_through_load(tmp_path) -> None:
    folder = tmp_path / "binarized_mnist"
    folder.mkdir()
    path = folder / "binarized_mnist_test.amat"
    good = [[0] * 784] * 3
    for rows, message in [
        ([*good, [0] * 783], "line 4: 783 values, expected 784"),
        ([*good, [0] * 783 + [2]], "line 4: value '2'"),
        (good, r"shape \(3, 784\), expected \(10000, 784\)"),
    ]:
        path.write_bytes(amat(rows))
        with pytest.raises(ValueError, match=message):
            load("binarized-mnist", "test", tmp_path)
    path.unlink()
    (folder / "binarized_mnist_test.amat.gz").write_bytes(gzip.compress(amat(good))[:-10])
    with pytest.raises(ValueError, match="not a valid gzip file"):
        load("binarized-mnist", "test", tmp_path)


def test_gzipped_or_plain_file_with_its_parsed_copy(tmp_path, parsed_cache) -> None:
    folder = tmp_path / "binarized_mnist"
    folder.mkdir()
    rows = np.random.default_rng(0).integers(0, 2, size=(10_000, 784), dtype=np.uint8)
    chars = np.full((10_000, 2 * 784), ord(" "), dtype=np.uint8)
    chars[:, ::2], chars[:, -1] = rows + ord("0"), ord("\n")
    (folder / "binarized_mnist_valid.amat.gz").write_bytes(
        gzip.compress(chars.tobytes(), compresslevel=1)
    )
    x = load("binarized-mnist", "valid", tmp_path)
    np.testing.assert_array_equal(x.numpy(), rows)
    assert list(parsed_cache.glob("binarized_mnist_valid-*.pt"))  # kept in the cache folder
    assert not list(folder.glob("*.pt"))  # never beside the data
    assert torch.equal(load("binarized-mnist", "valid", tmp_path), x)


def test_cache_is_reused_until_the_source_changes(tmp_path, parsed_cache) -> None:
    source = tmp_path / "numbers.amat"
    source.write_text("0 1\n")
    calls = []

    def parse(path: Path) -> torch.Tensor:
        calls.append(path)
        return torch.tensor([len(calls)])

    assert cached(source, parse).item() == 1
    assert cached(source, parse).item() == 1
    (copy,) = parsed_cache.glob("numbers-*.pt")
    assert not (tmp_path / "numbers.pt").exists()
    source.write_text("0 1 1\n")  # another size
    assert cached(source, parse).item() == 2
    stat = source.stat()
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # another time
    assert cached(source, parse).item() == 3
    copy.write_bytes(b"not a torch file")
    assert cached(source, parse).item() == 4
    assert cached(source, parse).item() == 4


def test_cache_of_a_read_only_folder_goes_to_the_cache_folder(tmp_path, parsed_cache) -> None:
    folder = tmp_path / "read-only"
    folder.mkdir()
    source = folder / "numbers.amat.gz"
    source.write_text("0 1\n")
    folder.chmod(0o555)
    try:
        assert cached(source, lambda path: torch.tensor([7])).item() == 7
        assert not (folder / "numbers.pt").exists()
        assert list(parsed_cache.glob("numbers-*.pt"))
    finally:
        folder.chmod(0o755)

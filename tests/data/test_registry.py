import gzip
import urllib.error
from pathlib import Path

import pytest
import torch

from reparam.data import DATASETS, data_dir, files, load, load_labelled
from reparam.data.registry import Dataset

real_download = files.download  # kept before the fixture below replaces it


@pytest.fixture(autouse=True)
def offline(monkeypatch) -> list[str]:
    """No test reaches the network: every download fails, and its address is recorded."""
    asked = []

    def fail(url: str, destination: Path) -> None:
        asked.append(url)
        raise urllib.error.URLError("no network in tests")

    monkeypatch.setattr(files, "download", fail)
    return asked


def test_data_dir_prefers_argument_then_environment_then_home(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("REPARAM_DATA", str(tmp_path / "env"))
    assert data_dir(tmp_path / "arg") == tmp_path / "arg"
    assert data_dir(str(tmp_path / "arg")) == tmp_path / "arg"
    assert data_dir() == tmp_path / "env"
    monkeypatch.setenv("REPARAM_DATA", "~/data")
    assert data_dir() == tmp_path / "home" / "data"
    monkeypatch.delenv("REPARAM_DATA")
    assert data_dir() == tmp_path / "home" / ".cache" / "reparam"
    monkeypatch.setenv("REPARAM_DATA", "")
    assert data_dir() == tmp_path / "home" / ".cache" / "reparam"


def test_registry_describes_every_dataset() -> None:
    assert set(DATASETS) == {"binarized-mnist", "mnist-test", "mnist-resplit", "digits"}
    for name, dataset in DATASETS.items():
        assert dataset.name == name and dataset.description
        assert set(dataset.files) == set(dataset.shapes)
    binarized = DATASETS["binarized-mnist"]
    assert binarized.shapes == {
        "train": (50_000, 784),
        "valid": (10_000, 784),
        "test": (10_000, 784),
    }
    assert binarized.url_of(binarized.files["valid"][0]) == (
        "http://www.cs.toronto.edu/~larocheh/public/datasets/binarized_mnist/"
        "binarized_mnist_valid.amat"
    )


def test_missing_files_name_files_folder_address_and_options(tmp_path, offline) -> None:
    with pytest.raises(FileNotFoundError) as raised:
        load("mnist-test", "test", tmp_path)
    message = str(raised.value)
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        assert str(tmp_path / "mnist" / name) in message
        assert f"https://ossci-datasets.s3.amazonaws.com/mnist/{name}" in message
    assert "REPARAM_DATA" in message and "--data-dir" in message and "no network" in message
    assert offline == ["https://ossci-datasets.s3.amazonaws.com/mnist/t10k-images-idx3-ubyte.gz"]

    with pytest.raises(FileNotFoundError, match=r"binarized_mnist_train\.amat") as raised:
        load("binarized-mnist", "train", tmp_path)
    assert str(tmp_path / "binarized_mnist") in str(raised.value)


def test_only_the_missing_files_are_downloaded_then_checked(tmp_path, monkeypatch) -> None:
    (tmp_path / "mnist").mkdir()
    labels = (2049).to_bytes(4, "big") + (10_000).to_bytes(4, "big") + bytes(10_000)
    (tmp_path / "mnist" / "t10k-labels-idx1-ubyte").write_bytes(labels)  # the plain twin
    asked = []

    def serve(url: str, destination: Path) -> None:
        asked.append(url)
        header = [2051, 10_000, 28, 28]
        destination.write_bytes(
            gzip.compress(b"".join(d.to_bytes(4, "big") for d in header) + bytes(7_840_000), 1)
        )

    monkeypatch.setattr(files, "download", serve)
    x, y = load_labelled("mnist-test", "test", tmp_path)
    assert asked == ["https://ossci-datasets.s3.amazonaws.com/mnist/t10k-images-idx3-ubyte.gz"]
    assert x.shape == (10_000, 784) and (x == 0).all() and (y == 0).all()

    def serve_garbage(url: str, destination: Path) -> None:
        destination.write_bytes(gzip.compress(b"<html>not found</html>"))

    (tmp_path / "mnist" / "t10k-images-idx3-ubyte.gz").unlink()
    monkeypatch.setattr(files, "download", serve_garbage)
    with pytest.raises(ValueError, match="magic number"):
        load("mnist-test", "test", tmp_path)


def test_download_copies_through_a_part_file(tmp_path) -> None:
    source = tmp_path / "served.bin"
    source.write_bytes(b"payload")
    destination = tmp_path / "deep" / "copy.bin"
    real_download(source.as_uri(), destination)  # a file:// address: no network
    assert destination.read_bytes() == b"payload"
    with pytest.raises(OSError):
        real_download((tmp_path / "absent.bin").as_uri(), tmp_path / "never.bin")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deep", "served.bin"]


def test_unknown_names_splits_and_labels_are_errors(tmp_path) -> None:
    with pytest.raises(ValueError, match="unknown dataset 'cifar'; choose from binarized-mnist"):
        load("cifar", "train")
    with pytest.raises(ValueError, match="mnist-test has no split 'train'; choose from test"):
        load("mnist-test", "train")
    (tmp_path / "binarized_mnist").mkdir()
    blank_image = b"0 " * 783 + b"0\n"
    (tmp_path / "binarized_mnist" / "binarized_mnist_test.amat").write_bytes(blank_image * 10_000)
    with pytest.raises(ValueError, match="binarized-mnist has no labels"):
        load_labelled("binarized-mnist", "test", tmp_path)


def test_values_are_checked_whatever_the_reader(monkeypatch) -> None:
    for binary, values, message in [(True, 0.5, "other than 0 and 1"), (False, 2.0, "outside")]:
        fake = Dataset(
            name="fake",
            description="a reader that returns bad values",
            shapes={"all": (2, 3)},
            binary=binary,
            files={"all": ()},
            url="",
            read=lambda split, paths, v=values: (torch.full((2, 3), v), None),
        )
        monkeypatch.setitem(DATASETS, "fake", fake)
        with pytest.raises(ValueError, match=message):
            load("fake", "all")


def test_the_mnist_resplit_cuts_the_test_set_at_8000(tmp_path) -> None:
    (tmp_path / "mnist").mkdir()
    pixels = (torch.arange(10_000) % 256).to(torch.uint8)[:, None].expand(10_000, 784)
    images = [2051, 10_000, 28, 28]
    labels = [2049, 10_000]
    (tmp_path / "mnist" / "t10k-images-idx3-ubyte").write_bytes(
        b"".join(d.to_bytes(4, "big") for d in images) + pixels.contiguous().numpy().tobytes()
    )
    (tmp_path / "mnist" / "t10k-labels-idx1-ubyte").write_bytes(
        b"".join(d.to_bytes(4, "big") for d in labels) + bytes(i % 10 for i in range(10_000))
    )
    x, y = load_labelled("mnist-test", "test", tmp_path)
    x_train, y_train = load_labelled("mnist-resplit", "train", tmp_path)
    x_test, y_test = load_labelled("mnist-resplit", "test", tmp_path)
    assert x_train.shape == (8000, 784) and x_test.shape == (2000, 784)
    assert torch.equal(torch.cat([x_train, x_test]), x)
    assert torch.equal(torch.cat([y_train, y_test]), y)
    assert DATASETS["mnist-resplit"].files["train"] == DATASETS["mnist-test"].files["test"]
    with pytest.raises(ValueError, match="mnist-resplit has no split 'valid'; choose from train"):
        load("mnist-resplit", "valid", tmp_path)

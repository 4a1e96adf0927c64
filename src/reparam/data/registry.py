"""The datasets ``reparam`` knows, and ``load``: find (or download), parse and check a split."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from torch import Tensor

from reparam.data import binarized_mnist, digits, files, mnist

Reader = Callable[[str, tuple[Path, ...]], tuple[Tensor, Tensor | None]]


@dataclass(frozen=True)
class Dataset:
    """A dataset: ``shapes[split]`` is the shape of ``load``'s tensor, whose values are 0 or 1
    when ``binary``, else in [0, 1]; ``files[split]`` are paths under the data folder (a
    gzipped or plain twin accepted), each downloadable from ``url`` + its file name (``url`` is
    empty when there are no files); ``read(split, paths)`` parses the files into the data and
    the labels (``None`` when unlabelled)."""

    name: str
    description: str
    shapes: dict[str, tuple[int, int]]
    binary: bool
    files: dict[str, tuple[str, ...]]
    url: str
    read: Reader

    def missing(self, split: str, root: Path) -> list[str]:
        """The files of ``split`` absent from the data folder ``root``."""
        return [name for name in self.files[split] if files.locate(root, name) is None]

    def url_of(self, name: str) -> str:
        """The canonical address of the file ``name``."""
        return self.url + Path(name).name


MNIST_TEST_FILES = ("mnist/t10k-images-idx3-ubyte.gz", "mnist/t10k-labels-idx1-ubyte.gz")
MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
BINARIZED_SPLITS = {"train": 50_000, "valid": 10_000, "test": 10_000}

DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in (
        Dataset(
            name="binarized-mnist",
            description="MNIST, fixed binarization of Larochelle & Murray (2011): 784 values 0/1",
            shapes={split: (rows, 784) for split, rows in BINARIZED_SPLITS.items()},
            binary=True,
            files={
                split: (f"binarized_mnist/binarized_mnist_{split}.amat",)
                for split in BINARIZED_SPLITS
            },
            url="http://www.cs.toronto.edu/~larocheh/public/datasets/binarized_mnist/",
            read=binarized_mnist.read,
        ),
        Dataset(
            name="mnist-test",
            description="the MNIST test set: 784 grey levels in [0, 1], labels 0-9",
            shapes={"test": (10_000, 784)},
            binary=False,
            files={"test": MNIST_TEST_FILES},
            url=MNIST_URL,
            read=mnist.read,
        ),
        Dataset(
            name="mnist-resplit",
            description="the MNIST test set re-split, fixed: images 0-7999 train, 8000-9999 "
            "test (784 grey levels in [0, 1], labels 0-9)",
            shapes={split: (rows, 784) for split, rows in mnist.RESPLIT.items()},
            binary=False,
            files={split: MNIST_TEST_FILES for split in mnist.RESPLIT},
            url=MNIST_URL,
            read=mnist.read_resplit,
        ),
        Dataset(
            name="digits",
            description="scikit-learn's 8×8 digits, binarized at 8 of 16: 64 values 0/1, labels 0-9",
            shapes={split: (rows, 64) for split, rows in digits.SIZES.items()},
            binary=True,
            files={split: () for split in digits.SIZES},
            url="",
            read=digits.read,
        ),
    )
}


def load(name: str, split: str, data_dir: str | Path | None = None) -> Tensor:
    """The float32 ``[N, D]`` data of ``split`` of the dataset ``name`` (see ``DATASETS``).

    Files are looked up in ``data_dir``, else ``$REPARAM_DATA``, else ``~/.cache/reparam``,
    and downloaded there from their canonical address when absent. Raises
    ``FileNotFoundError`` (saying which files to place where) when that download fails, and
    ``ValueError`` for an unknown name or split, or a file of the wrong shape or values.

    >>> load("digits", "train").shape
    torch.Size([1437, 64])
    """
    return read_split(name, split, data_dir)[0]


def load_labelled(
    name: str, split: str, data_dir: str | Path | None = None
) -> tuple[Tensor, Tensor]:
    """The data (as ``load``) and int64 ``[N]`` labels of a labelled dataset's ``split``.

    >>> x, y = load_labelled("digits", "test")
    >>> x.shape, y.shape, int(y.max())
    (torch.Size([180, 64]), torch.Size([180]), 9)
    """
    data, labels = read_split(name, split, data_dir)
    if labels is None:
        raise ValueError(f"{name} has no labels; load() gives its data")
    return data, labels


def read_split(name: str, split: str, data_dir: str | Path | None) -> tuple[Tensor, Tensor | None]:
    """The data and labels (or ``None``) of ``split``, checked against its shape and values."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")
    dataset = DATASETS[name]
    if split not in dataset.shapes:
        raise ValueError(f"{name} has no split {split!r}; choose from {', '.join(dataset.shapes)}")
    paths = fetch(dataset, split, files.data_dir(data_dir))
    data, labels = dataset.read(split, paths)
    if tuple(data.shape) != dataset.shapes[split]:
        raise ValueError(
            f"{name} {split}: shape {tuple(data.shape)}, expected {dataset.shapes[split]}, "
            f"from {', '.join(map(str, paths))}"
        )
    if dataset.binary and not ((data == 0) | (data == 1)).all():
        raise ValueError(f"{name} {split}: values other than 0 and 1")
    if not dataset.binary and not ((data >= 0) & (data <= 1)).all():
        raise ValueError(f"{name} {split}: values outside [0, 1]")
    return data, labels


def fetch(dataset: Dataset, split: str, root: Path) -> tuple[Path, ...]:
    """The files of ``split`` in the data folder ``root``, the missing ones downloaded first
    (through ``files.download``, which tests replace)."""
    missing = dataset.missing(split, root)
    try:
        for name in missing:
            files.download(dataset.url_of(name), root / name)
    except OSError as error:
        raise FileNotFoundError(missing_message(dataset, split, root, missing, error)) from error
    return tuple(files.locate(root, name) or root / name for name in dataset.files[split])


def missing_message(
    dataset: Dataset, split: str, root: Path, missing: list[str], error: OSError
) -> str:
    """Which files to place where, after a failed download."""
    subfolders = sorted({str(Path(name).parent) for name in missing})
    places = ", ".join(str(root / subfolder) for subfolder in subfolders)
    holding = ", ".join(f"{subfolder}/" for subfolder in subfolders)
    return "\n".join(
        [
            f"{dataset.name} {split}: {len(missing)} file(s) missing, and the download "
            f"failed ({error}):",
            *(f"  {root / name}  from {dataset.url_of(name)}" for name in missing),
            f"Place them (gzipped or not) in {places}, or point $REPARAM_DATA or --data-dir "
            f"at a folder that holds {holding}",
        ]
    )

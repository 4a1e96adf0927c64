"""Datasets: a registry of named datasets with their splits, found, downloaded and checked.

``load(name, split)`` gives a float32 ``[N, D]`` tensor; ``DATASETS`` says what there is.
The data folder is ``data_dir()``: the argument, else ``$REPARAM_DATA``, else
``~/.cache/reparam``.
"""

from reparam.data.files import data_dir
from reparam.data.registry import DATASETS, Dataset, load, load_labelled

__all__ = ["DATASETS", "Dataset", "data_dir", "load", "load_labelled"]

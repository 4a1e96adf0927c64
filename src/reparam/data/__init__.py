"""Datasets: a registry of named datasets with their splits, found, downloaded and checked.

``load(name, split)`` gives a float32 ``[N, D]`` tensor; ``DATASETS`` says what there is.
The data folder is ``data_dir()``: the argument, else ``$REPARAM_DATA``, else
``~/.cache/reparam``.

The sentence corpora are apart: ``load_corpus(name)`` gives a ``Corpus`` of tokenized
sentences (``CORPORA``: ``embedded``, ``austen``, ``ptb``), with a ``Vocabulary`` built on its
training split; ``pad_batch`` and ``SentenceBatches`` make padded batches of them.
"""

from reparam.data.files import data_dir
from reparam.data.registry import DATASETS, Dataset, load, load_labelled
from reparam.data.sentence_batches import SentenceBatches, pad_batch
from reparam.data.sentences import CORPORA, Corpus, load_corpus
from reparam.data.vocabulary import Vocabulary

__all__ = [
    "CORPORA",
    "DATASETS",
    "Corpus",
    "Dataset",
    "SentenceBatches",
    "Vocabulary",
    "data_dir",
    "load",
    "load_corpus",
    "load_labelled",
    "pad_batch",
]

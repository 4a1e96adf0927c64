"""A text corpus: tokenized sentences in fixed train/valid/test splits, and their raw text.

The Austen corpora are split by a hash of each sentence's text, so a sentence lands in the
same split wherever it appears (the embedded sample keeps the Austen corpus's splits, and a
repeated sentence such as "Yes." never straddles train and test):

.. math::
    \\text{split}(s) = \\begin{cases} \\text{valid} & h(s) \\bmod 20 = 18 \\\\
    \\text{test} & h(s) \\bmod 20 = 19 \\\\ \\text{train} & \\text{otherwise} \\end{cases}
    \\qquad h(s) = \\text{SHA-1}(\\texttt{"reparam-split:"} \\, s),

with the digest's first 8 bytes read as a big-endian integer: about 90 / 5 / 5 %.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from reparam.data.vocabulary import Vocabulary

SPLITS = ("train", "valid", "test")
SALT = b"reparam-split:"

Sentences = tuple[tuple[str, ...], ...]


def split_of(text: str) -> str:
    """The split of the sentence ``text`` by the hash rule of the module docstring.

    Example:
        >>> split_of("It is a truth universally acknowledged.")
        'train'
    """
    bucket = int.from_bytes(hashlib.sha1(SALT + text.encode("utf-8")).digest()[:8], "big") % 20
    return {18: "valid", 19: "test"}.get(bucket, "train")


@dataclass(frozen=True, eq=False)
class Corpus:
    """Sentences of a corpus in three splits: ``train``, ``valid``, ``test`` are tuples of
    tokenized sentences (words, no ``<bos>``/``<eos>``); ``raw[split]`` holds the same
    sentences as text (cased and punctuated where the source is), one string each.

    ``vocabulary()`` is built on ``train`` alone, capped at ``max_vocabulary`` entries
    (specials included; ``None``: every word of ``train``).

    Example:
        >>> corpus = Corpus.from_texts("toy", ["The cat sat.", "A dog ran."], str.split)
        >>> corpus.train, corpus.valid, corpus.test, corpus.text("test")
        ((('A', 'dog', 'ran.'),), (), (('The', 'cat', 'sat.'),), ('The cat sat.',))
    """

    name: str
    train: Sentences
    valid: Sentences
    test: Sentences
    raw: Mapping[str, tuple[str, ...]]
    max_vocabulary: int | None = None

    @classmethod
    def from_texts(
        cls,
        name: str,
        texts: Iterable[str],
        tokenize: Callable[[str], tuple[str, ...]],
        max_vocabulary: int | None = None,
    ) -> Corpus:
        """The corpus of the sentences ``texts``, each split by :func:`split_of` and
        tokenized by ``tokenize``."""
        raw: dict[str, list[str]] = {split: [] for split in SPLITS}
        for text in texts:
            raw[split_of(text)].append(text)
        tokens = {split: tuple(tuple(tokenize(t)) for t in raw[split]) for split in SPLITS}
        return cls(
            name,
            *(tokens[split] for split in SPLITS),
            raw={split: tuple(raw[split]) for split in SPLITS},
            max_vocabulary=max_vocabulary,
        )

    def sentences(self, split: str) -> Sentences:
        """The tokenized sentences of ``split`` (``"train"``, ``"valid"`` or ``"test"``)."""
        return getattr(self, check_split(split))

    def text(self, split: str) -> tuple[str, ...]:
        """The sentences of ``split`` as text."""
        return self.raw[check_split(split)]

    def vocabulary(self) -> Vocabulary:
        """The vocabulary of the training sentences, at most ``max_vocabulary`` entries."""
        return Vocabulary.build(self.train, max_size=self.max_vocabulary)

    def __repr__(self) -> str:
        sizes = ", ".join(f"{split} {len(self.sentences(split))}" for split in SPLITS)
        return f"Corpus({self.name!r}: {sizes} sentences)"


def check_split(split: str) -> str:
    """``split`` if it is one of ``SPLITS``."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}; got {split!r}")
    return split

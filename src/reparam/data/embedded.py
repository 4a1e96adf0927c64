"""The sentence corpus shipped inside the package, so the sentence models run with nothing else.

``corpora/austen-sample.txt.gz`` holds, one a line, the 3,860 sentences of 5 to 25 words of
*Pride and Prejudice* (Austen, 1813; public domain), in reading order, exactly as
``reparam.data.austen.sample_sentences()`` cuts them from Debian's ``r-cran-janeaustenr``.
It was written, and is rewritten after a change of those rules, by :func:`regenerate` (run
``python -c "from reparam.data import embedded; embedded.regenerate()"`` where the Austen
corpus is available); ``tests/data/test_text_embedded.py`` checks that the two agree. The
sentences are split and tokenized as the Austen corpus is (``text_corpus.split_of``,
``english.tokenize``), so each lies in the split it has there; the vocabulary is every word
of the training sentences.
"""

from __future__ import annotations

import gzip
from pathlib import Path

from reparam.data import austen, english, files
from reparam.data.text_corpus import Corpus

FILE = Path(__file__).parent / "corpora" / "austen-sample.txt.gz"


def read_sentences(path: Path = FILE) -> list[str]:
    """The sentences of the gzipped text file ``path``, one a line.

    Example:
        >>> read_sentences()[0]
        'It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a wife.'
    """
    try:
        text = files.read_bytes(path).decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"{path} is not UTF-8 text ({error.reason})") from error
    return text.splitlines()


def load_embedded() -> Corpus:
    """The shipped sentences as a :class:`Corpus` named ``"embedded"``.

    Example:
        >>> load_embedded()
        Corpus('embedded': train 3474, valid 187, test 199 sentences)
    """
    return Corpus.from_texts("embedded", read_sentences(), english.tokenize)


def regenerate(path: Path = FILE, data_dir: str | Path | None = None) -> Path:
    """Write the shipped file anew, from ``austen.sample_sentences(data_dir)``, reproducibly
    (gzip without a time stamp or file name), and return its path."""
    lines = "".join(f"{sentence}\n" for sentence in austen.sample_sentences(data_dir))
    path.write_bytes(gzip.compress(lines.encode("utf-8"), mtime=0))
    return path

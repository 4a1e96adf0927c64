"""Jane Austen's six novels as a sentence corpus, from Debian's ``r-cran-janeaustenr`` (MIT).

The texts (public domain) come in the R package janeaustenr (Silge, 2017), one character
vector of lines a novel, in R's lazy-load format, read here without R by the PyPI package
``rdata`` (``pip install "reparam[text]"``). The package is looked up, in order:

1. installed: ``/usr/lib/R/site-library/janeaustenr/data/Rdata.rdb`` (``apt-get install
   r-cran-janeaustenr``, which pulls in R itself);
2. the Debian package file alone, ``r-cran-janeaustenr_*.deb`` (1.6 MB, no dependencies), in
   ``<data folder>/austen/``, then in the user's cache folder ``~/.cache/reparam/austen/``,
   where ``reparam data fetch-austen`` puts it (``apt-get download r-cran-janeaustenr``).

The lines parsed from the package are cached under ``~/.cache/reparam/parsed/``. A novel's
text starts at its first chapter heading (title pages and the preface go) and ends before
"THE END", "FINIS" or the editor's "A NOTE ON THE TEXT"; chapter and volume headings, lines of
asterisks, bracketed editorial notes and footnotes are dropped, and the italics marks ``_``
and footnote marks ``*`` removed. The paragraphs are cut into sentences and tokenized by
``reparam.data.english``, and the sentences split by ``text_corpus.split_of``; the
vocabulary keeps the 10,000 most frequent training tokens (specials included).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor

from reparam.data import cache, english, files, r_lazyload
from reparam.data.debian import download, newest_deb, read_deb
from reparam.data.text_corpus import Corpus

PACKAGE = "r-cran-janeaustenr"
FETCH = "reparam data fetch-austen"
INSTALLED = Path("/usr/lib/R/site-library/janeaustenr/data/Rdata.rdb")
IN_DEB = "usr/lib/R/site-library/janeaustenr/data/Rdata"
MAX_VOCABULARY = 10_000

BOOKS = {
    "sensesensibility": "Sense and Sensibility",
    "prideprejudice": "Pride and Prejudice",
    "mansfieldpark": "Mansfield Park",
    "emma": "Emma",
    "northangerabbey": "Northanger Abbey",
    "persuasion": "Persuasion",
}
"""The novels, by their names in janeaustenr, in its order (of publication)."""

HEADING = re.compile(r"(?i)(chapter|volume)\s+[0-9ivxlc]+\.?")
ENDINGS = ("THE END", "FINIS", "A NOTE ON THE TEXT")


def cache_folder() -> Path:
    """The user's cache folder for the ``.deb``: ``~/.cache/reparam/austen`` (or under
    ``$XDG_CACHE_HOME``)."""
    return cache.FOLDER.parent / "austen"


def deb_folders(data_dir: str | Path | None = None) -> list[Path]:
    """The folders searched for ``r-cran-janeaustenr_*.deb``, in order."""
    return list(dict.fromkeys([files.data_dir(data_dir) / "austen", cache_folder()]))


def find_source(data_dir: str | Path | None = None) -> Path | None:
    """The installed ``Rdata.rdb``, else the newest ``.deb`` of the first folder holding one,
    else ``None``."""
    if INSTALLED.is_file():
        return INSTALLED
    return newest_deb(PACKAGE, deb_folders(data_dir))


def fetch(folder: Path | None = None) -> Path:
    """Download the Debian package into ``folder`` (default :func:`cache_folder`) with
    ``apt-get download``, and return its path (see :func:`reparam.data.debian.download`)."""
    return download(PACKAGE, cache_folder() if folder is None else folder)


def read_books(data_dir: str | Path | None = None) -> dict[str, list[str]]:
    """The lines of each novel, by its janeaustenr name, in the order of :data:`BOOKS`."""
    source = find_source(data_dir)
    if source is None:
        folders = " or ".join(str(folder) for folder in deb_folders(data_dir))
        raise FileNotFoundError(
            f"the austen corpus needs Debian's {PACKAGE}: not installed ({INSTALLED}) and no "
            f"{PACKAGE}_*.deb in {folders}; run `{FETCH}` (and pip install rdata)"
        )
    encoded = cache.cached(source, parse_books)
    return json.loads(encoded.numpy().tobytes().decode("utf-8"))


def parse_books(source: Path) -> Tensor:
    """The novels' lines in ``source`` (``Rdata.rdb`` beside its ``.rdx``, or a ``.deb``), as
    the UTF-8 bytes of a JSON object in a uint8 tensor (the form ``cache.cached`` keeps)."""
    if source.suffix == ".deb":
        found = read_deb(source, [f"{IN_DEB}.rdx", f"{IN_DEB}.rdb"])
        index, database = found[f"{IN_DEB}.rdx"], found[f"{IN_DEB}.rdb"]
    else:
        index, database = source.with_suffix(".rdx").read_bytes(), source.read_bytes()
    objects = r_lazyload.read_lazyload(index, database, str(source))
    missing = [name for name in BOOKS if name not in objects]
    if missing:
        raise ValueError(f"{source} lacks the novels {', '.join(missing)}")
    books = {name: [str(line) for line in objects[name]] for name in BOOKS}
    return torch.frombuffer(bytearray(json.dumps(books).encode("utf-8")), dtype=torch.uint8)


def book_sentences(lines: Sequence[str]) -> list[str]:
    """The sentences of a novel's ``lines``, cleaned as the module docstring says.

    Example:
        >>> book_sentences(["TITLE", "", "CHAPTER I", "", "It rained. _We_ stayed in.*", "",
        ...                 "*A footnote.", "", "THE END", "", "Notes."])
        ['It rained.', 'We stayed in.']
    """
    start = next((i for i, line in enumerate(lines) if HEADING.fullmatch(line.strip())), 0)
    end = next((i for i, line in enumerate(lines) if line.strip().upper() in ENDINGS), len(lines))
    sentences = []
    for paragraph in english.paragraphs(lines[start:end]):
        if is_apparatus(paragraph):
            continue
        cleaned = paragraph.replace("_", "").replace("*", "")
        sentences.extend(map(english.balance_quotes, english.split_sentences(cleaned)))
    return sentences


def is_apparatus(paragraph: str) -> bool:
    """Whether ``paragraph`` is not the novel's prose: a heading, a line without lowercase
    letters (titles, asterisks), an editorial note in brackets or a footnote.

    Example:
        >>> list(map(is_apparatus, ("Chapter 3", "* * *", "[End of volume.]", "Yes.")))
        [True, True, True, False]
    """
    return (
        HEADING.fullmatch(paragraph) is not None
        or re.search("[a-z]", paragraph) is None
        or paragraph.startswith(("[", "*"))
    )


def word_count(sentence: str) -> int:
    """The number of word and number tokens of ``sentence`` (punctuation not counted).

    Example:
        >>> word_count('"Yes, ma\\'am," said she.')
        4
    """
    return sum(token[0].isalnum() for token in english.tokenize(sentence))


def all_sentences(books: dict[str, list[str]]) -> list[str]:
    """The sentences of every novel, in the order of :data:`BOOKS`."""
    return [sentence for name in BOOKS for sentence in book_sentences(books[name])]


def load_austen(data_dir: str | Path | None = None) -> Corpus:
    """The six novels as a :class:`Corpus` named ``"austen"``."""
    sentences = all_sentences(read_books(data_dir))
    return Corpus.from_texts("austen", sentences, english.tokenize, MAX_VOCABULARY)


def sample_sentences(
    data_dir: str | Path | None = None,
    books: Sequence[str] = ("prideprejudice",),
    min_words: int = 5,
    max_words: int = 25,
) -> list[str]:
    """The sentences of ``books`` with ``min_words`` … ``max_words`` words (by
    :func:`word_count`), in reading order: the procedure that made the embedded corpus
    (``reparam.data.embedded``)."""
    unknown = [name for name in books if name not in BOOKS]
    if unknown:
        raise ValueError(f"books must be among {', '.join(BOOKS)}; got {', '.join(unknown)}")
    read = read_books(data_dir)
    return [
        sentence
        for name in books
        for sentence in book_sentences(read[name])
        if min_words <= word_count(sentence) <= max_words
    ]

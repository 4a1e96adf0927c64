"""English prose into sentences and tokens: the rules the Austen corpora are cut by.

* Paragraphs are runs of non-blank lines, joined by single spaces.
* A sentence ends at ``.``, ``!`` or ``?`` (with any closing quotes or brackets after it) that
  is followed by a space and a capital letter or digit (after any opening quotes), unless the
  word before the full stop is a title or an initial (``Mr.``, ``Mrs.``, ``Dr.``, ``St.``,
  ``F.`` …; see ``ABBREVIATIONS``).
* A quotation of several sentences leaves a sentence with an unmatched double quote at its
  start or end: that quote is dropped (``balance_quotes``).
* Tokens are lowercase: words with their inner apostrophes and hyphens (``don't``,
  ``good-humoured``), numbers, the dash ``--``, and every other character on its own.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

ABBREVIATIONS = frozenset(
    {"mr", "mrs", "messrs", "dr", "st", "hon", "rev", "col", "capt", "esq", "wm", "vol"}
)
"""The words a full stop after them does not end a sentence (lowercase, without the stop)."""

END = re.compile(r"""[.!?]+["')\]]*\s+(?=["'(\[]*[A-Z0-9])""")
LAST_WORD = re.compile(r"(\w+)\.$")
TOKEN = re.compile(r"[a-z]+(?:['-][a-z]+)*|[0-9]+|--|[^\sa-z0-9]")


def paragraphs(lines: Iterable[str]) -> Iterator[str]:
    """The paragraphs of ``lines``: runs of non-blank lines joined by single spaces.

    Example:
        >>> list(paragraphs(["It is a truth", "  universally acknowledged.", "", "Yes."]))
        ['It is a truth universally acknowledged.', 'Yes.']
    """
    block: list[str] = []
    for line in [*lines, ""]:
        if line.strip():
            block.append(line.strip())
        elif block:
            yield " ".join(" ".join(block).split())
            block = []


def split_sentences(paragraph: str) -> list[str]:
    """The sentences of ``paragraph``, by the rule of the module docstring.

    Example:
        >>> split_sentences('"Oh!" said Mrs. Bennet. "Is it so, Mr. Bennet?" Yes.')
        ['"Oh!" said Mrs. Bennet.', '"Is it so, Mr. Bennet?"', 'Yes.']
    """
    sentences, start = [], 0
    for end in END.finditer(paragraph):
        before = LAST_WORD.search(paragraph, start, end.start() + 1)
        if before is not None and is_abbreviation(before.group(1)):
            continue
        sentences.append(paragraph[start : end.end()].strip())
        start = end.end()
    rest = paragraph[start:].strip()
    return [*sentences, rest] if rest else sentences


def balance_quotes(sentence: str) -> str:
    """``sentence`` without its first or last character when that is a double quote left
    unmatched (the sentence holds an odd number of them).

    Example:
        >>> balance_quotes('"You know it well.'), balance_quotes('"Yes," said he.')
        ('You know it well.', '"Yes," said he.')
    """
    if sentence.count('"') % 2 == 0:
        return sentence
    if sentence.startswith('"'):
        return sentence[1:].lstrip()
    if sentence.endswith('"'):
        return sentence[:-1].rstrip()
    return sentence


def is_abbreviation(word: str) -> bool:
    """Whether a full stop after ``word`` leaves the sentence open: a title in
    ``ABBREVIATIONS`` or a capital initial (but not the pronoun ``I``).

    Example:
        >>> is_abbreviation("Mrs"), is_abbreviation("F"), is_abbreviation("I")
        (True, True, False)
    """
    return word.lower() in ABBREVIATIONS or (len(word) == 1 and word.isupper() and word != "I")


def tokenize(sentence: str) -> tuple[str, ...]:
    """The tokens of ``sentence``, lowercased, punctuation split off.

    Example:
        >>> tokenize("\\"I don't know,\\" said she--good-humoured.")
        ('"', 'i', "don't", 'know', ',', '"', 'said', 'she', '--', 'good-humoured', '.')
    """
    return tuple(TOKEN.findall(sentence.lower()))

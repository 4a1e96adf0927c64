r"""Levenshtein distance and the error rates of a recogniser: character (CER) and word (WER).

The distance between a hypothesis h (length m) and a reference r (length n) is the least
number of substitutions, insertions and deletions that turn r into h, by the recursion
(Levenshtein 1966; Wagner & Fischer 1974)

.. math:: d(i, j) = \min\big(d(i-1, j) + 1,\ d(i, j-1) + 1,\ d(i-1, j-1) + 𝟙[h_i \ne r_j]\big),

:math:`d(i, 0) = i`, :math:`d(0, j) = j`, over the first i symbols of h and j of r. An
insertion is a symbol of the hypothesis that the reference lacks, a deletion a reference
symbol that the hypothesis misses. Several alignments may reach the least distance with
different counts; the one kept has the fewest insertions and deletions (the most
substitutions), as sclite's weights do. Since :math:`I - D = m - n` on every alignment, the
pair (distance, I + D) fixes all three counts.

A corpus error rate is the total distance over the total reference length, not the mean of the
per-sentence rates: :math:`\mathrm{CER} = \sum_k d(h_k, r_k) / \sum_k |r_k|` over characters,
WER the same over whitespace-separated words. It exceeds 1 when the hypotheses insert more
than the references hold.

References:
    Levenshtein (1966), Binary codes capable of correcting deletions, insertions, and
    reversals, Soviet Physics Doklady 10(8).
    Wagner & Fischer (1974), The string-to-string correction problem, J. ACM 21(1).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import NamedTuple


class EditCounts(NamedTuple):
    """The least number of edits from a reference to a hypothesis, and its three kinds."""

    distance: int
    substitutions: int
    insertions: int
    deletions: int


class ErrorRate(NamedTuple):
    """A corpus error rate, total edits / total reference length, with the counts."""

    rate: float
    edits: int
    substitutions: int
    insertions: int
    deletions: int
    reference_length: int


def edit_distance(hypothesis: Sequence[Hashable], reference: Sequence[Hashable]) -> EditCounts:
    r"""The Levenshtein distance from ``reference`` to ``hypothesis`` (any sequences of
    comparable symbols: strings, lists of words or of class ids), with its numbers of
    substitutions, insertions and deletions.

    One row of the table :math:`d(i, j)` at a time, each cell the pair (distance, I + D)
    compared lexicographically, so ties between alignments go to the one with the most
    substitutions; :math:`O(mn)` time, :math:`O(n)` memory (Levenshtein 1966).

    >>> edit_distance("kitten", "sitting")
    EditCounts(distance=3, substitutions=2, insertions=0, deletions=1)
    >>> edit_distance(["a", "cat"], ["the", "cat", "sat"])
    EditCounts(distance=2, substitutions=1, insertions=0, deletions=1)
    """
    # row[j] = (distance, insertions + deletions) between hypothesis[:i] and reference[:j]
    row = [(j, j) for j in range(len(reference) + 1)]
    for i, h in enumerate(hypothesis, 1):
        diagonal, row[0] = row[0], (i, i)
        for j, r in enumerate(reference, 1):
            insert, delete = row[j], row[j - 1]  # hypothesis[i-1] or reference[j-1] unmatched
            match = (diagonal[0] + (h != r), diagonal[1])
            diagonal = row[j]
            row[j] = min(match, (insert[0] + 1, insert[1] + 1), (delete[0] + 1, delete[1] + 1))
    distance, indels = row[-1]
    surplus = len(hypothesis) - len(reference)  # insertions − deletions
    return EditCounts(distance, distance - indels, (indels + surplus) // 2, (indels - surplus) // 2)


def _corpus_rate(
    hypotheses: Sequence[Sequence[Hashable]], references: Sequence[Sequence[Hashable]], unit: str
) -> ErrorRate:
    if len(hypotheses) != len(references):
        raise ValueError(
            f"hypotheses and references must pair up, got {len(hypotheses)} and {len(references)}"
        )
    totals = [0, 0, 0, 0]
    for h, r in zip(hypotheses, references, strict=True):
        for k, value in enumerate(edit_distance(h, r)):
            totals[k] += value
    length = sum(len(r) for r in references)
    if length == 0:
        raise ValueError(f"references must hold at least one {unit}, got none")
    return ErrorRate(totals[0] / length, *totals, length)


def character_error_rate(hypotheses: Sequence[str], references: Sequence[str]) -> ErrorRate:
    r"""Corpus character error rate :math:`\sum_k d(h_k, r_k) / \sum_k |r_k|` over the
    characters of each string, spaces included (Levenshtein distance, Levenshtein 1966), with
    the totals of edits, substitutions, insertions, deletions and reference characters.

    >>> character_error_rate(["the cat", "a dog"], ["the hat", "dog"])
    ErrorRate(rate=0.3, edits=3, substitutions=1, insertions=2, deletions=0, reference_length=10)
    """
    return _corpus_rate(hypotheses, references, "character")


def word_error_rate(hypotheses: Sequence[str], references: Sequence[str]) -> ErrorRate:
    r"""Corpus word error rate :math:`\sum_k d(h_k, r_k) / \sum_k |r_k|` over the words of
    each string (split on whitespace), with the totals as :func:`character_error_rate`
    (Levenshtein 1966).

    >>> word_error_rate(["the cat sat", "a dog"], ["the hat sat down", "dog"])
    ErrorRate(rate=0.6, edits=3, substitutions=1, insertions=1, deletions=1, reference_length=5)
    """
    return _corpus_rate([h.split() for h in hypotheses], [r.split() for r in references], "word")

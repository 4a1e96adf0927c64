r"""An n-gram language model over integer symbols, smoothed by interpolated Kneser–Ney.

The symbols are the class ids of a recogniser's alphabet (its CTC blank excluded) and one
boundary symbol, ``end``, that closes every sentence and pads the history before its first
symbol, so :math:`p(l) = \prod_{i=1}^{|l|+1} p(l_i \mid l_{i-n+1:i-1})` with
:math:`l_{|l|+1} = \text{end}` and :math:`l_i = \text{end}` for :math:`i \le 0`.

Interpolated Kneser–Ney (Kneser & Ney 1995; Chen & Goodman 1999) mixes each order k
with the order below, from the history h (k − 1 symbols) and its tail h' (h without its first
symbol):

.. math:: p_k(w \mid h) = \frac{\max(c_k(h w) - D_k, 0)}{\sum_v c_k(h v)}
          + \frac{D_k\, N_{1+}(h\,•)}{\sum_v c_k(h v)}\, p_{k-1}(w \mid h'),

with :math:`p_k(w \mid h) = p_{k-1}(w \mid h')` for a history never seen, and
:math:`p_0(w) = 1/(V+1)` uniform over the V symbols and end. The top order counts
occurrences, :math:`c_n(g) = c(g)`; a lower order counts the distinct symbols seen before a
k-gram, :math:`c_k(g) = N_{1+}(•\, g)` (its continuation count), as a lower order only
matters where the higher one has backed off. :math:`N_{1+}(h\,•)` is the number of distinct
symbols seen after h, and the discount of order k is Ney et al.'s (1994)
:math:`D_k = n_1 / (n_1 + 2 n_2)`, from the numbers of k-grams with count 1 and 2 (0.5 where
no count is 1). Each mixture's weights sum to 1, so every :math:`p_k(\cdot \mid h)` is a
distribution with no zero.

References:
    Kneser & Ney (1995), Improved backing-off for m-gram language modeling, ICASSP.
    Chen & Goodman (1999), An empirical study of smoothing techniques for language
    modeling, Computer Speech & Language 13(4).
    Ney, Essen & Kneser (1994), On structuring probabilistic dependences in stochastic
    language modelling, Computer Speech & Language 8(1).
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import torch

from reparam import checks

Symbols = Sequence[int] | str
Counts = dict[tuple[int, ...], int]  # by n-gram
CACHED_HISTORIES = 2**16  # distributions kept, about 2 kB each over 30 symbols


class _Level(NamedTuple):
    """The counts of one order after one history: per next symbol, their sum and how many
    symbols have one."""

    counts: dict[int, int]
    total: int
    types: int


class NGramLM:
    r"""An interpolated Kneser–Ney n-gram model (module docstring) of order ``order`` over
    the symbols ``vocabulary`` and ``end``.

    ``vocabulary`` is the class ids, or a dict from character to class id, with which the
    sequences may also be strings. Build one with :meth:`fit`, or from the counts of the
    top order's n-grams (``end``-padded as :meth:`fit` pads) and, optionally, the discounts
    :math:`D_1..D_n`; :meth:`log_prob` caches the distribution after each of the last
    ``CACHED_HISTORIES`` histories it met, so a beam search pays for a history once.

    >>> lm = NGramLM.fit(["abab", "abba"], order=2, vocabulary={"a": 1, "b": 2})
    >>> round(math.exp(lm.log_prob(2, (1,))), 4), round(lm.perplexity(["abab"]), 4)
    (0.7143, 1.7884)
    """

    def __init__(
        self,
        ngram_counts: Mapping[tuple[int, ...], int],
        order: int,
        vocabulary: Sequence[int] | Mapping[str, int],
        end: int = -1,
        discounts: Sequence[float] | None = None,
    ) -> None:
        self.order = checks.positive_int("order", order)
        self.end = checks.integer("end", end)
        self.alphabet, self.vocabulary = _alphabet_and_ids(vocabulary, self.end)
        self.symbols = (*self.vocabulary, self.end)
        self._ngram_counts = _checked_counts(ngram_counts, self.order, set(self.symbols))
        self._counts = _level_counts(self._ngram_counts, self.order)
        self.discounts = _checked_discounts(discounts, self._counts)
        self._tables = [_tables(c) for c in self._counts]
        self._distributions = functools.lru_cache(CACHED_HISTORIES)(self._distribution)

    @classmethod
    def fit(
        cls,
        sequences: Iterable[Symbols],
        order: int,
        vocabulary: Sequence[int] | Mapping[str, int],
        end: int = -1,
        discounts: Sequence[float] | None = None,
    ) -> NGramLM:
        r"""Count the n-grams of ``sequences`` (class-id sequences, or strings when
        ``vocabulary`` maps characters to ids), each padded with ``order`` − 1 ``end``
        symbols before and one after, and smooth them (Kneser & Ney 1995; Chen & Goodman
        1999). ``discounts`` gives :math:`D_1..D_n` in (0, 1], estimated when None.

        >>> NGramLM.fit([[1, 2]], order=2, vocabulary=[1, 2]).counts(2)
        {(-1, 1): 1, (1, 2): 1, (2, -1): 1}
        """
        order = checks.positive_int("order", order)
        alphabet, ids = _alphabet_and_ids(vocabulary, checks.integer("end", end))
        ngrams: Counter[tuple[int, ...]] = Counter()
        for sequence in sequences:
            padded = (end,) * (order - 1) + _encode(sequence, alphabet, ids) + (end,)
            ngrams.update(padded[i : i + order] for i in range(len(padded) - order + 1))
        return cls(ngrams, order, vocabulary, end, discounts)

    def encode(self, sequence: Symbols) -> tuple[int, ...]:
        """``sequence`` as a tuple of class ids (characters mapped through the alphabet),
        checked to hold vocabulary symbols only.

        >>> NGramLM({}, 1, {"a": 1, "b": 2}).encode("ba")
        (2, 1)
        """
        return _encode(sequence, self.alphabet, self.vocabulary)

    def counts(self, k: int) -> dict[tuple[int, ...], int]:
        r"""The counts :math:`c_k` that order k smooths, by k-gram: occurrences for the top
        order, continuation counts :math:`N_{1+}(•\, g)` below it (Kneser & Ney 1995).

        >>> NGramLM.fit(["aab", "b"], order=2, vocabulary={"a": 1, "b": 2}).counts(1)
        {(-1,): 1, (1,): 2, (2,): 2}
        """
        if not 1 <= checks.integer("k", k) <= self.order:
            raise ValueError(f"k must be an order in [1, {self.order}], got {k}")
        return dict(sorted(self._counts[k - 1].items()))

    def log_prob(self, symbol: int, history: Sequence[int]) -> float:
        r""":math:`\log p(\text{symbol} \mid \text{history})`, natural log, from the last
        n − 1 symbols of ``history`` (padded with ``end`` when shorter), by the recursion of
        the module docstring (Chen & Goodman 1999).

        >>> lm = NGramLM.fit(["abab", "abba", "aab"], order=3, vocabulary={"a": 1, "b": 2})
        >>> round(math.exp(lm.log_prob(2, (1, 1))), 4)
        0.7325
        """
        try:
            return self._distributions(self._context(history))[symbol]
        except KeyError:
            raise ValueError(
                f"symbol must be in the vocabulary or end = {self.end}, got {symbol!r}"
            ) from None

    def score(self, sequence: Symbols) -> float:
        r"""The total :math:`\log p(l) = \sum_{i=1}^{|l|+1} \log p(l_i \mid l_{<i})` of a
        sequence, its end symbol included.

        >>> lm = NGramLM.fit(["abab", "abba", "aab"], order=3, vocabulary={"a": 1, "b": 2})
        >>> round(lm.score("ab"), 4), round(lm.score([1, 2]), 4)
        (-1.2495, -1.2495)
        """
        ids = self.encode(sequence)
        terms = (self.log_prob(s, ids[:i]) for i, s in enumerate((*ids, self.end)))
        return math.fsum(terms)

    def perplexity(self, sequences: Iterable[Symbols]) -> float:
        r"""Corpus perplexity :math:`\exp\big(-\sum_k \log p(l_k) / \sum_k (|l_k| + 1)\big)`,
        each end symbol counted as a token.

        >>> lm = NGramLM.fit(["ab"], order=1, vocabulary={"a": 1, "b": 2})
        >>> round(lm.perplexity(["ab"]), 4)
        3.0
        """
        total, tokens = 0.0, 0
        for sequence in sequences:
            total += self.score(sequence)
            tokens += len(self.encode(sequence)) + 1
        if tokens == 0:
            raise ValueError("sequences must hold at least one sequence, got none")
        return math.exp(-total / tokens)

    def state_dict(self) -> dict[str, Any]:
        """The model as plain values (ints, floats, strings, lists, dicts and tensors), which
        ``torch.load(..., weights_only=True)`` reads back.

        >>> lm = NGramLM.fit(["ab"], order=2, vocabulary={"a": 1, "b": 2})
        >>> NGramLM.from_state_dict(lm.state_dict()).counts(2) == lm.counts(2)
        True
        """
        grams = sorted(self._ngram_counts.items())
        return {
            "order": self.order,
            "vocabulary": list(self.vocabulary),
            "alphabet": dict(self.alphabet),
            "end": self.end,
            "discounts": list(self.discounts),
            "ngrams": torch.tensor([g for g, _ in grams], dtype=torch.long).reshape(
                len(grams), self.order
            ),
            "counts": torch.tensor([c for _, c in grams], dtype=torch.long),
        }

    @classmethod
    def from_state_dict(cls, state: Mapping[str, Any]) -> NGramLM:
        """The model that :meth:`state_dict` wrote.

        >>> lm = NGramLM.fit([[1, 2]], order=2, vocabulary=[1, 2])
        >>> NGramLM.from_state_dict(lm.state_dict()).score([1, 2]) == lm.score([1, 2])
        True
        """
        grams = map(tuple, state["ngrams"].tolist())
        counts = dict(zip(grams, state["counts"].tolist(), strict=True))
        vocabulary = state["alphabet"] or state["vocabulary"]
        return cls(counts, state["order"], vocabulary, state["end"], state["discounts"])

    def _context(self, history: Sequence[int]) -> tuple[int, ...]:
        """The last n − 1 symbols of ``history``, padded on the left with ``end``."""
        width = self.order - 1
        if width == 0:
            return ()
        tail = tuple(history[-width:])
        return (self.end,) * (width - len(tail)) + tail

    def _distribution(self, context: tuple[int, ...]) -> dict[int, float]:
        """log p(· | context) over the symbols."""
        probs = [1.0 / len(self.symbols)] * len(self.symbols)
        for k, (tables, discount) in enumerate(zip(self._tables, self.discounts, strict=True)):
            level = tables.get(context[len(context) - k :])
            if level is None:  # history never seen: this order is the order below
                continue
            backoff = discount * level.types / level.total
            probs = [
                max(level.counts.get(w, 0) - discount, 0.0) / level.total + backoff * p
                for w, p in zip(self.symbols, probs, strict=True)
            ]
        return dict(zip(self.symbols, map(math.log, probs), strict=True))


def _alphabet_and_ids(
    vocabulary: Sequence[int] | Mapping[str, int], end: int
) -> tuple[dict[str, int], tuple[int, ...]]:
    """The character → id map (empty for a vocabulary of ids) and the ids, checked."""
    alphabet = dict(vocabulary) if isinstance(vocabulary, Mapping) else {}
    ids = tuple(checks.integer("vocabulary", k) for k in (alphabet.values() or vocabulary))
    if len(set(ids)) != len(ids) or end in ids:
        raise ValueError(f"vocabulary must hold distinct ids other than end = {end}, got {ids}")
    return alphabet, ids


def _encode(sequence: Symbols, alphabet: dict[str, int], ids: tuple[int, ...]) -> tuple[int, ...]:
    if isinstance(sequence, str):
        unknown = sorted(set(sequence) - alphabet.keys())
        if unknown:
            raise ValueError(f"sequence holds characters outside the alphabet: {unknown}")
        return tuple(alphabet[c] for c in sequence)
    out = tuple(sequence)
    unknown = sorted(set(out) - set(ids))
    if unknown:
        raise ValueError(f"sequence holds symbols outside the vocabulary: {unknown}")
    return out


def _checked_counts(
    ngram_counts: Mapping[tuple[int, ...], int], order: int, symbols: set[int]
) -> dict[tuple[int, ...], int]:
    out = {}
    for gram, count in ngram_counts.items():
        if len(gram) != order or not symbols.issuperset(gram):
            raise ValueError(f"ngram_counts must be keyed by {order}-grams of symbols, got {gram}")
        if checks.integer("ngram_counts", count) < 1:
            raise ValueError(f"ngram_counts must be positive, got {count} for {gram}")
        out[tuple(gram)] = int(count)
    return out


def _level_counts(ngrams: Counts, order: int) -> list[Counts]:
    """c_1..c_n: the occurrence counts at the top, continuation counts N1+(• g) below."""
    levels = [ngrams]
    for _ in range(order - 1):
        levels.append(dict(Counter(g[1:] for g in levels[-1])))
    return levels[::-1]


def _estimated_discount(counts: dict[tuple[int, ...], int]) -> float:
    """Ney et al.'s D = n1 / (n1 + 2 n2), or 0.5 where no count is 1."""
    frequency = Counter(counts.values())
    n1, n2 = frequency[1], frequency[2]
    return n1 / (n1 + 2 * n2) if n1 else 0.5


def _checked_discounts(discounts: Sequence[float] | None, counts: list[Counts]) -> list[float]:
    if discounts is None:
        return [_estimated_discount(c) for c in counts]
    if len(discounts) != len(counts):
        raise ValueError(f"discounts must give one per order ({len(counts)}), got {discounts}")
    out = [checks.positive_real("discounts", d) for d in discounts]
    if max(out) > 1:
        raise ValueError(f"discounts must lie in (0, 1], got {list(discounts)}")
    return out


def _tables(counts: dict[tuple[int, ...], int]) -> dict[tuple[int, ...], _Level]:
    """The counts of one order grouped by history."""
    grouped: dict[tuple[int, ...], dict[int, int]] = {}
    for gram, count in counts.items():
        grouped.setdefault(gram[:-1], {})[gram[-1]] = count
    return {h: _Level(c, sum(c.values()), len(c)) for h, c in grouped.items()}

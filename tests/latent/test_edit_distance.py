"""Levenshtein distance and corpus error rates against hand values and the recursive
definition."""

from __future__ import annotations

import functools
import random

import pytest

from reparam.latent import EditCounts, character_error_rate, edit_distance, word_error_rate


def recursive(h, r):
    """(distance, insertions + deletions, substitutions, insertions, deletions), least by its
    first two entries, from the recursive definition over all alignments."""

    @functools.cache
    def best(i, j):
        if i == 0 or j == 0:
            return (i + j, i + j, 0, i, j)
        options = []
        d, indels, s, ins, dels = best(i - 1, j - 1)
        miss = h[i - 1] != r[j - 1]
        options.append((d + miss, indels, s + miss, ins, dels))
        d, indels, s, ins, dels = best(i - 1, j)
        options.append((d + 1, indels + 1, s, ins + 1, dels))
        d, indels, s, ins, dels = best(i, j - 1)
        options.append((d + 1, indels + 1, s, ins, dels + 1))
        return min(options, key=lambda o: o[:2])

    return best(len(h), len(r))


@pytest.mark.parametrize(
    ("hypothesis", "reference", "expected"),
    [
        ("", "", (0, 0, 0, 0)),
        ("abc", "", (3, 0, 3, 0)),
        ("", "abc", (3, 0, 0, 3)),
        ("abc", "abc", (0, 0, 0, 0)),
        ("kitten", "sitting", (3, 2, 0, 1)),
        ("sitting", "kitten", (3, 2, 1, 0)),
        ("ab", "ba", (2, 2, 0, 0)),  # two substitutions, not an insertion and a deletion
        ("flaw", "lawn", (2, 0, 1, 1)),
        ([1, 2, 3], [1, 3], (1, 0, 1, 0)),
    ],
)
def test_hand_values(hypothesis, reference, expected):
    assert edit_distance(hypothesis, reference) == EditCounts(*expected)


def test_random_strings_match_the_recursive_definition():
    rng = random.Random(0)
    for _ in range(400):
        h = "".join(rng.choices("abc", k=rng.randint(0, 7)))
        r = "".join(rng.choices("abc", k=rng.randint(0, 7)))
        d, _, s, ins, dels = recursive(h, r)
        counts = edit_distance(h, r)
        assert counts == (d, s, ins, dels)
        assert counts.distance == edit_distance(r, h).distance
        assert counts.distance == counts.substitutions + counts.insertions + counts.deletions


def test_corpus_rates_are_total_edits_over_total_reference_length():
    hypotheses = ["the cat sat", "on mat", "a dog barks loudly"]
    references = ["the cat sat down", "on the mat", "a dog barks"]
    wer = word_error_rate(hypotheses, references)
    assert wer == (3 / 10, 3, 0, 1, 2, 10)
    cer = character_error_rate(hypotheses, references)
    per_line = [edit_distance(h, r) for h, r in zip(hypotheses, references, strict=True)]
    assert cer.edits == sum(c.distance for c in per_line) == 5 + 4 + 7
    assert cer.reference_length == 16 + 10 + 11
    assert cer.rate == pytest.approx(16 / 37)
    assert (cer.substitutions, cer.insertions, cer.deletions) == (0, 7, 9)


def test_words_split_on_any_whitespace():
    assert word_error_rate(["  the\tcat "], ["the cat"]).rate == 0.0


def test_bad_corpora_raise():
    with pytest.raises(ValueError, match="hypotheses and references must pair up, got 1 and 2"):
        character_error_rate(["a"], ["a", "b"])
    with pytest.raises(ValueError, match="references must hold at least one word"):
        word_error_rate(["a"], [" "])
    with pytest.raises(ValueError, match="references must hold at least one character"):
        character_error_rate([], [])

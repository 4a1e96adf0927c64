"""The Kneser–Ney n-gram model against brute-force counts, a direct transcription of the
recursion, and held-out English text."""

from __future__ import annotations

import gzip
import itertools
import math
import random
from collections import Counter
from pathlib import Path

import pytest
import torch

import reparam.data
from reparam.latent import NGramLM

END = -1
TINY = [[1, 2, 1, 1], [2, 2], [], [1, 3, 2, 1, 3]]


def padded(sequence, order):
    return (END,) * (order - 1) + tuple(sequence) + (END,)


def brute_counts(corpus, order, k):
    """Occurrences of the k-grams ending at predicted positions (k = order), or how many
    distinct symbols precede them (k < order)."""
    occurrences, left = Counter(), {}
    for sequence in corpus:
        p = padded(sequence, order)
        for i in range(order - 1, len(p)):
            gram = p[i - k + 1 : i + 1]
            occurrences[gram] += 1
            left.setdefault(gram, set()).add(p[i - k])
    if k == order:
        return dict(occurrences)
    return {gram: len(before) for gram, before in left.items()}


def kneser_ney(corpus, order, symbols, w, history):
    """p(w | history), the last order − 1 symbols, straight from the recursion of
    Chen & Goodman (1999) and the brute-force counts."""
    counts = [brute_counts(corpus, order, k) for k in range(1, order + 1)]
    discounts = []
    for c in counts:
        n = Counter(c.values())
        discounts.append(n[1] / (n[1] + 2 * n[2]) if n[1] else 0.5)

    def p(k, h):
        if k == 0:
            return 1 / len(symbols)
        after = {g[-1]: c for g, c in counts[k - 1].items() if g[:-1] == h}
        lower = p(k - 1, h[1:])
        if not after:
            return lower
        total, d = sum(after.values()), discounts[k - 1]
        return max(after.get(w, 0) - d, 0) / total + d * len(after) / total * lower

    return p(order, tuple(history))


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_counts_match_brute_force(order):
    lm = NGramLM.fit(TINY, order, vocabulary=[1, 2, 3])
    for k in range(1, order + 1):
        assert lm.counts(k) == dict(sorted(brute_counts(TINY, order, k).items()))


@pytest.mark.parametrize("order", [1, 2, 3])
def test_probabilities_match_the_recursion(order):
    lm = NGramLM.fit(TINY, order, vocabulary=[1, 2, 3, 4])  # 4 is never seen
    symbols = [1, 2, 3, 4, END]
    for history in itertools.product(symbols, repeat=order - 1):
        for w in symbols:
            expected = kneser_ney(TINY, order, symbols, w, history)
            assert math.exp(lm.log_prob(w, history)) == pytest.approx(expected, rel=1e-12)


def random_corpus(rng, n, alphabet="abcde"):
    return ["".join(rng.choices(alphabet, k=rng.randint(0, 12))) for _ in range(n)]


@pytest.mark.parametrize("order", [1, 2, 3, 5])
def test_every_distribution_sums_to_one_and_has_no_zero(order):
    rng = random.Random(order)
    alphabet = {c: i + 1 for i, c in enumerate("abcdef")}  # f is never seen
    lm = NGramLM.fit(random_corpus(rng, 30), order, vocabulary=alphabet)
    seen = [g[:-1] for g in lm.counts(order)]
    unseen = [tuple(rng.choices(lm.symbols, k=order - 1)) for _ in range(50)]
    for history in [*seen, *unseen, (), (6,) * 7]:
        probs = [math.exp(lm.log_prob(w, history)) for w in lm.symbols]
        assert min(probs) > 0
        assert math.fsum(probs) == pytest.approx(1, abs=1e-9)


def english(lines):
    path = Path(reparam.data.__file__).parent / "corpora" / "austen-sample.txt.gz"
    with gzip.open(path, "rt", encoding="utf-8") as f:
        text = [line.lower() for line in itertools.islice(f.read().splitlines(), lines)]
    return ["".join(c for c in line if c.isalpha() or c == " ") for line in text]


def test_higher_orders_lower_held_out_perplexity():
    lines = english(1200)
    train, held_out = lines[:1000], lines[1000:]
    alphabet = {c: i + 1 for i, c in enumerate(sorted(set("".join(lines))))}
    perplexity = [
        NGramLM.fit(train, order, vocabulary=alphabet).perplexity(held_out) for order in (1, 3, 5)
    ]
    assert perplexity[0] > perplexity[1] > perplexity[2]
    assert perplexity[0] > 1.5 * perplexity[2]


def test_score_is_the_sum_of_the_conditionals_and_perplexity_its_mean():
    lm = NGramLM.fit(TINY, 3, vocabulary=[1, 2, 3])
    sequence = [3, 1, 2]
    terms = [lm.log_prob(s, tuple(sequence[:i])) for i, s in enumerate([*sequence, END])]
    assert lm.score(sequence) == pytest.approx(sum(terms), abs=1e-12)
    total = lm.score(sequence) + lm.score([])
    assert lm.perplexity([sequence, []]) == pytest.approx(math.exp(-total / 5), rel=1e-12)


def test_a_history_longer_than_the_order_uses_its_tail():
    lm = NGramLM.fit(TINY, 2, vocabulary=[1, 2, 3])
    assert lm.log_prob(3, (2, 2, 1)) == lm.log_prob(3, (1,))
    assert lm.log_prob(1, ()) == lm.log_prob(1, (END,))


def test_state_dict_loads_with_weights_only(tmp_path):
    lm = NGramLM.fit(["abca", "bb"], 3, vocabulary={"a": 1, "b": 2, "c": 3}, end=0)
    torch.save({"lm": lm.state_dict()}, tmp_path / "lm.pt")
    state = torch.load(tmp_path / "lm.pt", weights_only=True)["lm"]
    back = NGramLM.from_state_dict(state)
    assert back.discounts == lm.discounts and back.end == 0
    for history in itertools.product(lm.symbols, repeat=2):
        for w in lm.symbols:
            assert back.log_prob(w, history) == lm.log_prob(w, history)
    assert back.score("cab") == lm.score("cab")


def test_given_discounts_are_used():
    lm = NGramLM.fit(TINY, 2, vocabulary=[1, 2, 3], discounts=[0.25, 0.75])
    assert lm.discounts == [0.25, 0.75]
    assert NGramLM.from_state_dict(lm.state_dict()).discounts == [0.25, 0.75]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"order": 0}, "order must be a positive integer"),
        ({"vocabulary": [1, 1, 2, 3]}, "vocabulary must hold distinct ids"),
        ({"vocabulary": [1, 2, 3], "end": 2}, "vocabulary must hold distinct ids other than end"),
        ({"vocabulary": [1, 2]}, "outside the vocabulary: \\[3\\]"),
        ({"discounts": [0.5]}, "discounts must give one per order"),
        ({"discounts": [0.5, 1.5]}, "discounts must lie in"),
        ({"discounts": [0.0, 0.5]}, "discounts must be finite and > 0"),
    ],
)
def test_bad_arguments_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        NGramLM.fit(TINY, **{"order": 2, "vocabulary": [1, 2, 3], **kwargs})


def test_unknown_symbols_raise():
    lm = NGramLM.fit(["ab"], 2, vocabulary={"a": 1, "b": 2})
    with pytest.raises(ValueError, match="symbol must be in the vocabulary or end"):
        lm.log_prob(7, (1,))
    with pytest.raises(ValueError, match="characters outside the alphabet: \\['z'\\]"):
        lm.score("az")
    with pytest.raises(ValueError, match="k must be an order in \\[1, 2\\]"):
        lm.counts(3)

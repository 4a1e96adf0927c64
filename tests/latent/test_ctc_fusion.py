"""Shallow fusion of a language model into the CTC prefix beam search, against the plain
search and brute-force enumeration of the labellings."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from reparam.latent import NGramLM, prefix_beam_search


def collapse(path, blank):
    out, prev = [], None
    for k in path:
        if k != prev and k != blank:
            out.append(k)
        prev = k
    return tuple(out)


def labelling_log_probs(lp, blank):
    """log p_ctc(l | x) of every labelling with an alignment, by summing over all paths."""
    T, C = lp.shape
    totals = {}
    for path in itertools.product(range(C), repeat=T):
        p = math.exp(sum(lp[t, k].item() for t, k in enumerate(path)))
        key = collapse(path, blank)
        totals[key] = totals.get(key, 0.0) + p
    return {labels: math.log(p) for labels, p in totals.items()}


def random_log_probs(T, N, C, seed):
    torch.manual_seed(seed)
    scale = torch.linspace(0.5, 3, N)[:, None]
    return (torch.randn(T, N, C, dtype=torch.float64) * scale).log_softmax(2)


def language_model(labels, end=-1, order=2):
    corpus = [[labels[i % len(labels)] for i in range(j, j + 3)] for j in range(5)]
    return NGramLM.fit(corpus, order, vocabulary=labels, end=end)


@pytest.mark.parametrize("blank", [0, 2])
@pytest.mark.parametrize("beam_width", [1, 3, 8])
def test_zero_weight_and_bonus_equal_the_plain_search(blank, beam_width):
    lp = random_log_probs(12, 5, 4, seed=beam_width)
    lm = language_model([k for k in range(4) if k != blank])
    plain = prefix_beam_search(lp, [12, 9, 5, 1, 0], beam_width, blank)
    fused = prefix_beam_search(
        lp, [12, 9, 5, 1, 0], beam_width, blank, lm=lm, lm_weight=0.0, insertion_bonus=0.0
    )
    assert fused == plain


@pytest.mark.parametrize(("preferred", "other"), [(1, 2), (2, 1)])
def test_the_language_model_breaks_an_acoustic_tie(preferred, other):
    # frame 0 cannot tell label 1 from 2; frames 1-2 say blank, then label 3
    probs = torch.tensor([[0.1, 0.45, 0.45, 0.0], [0.9, 0.0, 0.0, 0.1], [0.1, 0.0, 0.0, 0.9]])
    lp = probs.double().log().unsqueeze(1)
    lm = NGramLM.fit([[preferred, 3]] * 9 + [[other, 3]], 2, vocabulary=[1, 2, 3])
    [(plain, _)] = prefix_beam_search(lp, [3])
    [(fused, _)] = prefix_beam_search(lp, [3], lm=lm, lm_weight=1.0)
    assert plain == [1, 3]  # the tie goes to the first label searched
    assert fused == [preferred, 3]


@pytest.mark.parametrize(
    ("lm_weight", "insertion_bonus", "blank"),
    [(0.0, 0.7, 0), (0.8, 0.0, 0), (0.8, 1.5, 1), (2.0, -0.5, 0), (0.5, 2.0, 2)],
)
def test_a_beam_of_every_prefix_finds_the_best_fused_score(lm_weight, insertion_bonus, blank):
    T, N, C = 4, 4, 3
    lp = random_log_probs(T, N, C, seed=7)
    in_len = [4, 3, 2, 4]
    lm = language_model([k for k in range(C) if k != blank], end=blank)
    found = prefix_beam_search(
        lp, in_len, 100, blank, lm=lm, lm_weight=lm_weight, insertion_bonus=insertion_bonus
    )
    for n, (labels, score) in enumerate(found):
        ctc = labelling_log_probs(lp[: in_len[n], n], blank)
        fused = {
            ls: p + lm_weight * lm.score(ls) + insertion_bonus * len(ls) for ls, p in ctc.items()
        }
        best = max(fused, key=fused.get)
        assert labels == list(best)
        assert score == pytest.approx(fused[best], abs=1e-9)


def test_a_negative_bonus_shortens_and_a_positive_one_lengthens():
    lp = random_log_probs(10, 1, 4, seed=1)
    lengths = [
        len(prefix_beam_search(lp, [10], insertion_bonus=beta)[0][0]) for beta in (-20, 0, 20)
    ]
    assert lengths[0] <= lengths[1] <= lengths[2]
    assert lengths[0] == 0 and lengths[2] > lengths[1]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"lm_weight": math.nan}, ValueError, "lm_weight must be finite"),
        ({"insertion_bonus": math.inf}, ValueError, "insertion_bonus must be finite"),
        ({"lm_weight": "1"}, TypeError, "lm_weight must be a real number"),
    ],
)
def test_bad_fusion_settings_raise(kwargs, error, message):
    with pytest.raises(error, match=message):
        prefix_beam_search(torch.zeros(2, 1, 3), [2], **kwargs)

"""CTC forced alignment (Viterbi) against brute-force enumeration of the alignments and a
posteriorgram whose label positions are known."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from reparam.latent import ctc_forced_align


def collapse(path, blank):
    out, prev = [], None
    for k in path:
        if k != prev and k != blank:
            out.append(k)
        prev = k
    return out


def best_alignment_score(lp, target, blank):
    """max over the paths that collapse to ``target`` of their log-probability."""
    T, C = lp.shape
    scores = [
        sum(lp[t, k].item() for t, k in enumerate(path))
        for path in itertools.product(range(C), repeat=T)
        if collapse(path, blank) == target
    ]
    return max(scores, default=-math.inf)


# (target, input length) over the labels of C = 3 classes with the blank at 0 or 2
CASES = [([1, 1], 5), ([1, 2, 1], 6), ([], 4), ([2], 1), ([1, 2], 2), ([2, 2], 3)]


@pytest.mark.parametrize("blank", [0, 2])
def test_the_path_is_the_best_alignment_of_the_target(blank):
    torch.manual_seed(0)
    labels = [k for k in range(3) if k != blank]
    targets = [[labels[i - 1] for i in target] for target, _ in CASES]
    in_len = [t for _, t in CASES]
    lp = (torch.randn(6, len(CASES), 3, dtype=torch.float64) * 2).log_softmax(2)
    width = max(map(len, targets))
    padded = torch.tensor([t + [labels[0]] * (width - len(t)) for t in targets])
    found = ctc_forced_align(lp, padded, in_len, [len(t) for t in targets], blank)
    for n, (alignment, target) in enumerate(zip(found, targets, strict=True)):
        frames = lp[: in_len[n], n]
        path = alignment.labels.tolist()
        assert collapse(path, blank) == target
        assert alignment.states.shape == (in_len[n],)
        along = sum(frames[t, k].item() for t, k in enumerate(path))
        assert alignment.log_prob == pytest.approx(along, abs=1e-12)
        assert alignment.log_prob == pytest.approx(
            best_alignment_score(frames, target, blank), abs=1e-12
        )
        for j, (start, end) in enumerate(alignment.segments.tolist()):
            assert start < end and set(alignment.states[start:end].tolist()) == {2 * j + 1}


def posteriorgram(frame_labels, C, peak=0.9):
    """Log-probabilities with ``peak`` on each frame's class and the rest spread evenly."""
    probs = torch.full((len(frame_labels), C), (1 - peak) / (C - 1), dtype=torch.float64)
    probs[torch.arange(len(frame_labels)), torch.tensor(frame_labels)] = peak
    return probs.log()


def test_segment_boundaries_of_a_synthetic_posteriorgram():
    # label runs: 3 at frames [2, 5), 7 at [6, 8), 7 again at [9, 11), 4 at [11, 14)
    frames = [0, 0, 3, 3, 3, 0, 7, 7, 0, 7, 7, 4, 4, 4, 0, 0]
    lp = posteriorgram(frames, C=10)
    alignment = ctc_forced_align(lp, torch.tensor([3, 7, 7, 4]), 16, 4)
    assert alignment.labels.tolist() == frames
    assert alignment.segments.tolist() == [[2, 5], [6, 8], [9, 11], [11, 14]]
    assert alignment.states.tolist() == [0, 0, 1, 1, 1, 2, 3, 3, 4, 5, 5, 7, 7, 7, 8, 8]


def test_a_target_the_frames_disagree_with_is_still_aligned():
    # the frames say 5 5 5 6 6 6; forced to [6, 5], each label gets a share of the frames
    lp = posteriorgram([5, 5, 5, 6, 6, 6], C=8)
    alignment = ctc_forced_align(lp, torch.tensor([6, 5]), 6, 2)
    assert collapse(alignment.labels.tolist(), 0) == [6, 5]
    assert alignment.log_prob == pytest.approx(best_alignment_score(lp, [6, 5], 0), abs=1e-12)


def test_a_batch_equals_each_sequence_alone():
    torch.manual_seed(1)
    lp = torch.randn(7, 3, 4).log_softmax(2)
    targets, in_len, tgt_len = torch.tensor([1, 2, 3, 3, 2]), [7, 5, 4], [2, 2, 1]
    batch = ctc_forced_align(lp, targets, in_len, tgt_len)
    for n, piece in enumerate(torch.split(targets, tgt_len)):
        alone = ctc_forced_align(lp[: in_len[n], n], piece, in_len[n], tgt_len[n])
        assert torch.equal(alone.states, batch[n].states)
        assert torch.equal(alone.segments, batch[n].segments)
        assert alone.log_prob == batch[n].log_prob


def test_structural_zeros_are_avoided():
    lp = posteriorgram([1, 1, 0, 2], C=3)
    lp[1, 1] = -math.inf  # frame 1 may not be label 1
    alignment = ctc_forced_align(lp, torch.tensor([1, 2]), 4, 2)
    assert alignment.labels[1].item() != 1 and math.isfinite(alignment.log_prob)


def test_empty_input_with_an_empty_target():
    alignment = ctc_forced_align(torch.zeros(0, 3), torch.tensor([], dtype=torch.long), 0, 0)
    assert alignment.states.tolist() == [] and alignment.segments.shape == (0, 2)
    assert alignment.log_prob == 0.0


@pytest.mark.parametrize(
    ("lp", "target", "message"),
    [
        (torch.zeros(2, 3), [1, 1], "sequence 0 has no alignment within its 2 frames"),
        (torch.full((3, 3), -math.inf), [1], "sequence 0 has no alignment"),
        (torch.zeros(3, 3), [0], "targets must not contain the blank"),
        (torch.zeros(3, 3), [3], "target labels must lie in"),
    ],
)
def test_bad_targets_raise(lp, target, message):
    with pytest.raises(ValueError, match=message):
        ctc_forced_align(lp, torch.tensor(target), lp.shape[0], len(target))

"""The reduction factor's reshapes (reparam.speech.reduction): time order, the inverse, the
fed-back frame, and seed 000's reshaping bug caught."""

import pytest
import torch

from reparam.speech.reduction import (
    group_frames,
    last_frames,
    pad_to_multiple,
    step_frames,
    ungroup_frames,
)


@pytest.mark.parametrize("r", [1, 2, 3, 5])
def test_groups_hold_consecutive_frames_in_time_order(r):
    frames = torch.randn(3, 4 * r, 7)
    groups = group_frames(frames, r)
    assert groups.shape == (3, 4, r * 7)
    for g in range(4):
        expected = torch.cat([frames[:, g * r + j] for j in range(r)], dim=-1)
        assert torch.equal(groups[:, g], expected)
    assert torch.equal(ungroup_frames(groups, r), frames)


@pytest.mark.parametrize("r", [1, 2, 5])
def test_the_fed_back_frame_is_the_last_of_each_group(r):
    frames = torch.randn(2, 3 * r, 4)
    fed_back = last_frames(group_frames(frames, r), r)
    assert torch.equal(fed_back, frames[:, r - 1 :: r])


def test_step_frames_is_seed_000s_right_reshape_and_the_wrong_one_differs():
    """Seed 000: a batch of 5 vectors of size 8 is 2 frames of size 4 per row; frame 0 must be
    every row's first four columns. ``view(2, 5, 4)`` has the same shape and is wrong."""
    output = torch.arange(40.0).reshape(5, 8)
    right = step_frames(output, 2)
    assert right.shape == (2, 5, 4)
    assert torch.equal(right[0], output[:, :4]) and torch.equal(right[1], output[:, 4:])
    wrong = output.view(2, 5, 4)
    assert wrong.shape == right.shape and not torch.equal(wrong, right)
    assert not torch.equal(wrong[0], output[:, :4])


def test_a_decoder_loop_of_step_frames_equals_ungroup_frames():
    """Frames emitted step by step and concatenated in time equal the batch ungrouping."""
    B, G, r, n = 3, 4, 5, 6
    outputs = torch.randn(G, B, r * n)  # one decoder output per step
    looped = torch.cat([step_frames(o, r) for o in outputs], dim=0).transpose(0, 1)
    assert torch.equal(looped, ungroup_frames(outputs.transpose(0, 1), r))


def test_pad_to_multiple_pads_only_the_end_of_time():
    frames = torch.ones(2, 7, 3)
    padded = pad_to_multiple(frames, 3, value=-1.0)
    assert padded.shape == (2, 9, 3) and torch.equal(padded[:, :7], frames)
    assert (padded[:, 7:] == -1).all() and pad_to_multiple(frames, 7) is frames


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: group_frames(torch.ones(1, 7, 3), 2), "pad_to_multiple"),
        (lambda: group_frames(torch.ones(7, 3), 1), "frames"),
        (lambda: group_frames(torch.ones(1, 4, 3), 0), "r"),
        (lambda: ungroup_frames(torch.ones(1, 4, 7), 2), "r = 2"),
        (lambda: step_frames(torch.ones(2, 2, 3), 1), "output"),
        (lambda: last_frames(torch.ones(1, 4, 7), 3), "r = 3"),
    ],
)
def test_bad_arguments_are_named(call, name):
    with pytest.raises(ValueError, match=name):
        call()

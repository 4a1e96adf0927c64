"""CTC loss, lattice and decoders against torch.nn.functional.ctc_loss and brute force."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from reparam.latent.ctc import (
    ctc_alpha_beta,
    ctc_loss,
    ctc_posteriors,
    greedy_decode,
    prefix_beam_search,
)

# Targets (in "label slots" 1..4, mapped past the blank) and input lengths of a mixed batch:
# repeats, an empty target, the shortest feasible inputs (T = S + adjacent repeats), and
# longer ones with slack.
BATCH = [
    ([1, 1, 2], 4),  # one repeat: shortest feasible is 3 + 1
    ([], 6),
    ([3, 4, 1, 2], 10),
    ([2, 2, 2], 5),  # two repeats: 3 + 2
    ([4], 1),
    ([1, 2, 1, 3], 7),
]


def collapse(path, blank):
    out, prev = [], None
    for k in path:
        if k != prev and k != blank:
            out.append(k)
        prev = k
    return out


def label_map(blank, C):
    """The non-blank classes, in order, so slot i is the i-th of them (slot 0 unused)."""
    return [None, *[k for k in range(C) if k != blank]]


def make_batch(blank, concatenated, T=10, C=5, batch=BATCH, seed=0):
    torch.manual_seed(seed)
    labels = label_map(blank, C)
    seqs = [[labels[i] for i in tgt] for tgt, _ in batch]
    in_len = torch.tensor([t for _, t in batch])
    tgt_len = torch.tensor([len(s) for s in seqs])
    if concatenated:
        targets = torch.tensor([k for s in seqs for k in s], dtype=torch.long)
    else:
        # Pad with junk (a valid label) to check that padding is ignored.
        width = max(len(s) for s in seqs)
        targets = torch.tensor([s + [labels[1]] * (width - len(s)) for s in seqs])
    logits = torch.randn(T, len(batch), C, dtype=torch.float64, requires_grad=True)
    return logits, targets, in_len, tgt_len


def both(logits, targets, in_len, tgt_len, **kw):
    """(ours, torch's) loss and logits-gradient."""
    out = []
    for fn in (ctc_loss, F.ctc_loss):
        loss = fn(logits.log_softmax(2), targets, in_len, tgt_len, **kw)
        (grad,) = torch.autograd.grad(loss.sum(), logits)
        out.append((loss.detach(), grad))
    return out


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("concatenated", [False, True])
@pytest.mark.parametrize("blank", [0, 2])
def test_matches_torch_values_and_gradients(reduction, concatenated, blank):
    logits, targets, in_len, tgt_len = make_batch(blank, concatenated)
    (ours, g_ours), (ref, g_ref) = both(
        logits, targets, in_len, tgt_len, blank=blank, reduction=reduction
    )
    assert torch.isfinite(ours).all()
    torch.testing.assert_close(ours, ref, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(g_ours, g_ref, atol=1e-6, rtol=1e-6)


def test_lengths_as_python_sequences_and_float32():
    logits, targets, in_len, tgt_len = make_batch(0, False)
    lp = logits.detach().float().log_softmax(2)
    ours = ctc_loss(lp, targets, in_len.tolist(), tuple(tgt_len.tolist()), reduction="none")
    ref = F.ctc_loss(lp, targets, in_len, tgt_len, reduction="none")
    assert ours.dtype == torch.float32
    torch.testing.assert_close(ours, ref, atol=1e-4, rtol=1e-5)


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_infeasible_is_inf_or_zero_with_zero_gradient(reduction):
    # One short of feasible: [1, 1, 2] needs 4 frames, [2, 2] needs 3, [3, 4] needs 2.
    batch = [([1, 1, 2], 3), ([2, 2], 2), ([3, 4], 5), ([1, 2], 1)]
    logits, targets, in_len, tgt_len = make_batch(0, False, T=5, batch=batch)
    loss = ctc_loss(logits.log_softmax(2), targets, in_len, tgt_len, reduction="none")
    assert loss[[0, 1, 3]].eq(math.inf).all() and torch.isfinite(loss[2])
    lp = logits.log_softmax(2)
    ours = ctc_loss(lp, targets, in_len, tgt_len, reduction=reduction)
    torch.testing.assert_close(ours, F.ctc_loss(lp, targets, in_len, tgt_len, reduction=reduction))
    assert ours.isinf().any()

    (ours, g_ours), (ref, g_ref) = both(
        logits, targets, in_len, tgt_len, reduction=reduction, zero_infinity=True
    )
    torch.testing.assert_close(ours, ref, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(g_ours, g_ref, atol=1e-6, rtol=1e-6)
    assert g_ours[:, [0, 1, 3]].eq(0).all() and g_ours[:, 2].abs().sum() > 0


@pytest.mark.parametrize("T", [1, 2, 3, 4, 5])
def test_brute_force_path_sum(T):
    C, blank = 3, 0
    gen = torch.Generator().manual_seed(T)
    targets = [[], [1], [2, 2], [1, 2], [2, 1, 2], [1, 1, 1]]
    lp = torch.randn(T, len(targets), C, generator=gen, dtype=torch.float64).log_softmax(2)
    width = max(map(len, targets))
    padded = torch.tensor([t + [1] * (width - len(t)) for t in targets])
    loss = ctc_loss(lp, padded, [T] * len(targets), list(map(len, targets)), reduction="none")
    for n, target in enumerate(targets):
        total = sum(
            math.exp(sum(lp[t, n, k].item() for t, k in enumerate(path)))
            for path in itertools.product(range(C), repeat=T)
            if collapse(path, blank) == target
        )
        assert math.exp(-loss[n].item()) == pytest.approx(total, rel=1e-10, abs=1e-300)


def test_alpha_beta_identity_and_posteriors():
    logits, targets, in_len, tgt_len = make_batch(0, False)
    lp = logits.detach().log_softmax(2)
    lat = ctc_alpha_beta(lp, targets, in_len, tgt_len)
    ref = -F.ctc_loss(lp, targets, in_len, tgt_len, reduction="none")
    torch.testing.assert_close(lat.log_likelihood, ref, atol=1e-9, rtol=1e-9)
    per_frame = torch.logsumexp(lat.log_alpha + lat.log_beta, dim=2)  # [T, N]
    gamma = ctc_posteriors(lp, targets, in_len, tgt_len)
    for n in range(len(BATCH)):
        T_n, S_n = int(in_len[n]), int(tgt_len[n])
        expected = lat.log_likelihood[n].expand(T_n)
        torch.testing.assert_close(per_frame[:T_n, n], expected, atol=1e-9, rtol=1e-9)
        torch.testing.assert_close(gamma[:T_n, n].sum(1), torch.ones(T_n, dtype=lp.dtype))
        assert gamma[T_n:, n].eq(0).all() and gamma[:, n, 2 * S_n + 1 :].eq(0).all()
        # The first frame sits on the leading blank or the first label; the last on the
        # final label or the trailing blank.
        assert gamma[0, n, 2:].eq(0).all()
        assert gamma[T_n - 1, n, : max(2 * S_n - 1, 0)].eq(0).all()


def test_posteriors_of_a_forced_alignment():
    # T = S + repeats: the only path is 1, 0, 1 for [1, 1].
    lp = torch.randn(3, 1, 3, dtype=torch.float64).log_softmax(2)
    gamma = ctc_posteriors(lp, torch.tensor([[1, 1]]), [3], [2])[:, 0]
    expected = torch.zeros(3, 5, dtype=torch.float64)
    expected[0, 1] = expected[1, 2] = expected[2, 3] = 1
    torch.testing.assert_close(gamma, expected)


def test_posteriors_of_infeasible_are_zero():
    lp = torch.randn(2, 1, 3).log_softmax(2)
    assert ctc_posteriors(lp, torch.tensor([[1, 1]]), [2], [2]).eq(0).all()


def test_greedy_decode_hand_made():
    # Frames' best classes: 1 1 0 1 2 2 0 0 | past the length of the second: 2 2
    best = torch.tensor([[1, 1, 0, 1, 2, 2, 0, 0], [0, 2, 2, 1, 0, 1, 2, 2]]).T
    lp = torch.full((8, 2, 3), -5.0).scatter(2, best.unsqueeze(2), -0.01)
    assert greedy_decode(lp, [8, 6]) == [[1, 1, 2], [2, 1, 1]]
    assert greedy_decode(lp, [0, 1]) == [[], []]
    assert greedy_decode(lp, [8, 6], blank=2) == [[1, 0, 1, 0], [0, 1, 0, 1]]


def brute_force_labellings(lp_n, blank):
    """log p(l | x) of every labelling reachable from the T frames of one sequence."""
    T, C = lp_n.shape
    totals: dict[tuple[int, ...], float] = {}
    for path in itertools.product(range(C), repeat=T):
        key = tuple(collapse(path, blank))
        p = math.exp(sum(lp_n[t, k].item() for t, k in enumerate(path)))
        totals[key] = totals.get(key, 0.0) + p
    return {k: math.log(v) for k, v in totals.items()}


@pytest.mark.parametrize("blank", [0, 1])
def test_prefix_beam_search_is_exact_with_a_wide_beam(blank):
    torch.manual_seed(3)
    T, N, C = 5, 6, 3
    # Sharpen some sequences so best path and best labelling tend to differ.
    lp = (
        torch.randn(T, N, C, dtype=torch.float64) * torch.linspace(0.5, 3, N)[:, None]
    ).log_softmax(2)
    in_len = [5, 5, 4, 3, 1, 5]
    found = prefix_beam_search(lp, in_len, beam_width=100, blank=blank)
    for n, (labels, score) in enumerate(found):
        table = brute_force_labellings(lp[: in_len[n], n], blank)
        best = max(table, key=table.get)
        assert labels == list(best)
        assert score == pytest.approx(table[best], abs=1e-10)
        target = torch.tensor([labels], dtype=torch.long)
        own = ctc_loss(lp[:, n : n + 1], target, [in_len[n]], [len(labels)], blank, "sum")
        assert score == pytest.approx(-own.item(), abs=1e-10)


def test_prefix_beam_search_can_beat_best_path():
    # Best path is all blanks (0.6^2 = 0.36) but label 1 collects 0.64 over three paths.
    lp = torch.tensor([[0.6, 0.4], [0.6, 0.4]]).log().unsqueeze(1)
    assert greedy_decode(lp, [2]) == [[]]
    [(labels, score)] = prefix_beam_search(lp, [2], beam_width=2)
    assert labels == [1] and score == pytest.approx(math.log(0.64))


def test_extreme_inputs_have_no_nan():
    torch.manual_seed(4)
    logits = (torch.randn(6, 3, 4, dtype=torch.float64) * 1e4).requires_grad_()
    targets = torch.tensor([[1, 2, 3], [2, 2, 0], [3, 0, 0]])
    in_len, tgt_len = [6, 4, 6], [3, 2, 1]
    (ours, g_ours), (ref, g_ref) = both(logits, targets, in_len, tgt_len, reduction="none")
    assert torch.isfinite(ours).all() and not g_ours.isnan().any()
    torch.testing.assert_close(ours, ref, atol=1e-6, rtol=1e-9)
    torch.testing.assert_close(g_ours, g_ref, atol=1e-6, rtol=1e-6)

    # Hard -1e4 entries in float32, and a single frame.
    lp = torch.full((1, 2, 3), -1e4).index_fill(2, torch.tensor([1]), 0.0).requires_grad_()
    loss = ctc_loss(lp, torch.tensor([[1], [2]]), [1, 1], [1, 1], reduction="none")
    torch.testing.assert_close(loss.detach(), torch.tensor([0.0, 1e4]))
    (grad,) = torch.autograd.grad(loss.sum(), lp)
    assert not grad.isnan().any()
    lat = ctc_alpha_beta(lp.detach(), torch.tensor([[1], [2]]), [1, 1], [1, 1])
    assert not lat.log_alpha.isnan().any() and not lat.log_beta.isnan().any()
    assert not ctc_posteriors(lp.detach(), torch.tensor([[1], [2]]), [1, 1], [1, 1]).isnan().any()
    assert prefix_beam_search(lp.detach(), [1, 1])[0] == ([1], 0.0)


def test_empty_input_and_target():
    lp = torch.randn(3, 2, 3, dtype=torch.float64).log_softmax(2)
    loss = ctc_loss(lp, torch.tensor([[1], [1]]), [0, 0], [0, 1], reduction="none")
    ref = F.ctc_loss(lp, torch.tensor([[1], [1]]), [0, 0], [0, 1], reduction="none")
    torch.testing.assert_close(loss, ref)
    assert loss.tolist() == [0.0, math.inf]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"log_probs": torch.zeros(4)}, "3-D"),
        ({"input_lengths": [4, -1]}, "non-negative"),
        ({"target_lengths": [2, -1]}, "non-negative"),
        ({"input_lengths": [5, 4]}, "at most T"),
        ({"target_lengths": [3, 2]}, "at most S"),
        ({"targets": torch.tensor([[1, 0], [1, 2]])}, "blank"),
        ({"targets": torch.tensor([[1, 3], [1, 2]])}, r"\[0, 3\)"),
        ({"targets": torch.tensor([[1, 2]])}, "N = 2"),
        ({"input_lengths": [4]}, "one entry per sequence"),
        ({"target_lengths": [2, 2, 2]}, "one entry per sequence"),
        ({"targets": torch.tensor([1, 2, 1])}, "sum to 4"),
        ({"blank": 3}, "blank must be"),
        ({"reduction": "avg"}, "unknown reduction"),
        ({"input_lengths": [4.0, 4.0]}, "integers"),
    ],
)
def test_bad_inputs_raise(kwargs, message):
    args = {
        "log_probs": torch.zeros(4, 2, 3),
        "targets": torch.tensor([[1, 2], [2, 1]]),
        "input_lengths": [4, 4],
        "target_lengths": [2, 2],
    } | kwargs
    with pytest.raises(ValueError, match=message):
        ctc_loss(**args)


def test_bad_decoder_inputs_raise():
    with pytest.raises(ValueError, match="3-D"):
        greedy_decode(torch.zeros(4, 3), [4])
    with pytest.raises(ValueError, match="at most T"):
        prefix_beam_search(torch.zeros(4, 1, 3), [5])
    with pytest.raises(ValueError, match="beam_width"):
        prefix_beam_search(torch.zeros(4, 1, 3), [4], beam_width=0)
    with pytest.raises(ValueError, match="one entry per sequence"):
        ctc_posteriors(torch.zeros(4, 2, 3), torch.tensor([[1], [1]]), [4], [1, 1])


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize(
    ("input_length", "target_length"),
    [(torch.tensor(7), torch.tensor(3)), (torch.tensor([6]), torch.tensor([2])), ([7], [0])],
)
def test_unbatched_form_matches_torch(reduction, input_length, target_length):
    """torch's unbatched form: log_probs [T, C], targets [S], lengths 0-d or of one entry;
    a 0-d loss for every reduction, the same value and logit gradient as torch's."""
    logits = torch.randn(7, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    logits.requires_grad_()
    targets = torch.tensor([1, 3, 3])[: int(torch.as_tensor(target_length).reshape(-1)[0])]
    out = []
    for fn in (ctc_loss, F.ctc_loss):
        loss = fn(logits.log_softmax(1), targets, input_length, target_length, reduction=reduction)
        out.append((loss, torch.autograd.grad(loss, logits)[0]))
    (ours, g_ours), (ref, g_ref) = out
    assert ours.shape == ref.shape == ()
    torch.testing.assert_close(ours, ref, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(g_ours, g_ref, rtol=1e-8, atol=1e-10)


def test_unbatched_lattice_and_posteriors_drop_the_batch_axis():
    lp = torch.randn(6, 3, dtype=torch.float64).log_softmax(1)
    lat = ctc_alpha_beta(lp, torch.tensor([1, 2]), 6, 2)
    batched = ctc_alpha_beta(lp[:, None], torch.tensor([[1, 2]]), [6], [2])
    assert lat.log_alpha.shape == (6, 5) and lat.log_likelihood.shape == ()
    torch.testing.assert_close(lat.log_alpha, batched.log_alpha[:, 0])
    torch.testing.assert_close(lat.log_likelihood, batched.log_likelihood[0])
    gamma = ctc_posteriors(lp, torch.tensor([1, 2]), 6, 2)
    assert gamma.shape == (6, 5)
    torch.testing.assert_close(gamma.sum(1), torch.ones(6, dtype=torch.float64))

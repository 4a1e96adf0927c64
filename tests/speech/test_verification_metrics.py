"""EER, minDCF, DET curves, trial lists and score fusion (reparam.speech.verification_metrics)."""

import math
import warnings

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_curve

from reparam.convergence import ConvergenceWarning
from reparam.speech.verification_metrics import (
    det_curve,
    eer,
    evaluate,
    fuse,
    min_dcf,
    probit,
    speaker_index,
    trials,
)

# Accept when s >= t. Sweeping t over 0.1, 0.2, 0.3, 0.5, 0.6, 0.8, 0.9, +inf gives
# (P_miss, P_fa) = (0, 1), (0, 3/4), (0, 1/2), (1/3, 1/2), (1/3, 1/4), (2/3, 1/4), (2/3, 0), (1, 0).
TARGET = torch.tensor([0.9, 0.6, 0.3], dtype=torch.float64)
NONTARGET = torch.tensor([0.8, 0.5, 0.2, 0.1], dtype=torch.float64)


def brute_force_rates(target: torch.Tensor, nontarget: torch.Tensor):
    """(thresholds, P_miss, P_fa) at every score and +inf, by comparison with each."""
    thresholds = torch.cat([target, nontarget, torch.tensor([math.inf], dtype=target.dtype)])
    p_miss = (target.unsqueeze(0) < thresholds.unsqueeze(1)).double().mean(1)
    p_fa = (nontarget.unsqueeze(0) >= thresholds.unsqueeze(1)).double().mean(1)
    return thresholds, p_miss, p_fa


def sklearn_eer(target: torch.Tensor, nontarget: torch.Tensor) -> float:
    """The crossing of 1 − tpr and fpr on scikit-learn's ROC, linearly interpolated."""
    scores = np.concatenate([target.numpy(), nontarget.numpy()])
    labels = np.concatenate([np.ones(len(target)), np.zeros(len(nontarget))])
    fpr, tpr, _ = roc_curve(labels, scores, drop_intermediate=False)
    gap = (1 - tpr) - fpr
    upper = int(np.argmax(gap <= 0))
    lower = upper - 1
    fraction = gap[lower] / (gap[lower] - gap[upper])
    return float(fpr[lower] + fraction * (fpr[upper] - fpr[lower]))


def kaldi_eer(target: torch.Tensor, nontarget: torch.Tensor) -> float:
    """Kaldi's ComputeEer (ivector/ivector-compute-eer.cc), line for line."""
    target, nontarget = sorted(target.tolist()), sorted(nontarget.tolist())
    position = 0
    while position + 1 < len(target):
        nontarget_n = int(len(nontarget) * position / len(target))
        nontarget_position = max(len(nontarget) - 1 - nontarget_n, 0)
        if nontarget[nontarget_position] < target[position]:
            break
        position += 1
    return position / len(target)


def random_scores(seed: int, n_target: int, n_nontarget: int, decimals: int | None = None):
    generator = torch.Generator().manual_seed(seed)
    target = torch.randn(n_target, generator=generator, dtype=torch.float64) + 1.5
    nontarget = torch.randn(n_nontarget, generator=generator, dtype=torch.float64)
    if decimals is not None:  # ties within and across the classes
        target, nontarget = target.round(decimals=decimals), nontarget.round(decimals=decimals)
    return target, nontarget


# ----------------------------------------------------------------------------------- EER
def test_eer_on_a_flat_segment():
    # P_miss - P_fa changes sign between t = 0.5 (1/3, 1/2) and t = 0.6 (1/3, 1/4): P_miss is
    # 1/3 along the whole segment, so the crossing is at 1/3.
    assert eer(TARGET, NONTARGET) == pytest.approx(1 / 3, abs=1e-15)
    assert evaluate(TARGET, NONTARGET).eer_threshold == 0.6  # max(P_miss, P_fa) = 1/3 there


def test_eer_on_a_sloped_segment_from_a_tie():
    # t = 1 gives (P_miss, P_fa) = (0, 1/2); the tie at 1.0 (two targets, one non-target) moves
    # both at once, to (2/3, 0) at t = 2. On the line (2/3 a, 1/2 (1 - a)) they are equal at
    # a = 3/7, so EER = 2/7.
    target = torch.tensor([2.0, 1.0, 1.0])
    nontarget = torch.tensor([1.0, 0.0])
    assert eer(target, nontarget) == pytest.approx(2 / 7, abs=1e-15)


def test_eer_at_an_operating_point():
    # At t = 0.6, 1 of 4 targets (0.3) is below and 1 of 4 non-targets (0.7) at or above.
    target = torch.tensor([0.9, 0.8, 0.6, 0.3])
    nontarget = torch.tensor([0.7, 0.5, 0.2, 0.1])
    assert eer(target, nontarget) == 0.25


def test_eer_of_identical_scores_is_one_half():
    # (0, 1) at the common score, then (1, 0): the diagonal P_miss = 1 - P_fa meets at 1/2.
    assert eer(torch.zeros(3), torch.zeros(5)) == 0.5


def test_eer_of_separated_scores():
    target, nontarget = torch.tensor([1.0, 2.0, 3.0]), torch.tensor([-1.0, 0.0, 0.5])
    assert eer(target, nontarget) == 0.0
    assert eer(nontarget, target) == 1.0


@pytest.mark.parametrize("decimals", [None, 1])
@pytest.mark.parametrize("seed", range(4))
def test_eer_matches_sklearn_and_brackets_the_threshold_sweep(seed, decimals):
    target, nontarget = random_scores(seed, 150 + 50 * seed, 400, decimals)
    value = eer(target, nontarget)
    assert value == pytest.approx(sklearn_eer(target, nontarget), abs=1e-12)
    # The crossing lies on the segment between the last operating point with P_miss <= P_fa
    # and the first with P_miss >= P_fa, so between these two sweeps' values.
    _, p_miss, p_fa = brute_force_rates(target, nontarget)
    assert torch.minimum(p_miss, p_fa).max() - 1e-12 <= value
    assert value <= torch.maximum(p_miss, p_fa).min() + 1e-12
    if decimals is None:  # Kaldi's reads P_miss at a target score, which ties can move far
        bound = 1 / len(target) + 1 / len(nontarget)
        assert abs(value - kaldi_eer(target, nontarget)) <= bound


@pytest.mark.parametrize(
    "transform",
    [lambda s: 3 * s - 1, torch.exp, torch.sigmoid, lambda s: s**3],
    ids=["affine", "exp", "sigmoid", "cube"],
)
def test_eer_is_invariant_to_increasing_transforms(transform):
    target, nontarget = random_scores(0, 200, 300, decimals=1)
    assert eer(transform(target), transform(nontarget)) == pytest.approx(
        eer(target, nontarget), abs=1e-15
    )


# -------------------------------------------------------------------------------- minDCF
@pytest.mark.parametrize(
    ("p_target", "expected", "threshold"),
    [
        # normaliser min(0.01, 0.99) = 0.01: cost P_miss + 99 P_fa, least at (2/3, 0), t = 0.9
        (0.01, 2 / 3, 0.9),
        # normaliser min(0.001, 0.999): cost P_miss + 999 P_fa, least at (2/3, 0) again
        (0.001, 2 / 3, 0.9),
        # normaliser 0.5: cost P_miss + P_fa = 1, 3/4, 1/2, 5/6, 7/12, 11/12, 2/3, 1
        (0.5, 0.5, 0.3),
        # normaliser min(0.9, 0.1) = 0.1: cost 9 P_miss + P_fa, least 1/2 at (0, 1/2)
        (0.9, 0.5, 0.3),
    ],
)
def test_min_dcf_by_hand(p_target, expected, threshold):
    assert min_dcf(TARGET, NONTARGET, p_target) == pytest.approx(expected, abs=1e-12)
    assert evaluate(TARGET, NONTARGET, p_target).min_dcf_threshold == threshold


def test_min_dcf_costs():
    # c_fa = 3 at p = 0.5: normaliser 0.5, cost P_miss + 3 P_fa, least 2/3 at (2/3, 0).
    assert min_dcf(TARGET, NONTARGET, 0.5, c_fa=3.0) == pytest.approx(2 / 3, abs=1e-12)


@pytest.mark.parametrize("p_target", [0.01, 0.001, 0.3])
@pytest.mark.parametrize("decimals", [None, 1])
def test_min_dcf_matches_the_threshold_sweep(p_target, decimals):
    target, nontarget = random_scores(1, 300, 2000, decimals)
    _, p_miss, p_fa = brute_force_rates(target, nontarget)
    c_miss, c_fa = 1.0, 2.0
    cost = c_miss * p_target * p_miss + c_fa * (1 - p_target) * p_fa
    expected = cost.min() / min(c_miss * p_target, c_fa * (1 - p_target))
    assert min_dcf(target, nontarget, p_target, c_miss, c_fa) == pytest.approx(
        float(expected), rel=1e-12
    )
    assert min_dcf(target, nontarget, p_target, c_miss, c_fa) <= 1


def test_evaluate_agrees_with_the_metrics():
    target, nontarget = random_scores(2, 100, 500)
    result = evaluate(target, nontarget, p_target=0.001)
    assert result.eer == eer(target, nontarget)
    assert result.min_dcf == min_dcf(target, nontarget, 0.001)
    assert (result.n_target, result.n_nontarget) == (100, 500)
    assert "minDCF(p_target=0.001)" in result.summary()


# ------------------------------------------------------------------------ the DET curve
def test_det_curve_matches_the_sweep():
    target, nontarget = random_scores(3, 50, 80, decimals=1)
    curve = det_curve(target, nontarget)
    thresholds, p_miss, p_fa = brute_force_rates(target, nontarget)
    order = thresholds.argsort()
    distinct = torch.cat([torch.ones(1, dtype=torch.bool), thresholds[order].diff() > 0])
    assert torch.equal(curve.thresholds, thresholds[order][distinct])
    assert torch.equal(curve.p_miss, p_miss[order][distinct])
    assert torch.equal(curve.p_fa, p_fa[order][distinct])
    assert (curve.p_miss.diff() >= 0).all() and (curve.p_fa.diff() <= 0).all()


def test_probit_inverts_the_normal_cdf():
    p = torch.tensor([1e-4, 0.01, 0.5, 0.9], dtype=torch.float64)
    torch.testing.assert_close(torch.special.ndtr(probit(p)), p)
    assert probit(torch.tensor([0.0, 1.0])).tolist() == [-math.inf, math.inf]


# ----------------------------------------------------------------------------- trials
def test_trials_are_every_pair_of_distinct_utterances():
    labels = ["a", "b", "a", "c", "a", "b"]
    pairs = trials(labels)
    # 6 utterances give 15 pairs; speaker a's 3 utterances give 3 target pairs, b's 2 one.
    assert len(pairs.enrol) == 15 and int(pairs.is_target.sum()) == 4
    assert (pairs.enrol < pairs.test).all()
    expected = [
        labels[i] == labels[j]
        for i, j in zip(pairs.enrol.tolist(), pairs.test.tolist(), strict=True)
    ]
    assert pairs.is_target.tolist() == expected
    assert len(set(zip(pairs.enrol.tolist(), pairs.test.tolist(), strict=True))) == 15


def test_trials_subsample():
    labels = torch.arange(40) % 7
    full = trials(labels)
    part = trials(labels, n_target=10, n_nontarget=50, seed=3)
    assert int(part.is_target.sum()) == 10 and int((~part.is_target).sum()) == 50
    full_pairs = set(zip(full.enrol.tolist(), full.test.tolist(), strict=True))
    assert set(zip(part.enrol.tolist(), part.test.tolist(), strict=True)) <= full_pairs
    again = trials(labels, n_target=10, n_nontarget=50, seed=3)
    assert torch.equal(part.enrol, again.enrol) and torch.equal(part.test, again.test)
    assert len(trials(labels, n_target=10**6).enrol) == len(full.enrol)


def test_speaker_index():
    assert speaker_index(torch.tensor([7, 3, 7, 9])).tolist() == [1, 0, 1, 2]
    assert speaker_index(("x", "y", "x")).tolist() == [0, 1, 0]


# ----------------------------------------------------------------------------- fusion
def noisy_systems(n_target: int, n_nontarget: int, seed: int):
    """Two systems that see the same trials through independent unit noise."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(n_target + n_nontarget) < n_target
    truth = 2.0 * labels.double()
    scores = [
        truth + torch.randn(len(labels), generator=generator, dtype=torch.float64) for _ in range(2)
    ]
    return scores, labels


@pytest.mark.parametrize("method", ["logistic", "zsum"])
def test_fusion_of_independent_noise_beats_each_system(method):
    (a, b), labels = noisy_systems(500, 2000, seed=0)
    fusion = fuse([a, b], labels if method == "logistic" else None, method=method)
    # a fresh evaluation set from the same systems
    (a, b), labels = noisy_systems(500, 2000, seed=1)
    fused = fusion([a, b])
    single = [eer(s[labels], s[~labels]) for s in (a, b)]
    assert eer(fused[labels], fused[~labels]) <= min(single)


@pytest.mark.parametrize("prior", [0.5, 0.1])
def test_logistic_fusion_matches_sklearn(prior):
    (a, b), labels = noisy_systems(100, 300, seed=2)
    fusion = fuse([a, b], labels, prior=prior)
    # The prior-weighted cross-entropy is sklearn's unpenalised log-loss with sample weights
    # prior/N_tar and (1 - prior)/N_non (times N, which moves no optimum), whose intercept is
    # b + logit(prior).
    n_target = int(labels.sum())
    weight = len(labels) * torch.where(
        labels, prior / n_target, (1 - prior) / (len(labels) - n_target)
    )
    reference = LogisticRegression(C=np.inf, solver="newton-cholesky", tol=1e-12).fit(
        torch.stack([a, b], 1).numpy(), labels.numpy(), sample_weight=weight.numpy()
    )
    np.testing.assert_allclose(fusion.weights.numpy(), reference.coef_[0], atol=1e-6)
    offset = reference.intercept_[0] - math.log(prior / (1 - prior))
    assert float(fusion.offset) == pytest.approx(offset, abs=1e-6)
    assert fusion.converged


def test_zsum_fusion_is_the_sum_of_z_scores():
    (a, b), _ = noisy_systems(10, 30, seed=3)
    fusion = fuse([a, b], method="zsum")
    expected = sum((s - s.mean()) / s.std() for s in (a, b))
    torch.testing.assert_close(fusion([a, b]), expected)


def test_fusion_stopped_early_warns():
    (a, b), labels = noisy_systems(50, 50, seed=4)
    with pytest.warns(ConvergenceWarning, match="increase max_iter") as record:
        fusion = fuse([a, b], labels, max_iter=1)
    assert not fusion.converged and fusion.n_iter == 1
    assert record[0].filename == __file__


def test_fusion_of_separable_scores_stops_near_zero_loss():
    # No finite optimum: the weight grows until the cross-entropy is within tol of 0.
    labels = torch.tensor([True, True, False, False])
    scores = torch.tensor([2.0, 1.0, 0.0, -1.0], dtype=torch.float64)
    fusion = fuse([scores], labels)
    assert fusion.converged and float(fusion.weights[0]) > 20
    assert float(fusion.offset / fusion.weights[0]) == pytest.approx(-0.5)


def test_converged_fusion_does_not_warn():
    (a, b), labels = noisy_systems(50, 50, seed=4)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        fuse([a, b], labels)


# ---------------------------------------------------------------------- argument checks
@pytest.mark.parametrize(
    ("target", "nontarget", "message"),
    [
        (torch.tensor([]), torch.tensor([0.0]), "target_scores must be a non-empty 1-D"),
        (torch.tensor([1.0]), torch.zeros(2, 2), "nontarget_scores must be a non-empty 1-D"),
        (torch.tensor([math.nan]), torch.tensor([0.0]), "target_scores must be finite"),
    ],
)
def test_bad_scores(target, nontarget, message):
    with pytest.raises(ValueError, match=message):
        eer(target, nontarget)


def test_integer_scores_are_refused():
    with pytest.raises(TypeError, match="target_scores must be a floating-point tensor"):
        eer(torch.tensor([1, 2]), torch.tensor([0.0]))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"p_target": 0.0}, "p_target must be in"),
        ({"p_target": 1.0}, "p_target must be in"),
        ({"c_miss": 0.0}, "c_miss must be finite and > 0"),
        ({"c_fa": -1.0}, "c_fa must be finite and > 0"),
    ],
)
def test_bad_costs(kwargs, message):
    with pytest.raises(ValueError, match=message):
        min_dcf(TARGET, NONTARGET, **kwargs)


def test_bad_trials():
    with pytest.raises(ValueError, match="labels must be an integer >= 2"):
        trials(["a"])
    with pytest.raises(ValueError, match="labels must be a 1-D integer tensor"):
        trials(torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="n_target must be an integer >= 0"):
        trials([0, 0, 1], n_target=-1)


def test_bad_fusion_inputs():
    labels = torch.tensor([1, 0, 1])
    scores = torch.tensor([0.5, 0.1, 0.3])
    with pytest.raises(ValueError, match="scores_list must be a non-empty sequence"):
        fuse([], labels)
    with pytest.raises(ValueError, match=r"scores_list\[1\] has shape \(2,\)"):
        fuse([scores, scores[:2]], labels)
    with pytest.raises(ValueError, match="labels must be a tensor of shape"):
        fuse([scores], labels[:2])
    with pytest.raises(ValueError, match="labels must be a tensor of shape"):
        fuse([scores])
    with pytest.raises(ValueError, match="both target and non-target"):
        fuse([scores], torch.ones(3))
    with pytest.raises(ValueError, match=r"scores_list\[0\] is constant"):
        fuse([torch.ones(3)], labels)
    with pytest.raises(ValueError, match="method must be one of"):
        fuse([scores], labels, method="max")
    with pytest.raises(ValueError, match="scores_list must hold 2 systems"):
        fuse([scores, 2 * scores], method="zsum")([scores])

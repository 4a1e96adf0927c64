r"""Speaker-verification metrics, trial lists and score fusion.

A verification system gives each trial (an enrolment and a test utterance) a score s and
accepts it as a target (same-speaker) trial when :math:`s \ge t`. At the threshold t,

.. math:: P_{\text{miss}}(t) = \frac{\#\{\text{target scores} < t\}}{N_{\text{tar}}}, \qquad
          P_{\text{fa}}(t) = \frac{\#\{\text{non-target scores} \ge t\}}{N_{\text{non}}}.

Sweeping t over the distinct scores, then +∞, traces the operating points of the detection
error trade-off (DET) curve (:func:`det_curve`), from (P_miss, P_fa) = (0, 1) to (1, 0).

- :func:`eer` — the equal error rate, where the straight line joining consecutive operating
  points crosses :math:`P_{\text{miss}} = P_{\text{fa}}`. This is the EER of the common
  recipe on scikit-learn's ``roc_curve`` (interpolate the ROC linearly, solve
  :math:`1 - \text{tpr} = \text{fpr}`); it is invariant to strictly increasing transforms of the
  scores and is 0 for separated scores. Kaldi's ``compute-eer`` reads the miss rate at a
  sorted target score instead, which differs from it by at most about
  :math:`1/N_{\text{tar}} + 1/N_{\text{non}}` on scores without ties; BOSARIS's ROCCH-EER
  (on the ROC convex hull, below the DET operating points) is never above it.
- :func:`min_dcf` — the normalised minimum detection cost of the NIST speaker recognition
  evaluations,

  .. math:: \mathrm{minDCF} = \min_t \frac{C_{\text{miss}}\, p\, P_{\text{miss}}(t)
            + C_{\text{fa}}\,(1 - p)\, P_{\text{fa}}(t)}{\min\big(C_{\text{miss}}\, p,\;
            C_{\text{fa}}\,(1 - p)\big)},

  where the denominator is the cost of the better of accepting or rejecting every trial, so
  minDCF ≤ 1. The target prior p is 0.01 by default (VoxCeleb, SRE08), 0.001 for SRE10's
  core condition, as in Zhu et al. (2018).
- :func:`fuse` — linear fusion :math:`s = \sum_k w_k s_k + b` of several systems' scores:
  logistic regression (BOSARIS, FoCal; Brümmer & du Preez 2006) minimises the prior-weighted
  cross-entropy

  .. math:: C(w, b) = \frac{π}{N_{\text{tar}}} \sum_{\text{tar}} \log\big(1 + e^{-(s_i +
            \operatorname{logit} π)}\big) + \frac{1 - π}{N_{\text{non}}} \sum_{\text{non}}
            \log\big(1 + e^{s_j + \operatorname{logit} π}\big),

  convex in (w, b), by Newton's method, so the fused score is a calibrated log-likelihood
  ratio; or a z-normalised sum, :math:`s = \sum_k (s_k - m_k)/σ_k` with each system's mean and
  standard deviation on the calibration scores.

:func:`trials` builds the trial list of every pair of utterances (or a seeded subsample).

References:
    NIST (2010), The NIST year 2010 speaker recognition evaluation plan.
    Brümmer & du Preez (2006), Application-independent evaluation of speaker detection.
    Computer Speech and Language 20(2–3).
    Brümmer & de Villiers (2013), The BOSARIS toolkit: theory, algorithms and code for
    surviving the new DCF. arXiv:1304.2865.
    Zhu, Liang, Li, Mak & Yu (2018), Bayesian x-vector: Bayesian neural network based
    x-vector system for speaker verification. Odyssey 2020 (arXiv:1804.07519).

>>> target = torch.tensor([2.0, 1.0, 1.0])
>>> nontarget = torch.tensor([1.0, 0.0])
>>> round(eer(target, nontarget), 6)  # 2/7: the tie at 1.0 is a sloped segment
0.285714
>>> print(evaluate(target, nontarget, p_target=0.5).summary())
EER 28.57 % (threshold 1), minDCF(p_target=0.5) 0.5 (threshold 1), 3 target / 2 non-target trials
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from reparam.checks import count, non_negative_int, positive_int, positive_real, real, tensor
from reparam.convergence import warn_not_converged

FUSIONS = ("logistic", "zsum")

Labels = Tensor | Sequence[Hashable]


@dataclass(frozen=True)
class DETCurve:
    """The operating points of a score set: at each of ``thresholds`` [M] (the distinct scores
    in increasing order, then +∞), ``p_miss`` [M] (non-decreasing) and ``p_fa`` [M]
    (non-increasing), in float64. Plot ``probit(p_fa)`` against ``probit(p_miss)``."""

    thresholds: Tensor
    p_miss: Tensor
    p_fa: Tensor


@dataclass(frozen=True)
class VerificationResult:
    """The ``eer`` and the threshold whose operating point is nearest it (the least
    max(P_miss, P_fa)), ``min_dcf`` at ``p_target`` with its threshold, and the trial counts."""

    eer: float
    eer_threshold: float
    min_dcf: float
    min_dcf_threshold: float
    p_target: float
    n_target: int
    n_nontarget: int

    def summary(self) -> str:
        return (
            f"EER {100 * self.eer:.2f} % (threshold {self.eer_threshold:.4g}), "
            f"minDCF(p_target={self.p_target:g}) {self.min_dcf:.4g} "
            f"(threshold {self.min_dcf_threshold:.4g}), "
            f"{self.n_target} target / {self.n_nontarget} non-target trials"
        )


@dataclass(frozen=True)
class Trials:
    """Trials as pairs of utterance indices ``enrol`` [T] < ``test`` [T] (int64), with
    ``is_target`` [T] (bool) true where both utterances have the same speaker."""

    enrol: Tensor
    test: Tensor
    is_target: Tensor


@dataclass(frozen=True)
class LinearFusion:
    r"""A fitted linear fusion :math:`s = \sum_k w_k s_k + b`: ``weights`` [K] and ``offset``
    (float64), the ``method`` that fitted them, its Newton ``n_iter`` and whether it
    ``converged`` (0 and True for ``"zsum"``). Call it on K score tensors of one shape."""

    weights: Tensor
    offset: Tensor
    method: str
    n_iter: int
    converged: bool

    def __call__(self, scores_list: Sequence[Tensor]) -> Tensor:
        systems = _score_systems("scores_list", scores_list)
        if systems.shape[-1] != self.weights.shape[0]:
            raise ValueError(
                f"scores_list must hold {self.weights.shape[0]} systems (the fusion's), "
                f"got {systems.shape[-1]}"
            )
        return systems @ self.weights + self.offset


def _scores(name: str, scores: object) -> Tensor:
    """``scores`` as a float64 vector, if it is a non-empty, finite, 1-D float tensor."""
    scores = tensor(name, scores)
    if scores.dim() != 1 or scores.numel() == 0:
        raise ValueError(f"{name} must be a non-empty 1-D tensor, got shape {tuple(scores.shape)}")
    if not torch.isfinite(scores).all():
        raise ValueError(f"{name} must be finite, got NaN or infinite scores")
    return scores.double()


def det_curve(target_scores: Tensor, nontarget_scores: Tensor) -> DETCurve:
    """P_miss and P_fa at every distinct score as the threshold (accept s ≥ t), then at +∞.

    >>> curve = det_curve(torch.tensor([0.75, 0.5]), torch.tensor([0.5, 0.25]))
    >>> curve.thresholds.tolist(), curve.p_miss.tolist(), curve.p_fa.tolist()
    ([0.25, 0.5, 0.75, inf], [0.0, 0.0, 0.5, 1.0], [1.0, 0.5, 0.0, 0.0])
    """
    target = _scores("target_scores", target_scores)
    nontarget = _scores("nontarget_scores", nontarget_scores)
    distinct, index = torch.unique(torch.cat([target, nontarget]), return_inverse=True)
    n = distinct.numel()
    targets_at = torch.bincount(index[: target.numel()], minlength=n).double()
    nontargets_at = torch.bincount(index[target.numel() :], minlength=n).double()
    targets_below = targets_at.cumsum(0) - targets_at
    nontargets_from = nontargets_at.flip(0).cumsum(0).flip(0)
    end = distinct.new_zeros(1)
    return DETCurve(
        thresholds=torch.cat([distinct, end + math.inf]),
        p_miss=torch.cat([targets_below, end + target.numel()]) / target.numel(),
        p_fa=torch.cat([nontargets_from, end]) / nontarget.numel(),
    )


def probit(p: Tensor) -> Tensor:
    r"""The standard normal quantile :math:`Φ^{-1}(p)`, the axes of a DET plot (−∞ at 0, +∞
    at 1).

    >>> probit(torch.tensor([0.5, 0.975], dtype=torch.float64)).tolist()  # doctest: +ELLIPSIS
    [0.0, 1.959963...]
    """
    return torch.special.ndtri(tensor("p", p))


def _eer_and_threshold(curve: DETCurve) -> tuple[float, float]:
    gap = curve.p_miss - curve.p_fa  # non-decreasing, from -1 to +1
    upper = int(torch.searchsorted(gap, gap.new_zeros(())))
    lower = upper - 1
    fraction = -gap[lower] / (gap[upper] - gap[lower])
    eer = curve.p_fa[lower] + fraction * (curve.p_fa[upper] - curve.p_fa[lower])
    nearest = torch.maximum(curve.p_miss, curve.p_fa).argmin()
    return float(eer), float(curve.thresholds[nearest])


def eer(target_scores: Tensor, nontarget_scores: Tensor) -> float:
    r"""The equal error rate: where the line between consecutive DET operating points crosses
    :math:`P_{\text{miss}} = P_{\text{fa}}` (the module docstring says how this compares with
    Kaldi's and BOSARIS's).

    >>> eer(torch.tensor([0.9, 0.6, 0.3]), torch.tensor([0.8, 0.5, 0.2, 0.1]))  # doctest: +ELLIPSIS
    0.333333...
    """
    return _eer_and_threshold(det_curve(target_scores, nontarget_scores))[0]


def _cost_weights(p_target: float, c_miss: float, c_fa: float) -> tuple[float, float]:
    """The normalised weights of P_miss and P_fa in the detection cost."""
    p = real("p_target", p_target)
    if not 0 < p < 1:
        raise ValueError(f"p_target must be in (0, 1), got {p_target!r}")
    miss = positive_real("c_miss", c_miss) * p
    false_alarm = positive_real("c_fa", c_fa) * (1 - p)
    default = min(miss, false_alarm)
    return miss / default, false_alarm / default


def _min_dcf_and_threshold(
    curve: DETCurve, p_target: float, c_miss: float, c_fa: float
) -> tuple[float, float]:
    miss, false_alarm = _cost_weights(p_target, c_miss, c_fa)
    cost = miss * curve.p_miss + false_alarm * curve.p_fa
    best = cost.argmin()
    return float(cost[best]), float(curve.thresholds[best])


def min_dcf(
    target_scores: Tensor,
    nontarget_scores: Tensor,
    p_target: float = 0.01,
    c_miss: float = 1.0,
    c_fa: float = 1.0,
) -> float:
    r"""The normalised minimum detection cost over all thresholds, at target prior
    ``p_target`` with costs ``c_miss`` and ``c_fa`` (NIST SRE).

    >>> target = torch.tensor([0.9, 0.6, 0.3])
    >>> nontarget = torch.tensor([0.8, 0.5, 0.2, 0.1])
    >>> min_dcf(target, nontarget, p_target=0.5)
    0.5
    """
    curve = det_curve(target_scores, nontarget_scores)
    return _min_dcf_and_threshold(curve, p_target, c_miss, c_fa)[0]


def evaluate(
    target_scores: Tensor,
    nontarget_scores: Tensor,
    p_target: float = 0.01,
    c_miss: float = 1.0,
    c_fa: float = 1.0,
) -> VerificationResult:
    """The EER and minDCF of one score set, with their thresholds, from one DET sweep."""
    curve = det_curve(target_scores, nontarget_scores)
    equal_error, eer_threshold = _eer_and_threshold(curve)
    cost, cost_threshold = _min_dcf_and_threshold(curve, p_target, c_miss, c_fa)
    return VerificationResult(
        eer=equal_error,
        eer_threshold=eer_threshold,
        min_dcf=cost,
        min_dcf_threshold=cost_threshold,
        p_target=float(p_target),
        n_target=target_scores.numel(),
        n_nontarget=nontarget_scores.numel(),
    )


def speaker_index(labels: Labels) -> Tensor:
    """Per-utterance speaker labels as speaker indices 0..S−1 [N] (int64): an integer tensor's
    numbered in sorted order, a sequence of hashables' (such as strings) in order of first
    appearance.

    >>> speaker_index(["bob", "ann", "bob"]).tolist()
    [0, 1, 0]
    """
    if isinstance(labels, Tensor):
        if labels.dim() != 1 or labels.is_floating_point() or labels.is_complex():
            raise ValueError(
                f"labels must be a 1-D integer tensor, got {labels.dtype} of shape "
                f"{tuple(labels.shape)}"
            )
        return torch.unique(labels, return_inverse=True)[1]
    first_seen: dict[Hashable, int] = {}
    return torch.tensor(
        [first_seen.setdefault(label, len(first_seen)) for label in labels], dtype=torch.long
    )


def _subsample(pairs: Tensor, n: int | None, generator: torch.Generator) -> Tensor:
    """At most ``n`` of the columns of ``pairs`` [2, P], drawn without replacement, in order."""
    if n is None or n >= pairs.shape[1]:
        return pairs
    keep = torch.randperm(pairs.shape[1], generator=generator)[:n].sort().values
    return pairs[:, keep]


def trials(
    labels: Labels,
    n_target: int | None = None,
    n_nontarget: int | None = None,
    seed: int = 0,
) -> Trials:
    """Every pair of distinct utterances i < j as a trial, target where their speakers are
    equal; ``n_target`` and ``n_nontarget`` keep at most that many of each kind, drawn without
    replacement with ``seed``. Memory is O(N²) in the N utterances.

    >>> pairs = trials(["a", "a", "b"])
    >>> pairs.enrol.tolist(), pairs.test.tolist(), pairs.is_target.tolist()
    ([0, 0, 1], [1, 2, 2], [True, False, False])
    """
    speakers = speaker_index(labels)
    count("labels", speakers.numel(), 2, hint=" utterances: a trial needs two")
    for name, n in (("n_target", n_target), ("n_nontarget", n_nontarget)):
        if n is not None:
            non_negative_int(name, n)
    generator = torch.Generator().manual_seed(seed)
    pairs = torch.triu_indices(speakers.numel(), speakers.numel(), offset=1)
    same = speakers[pairs[0]] == speakers[pairs[1]]
    kept = torch.cat(
        [
            _subsample(pairs[:, same], n_target, generator),
            _subsample(pairs[:, ~same], n_nontarget, generator),
        ],
        dim=1,
    )
    kept = kept[:, (kept[0] * speakers.numel() + kept[1]).argsort()]
    return Trials(kept[0], kept[1], speakers[kept[0]] == speakers[kept[1]])


def _score_systems(name: str, scores_list: Sequence[Tensor]) -> Tensor:
    """K score tensors of one shape [...] stacked as [..., K] in float64."""
    if isinstance(scores_list, Tensor) or len(scores_list) == 0:
        raise ValueError(f"{name} must be a non-empty sequence of score tensors")
    shape = tensor(f"{name}[0]", scores_list[0]).shape
    for k, scores in enumerate(scores_list):
        if tensor(f"{name}[{k}]", scores).shape != shape:
            raise ValueError(
                f"{name}[{k}] has shape {tuple(scores.shape)}, {name}[0] has {tuple(shape)}"
            )
    return torch.stack(list(scores_list), dim=-1).double()


def _calibration_labels(labels: object, n: int) -> Tensor:
    if not isinstance(labels, Tensor) or labels.shape != (n,):
        shape = tuple(labels.shape) if isinstance(labels, Tensor) else type(labels).__name__
        raise ValueError(f"labels must be a tensor of shape ({n},) (one per trial), got {shape}")
    is_target = labels.bool()
    if is_target.all() or not is_target.any():
        raise ValueError("labels must mark both target and non-target trials")
    return is_target


def _cross_entropy(
    parameters: Tensor, design: Tensor, sign: Tensor, weight: Tensor, prior_offset: float
) -> tuple[Tensor, Tensor, Tensor]:
    """The prior-weighted cross-entropy of a linear fusion, its gradient and its Hessian."""
    log_odds = design @ parameters + prior_offset
    loss = (weight * torch.nn.functional.softplus(-sign * log_odds)).sum()
    gradient = design.T @ (-weight * sign * torch.sigmoid(-sign * log_odds))
    curvature = weight * torch.sigmoid(log_odds) * torch.sigmoid(-log_odds)
    return loss, gradient, (design.T * curvature) @ design


def _logistic_fusion(
    systems: Tensor, is_target: Tensor, prior: float, max_iter: int, tol: float
) -> LinearFusion:
    """Newton's method from the zero fusion, each step halved until the loss does not
    increase, until the Newton decrement gᵀH⁻¹g/2 before a step is below ``tol`` (that last
    step is taken whole: it is tiny and Newton's convergence there is quadratic)."""
    design = torch.cat([systems, systems.new_ones(systems.shape[0], 1)], dim=1)
    sign = is_target.double() * 2 - 1
    n_target = int(is_target.sum())
    weight = torch.where(is_target, prior / n_target, (1 - prior) / (is_target.numel() - n_target))
    prior_offset = math.log(prior / (1 - prior))
    parameters = design.new_zeros(design.shape[1])
    loss, gradient, hessian = _cross_entropy(parameters, design, sign, weight, prior_offset)
    n_iter, decrement = 0, math.inf
    while n_iter < max_iter:
        n_iter += 1
        step = torch.linalg.solve(hessian, gradient)
        decrement = float(gradient @ step) / 2
        size = 1.0
        trial = _cross_entropy(parameters - step, design, sign, weight, prior_offset)
        while trial[0] > loss and decrement >= tol and size > 1e-10:
            size /= 2
            trial = _cross_entropy(parameters - size * step, design, sign, weight, prior_offset)
        parameters = parameters - size * step
        loss, gradient, hessian = trial
        if decrement < tol:
            break
    converged = decrement < tol
    if not converged:
        warn_not_converged(
            "fuse",
            f"the Newton decrement is {decrement:.3g} > tol = {tol:g} after max_iter = "
            f"{max_iter} steps; increase max_iter",
            stacklevel=4,
        )
    return LinearFusion(parameters[:-1], parameters[-1], "logistic", n_iter, converged)


def fuse(
    scores_list: Sequence[Tensor],
    labels: Tensor | None = None,
    *,
    method: str = "logistic",
    prior: float = 0.5,
    max_iter: int = 50,
    tol: float = 1e-12,
) -> LinearFusion:
    r"""Fit a linear fusion of K systems' scores [N] on a calibration set.

    ``"logistic"`` fits weights and offset by Newton's method on the cross-entropy at the
    target ``prior`` (``labels`` [N]: true or 1 for target trials), so the fused scores are
    log-likelihood ratios; it warns (:class:`~reparam.ConvergenceWarning`) after ``max_iter``
    steps with the Newton decrement still above ``tol``. Calibration scores that a linear
    fusion separates have no finite optimum: Newton's method stops once the cross-entropy is
    within ``tol`` of 0, with large weights and over-confident ratios. ``"zsum"`` sums the
    scores z-normalised by their mean and standard deviation over all N trials; it needs no
    labels.

    Two systems that see the same trials (target scores 2 higher) through independent noise:

    >>> generator = torch.Generator().manual_seed(0)
    >>> labels = torch.arange(400) < 100
    >>> truth = 2 * labels.double()
    >>> a, b = (truth + torch.randn(400, generator=generator, dtype=torch.float64) for _ in "ab")
    >>> fusion = fuse([a, b], labels)
    >>> [round(eer(s[labels], s[~labels]), 3) for s in (a, b, fusion([a, b]))]
    [0.17, 0.17, 0.1]
    """
    if method not in FUSIONS:
        raise ValueError(f"method must be one of {', '.join(FUSIONS)}, got {method!r}")
    systems = _score_systems("scores_list", scores_list)
    if systems.dim() != 2:
        raise ValueError(f"scores_list must hold 1-D score tensors, got shape {systems.shape[:-1]}")
    count("scores_list[0].numel()", systems.shape[0], 2, hint=": fusion needs two trials")
    if not torch.isfinite(systems).all():
        raise ValueError("scores_list must be finite, got NaN or infinite scores")
    spread = systems.std(0)
    if (spread == 0).any():
        constant = int((spread == 0).nonzero()[0])
        raise ValueError(f"scores_list[{constant}] is constant: it cannot be weighted")
    if method == "zsum":
        weights = 1 / spread
        return LinearFusion(weights, -(systems.mean(0) * weights).sum(), "zsum", 0, True)
    prior = real("prior", prior)
    if not 0 < prior < 1:
        raise ValueError(f"prior must be in (0, 1), got {prior!r}")
    is_target = _calibration_labels(labels, systems.shape[0])
    max_iter = positive_int("max_iter", max_iter)
    return _logistic_fusion(systems, is_target, prior, max_iter, positive_real("tol", tol))

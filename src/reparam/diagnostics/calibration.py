r"""Calibration of a classifier: the expected calibration error and the reliability diagram's
bins (:func:`reparam.plots.calibration.plot_reliability` draws it).

A classifier predicts the class :math:`\hat y = \arg\max_k p_k(x)` with confidence
:math:`\hat p = \max_k p_k(x)`; it is calibrated when :math:`P(\hat y = y \mid \hat p = c) = c`
for every c. Cut (0, 1] into B equal-width bins :math:`I_b = ((b-1)/B,\ b/B]` and let
:math:`B_b` hold the examples whose confidence falls in :math:`I_b`; then

.. math:: \operatorname{acc}(B_b) = \frac{1}{|B_b|} \sum_{i \in B_b} 1[\hat y_i = y_i],
          \qquad
          \operatorname{conf}(B_b) = \frac{1}{|B_b|} \sum_{i \in B_b} \hat p_i,

.. math:: \mathrm{ECE} = \sum_{b=1}^{B} \frac{|B_b|}{N}\,
          \bigl|\operatorname{acc}(B_b) - \operatorname{conf}(B_b)\bigr|,
          \qquad
          \mathrm{MCE} = \max_{b:\,|B_b| > 0}
          \bigl|\operatorname{acc}(B_b) - \operatorname{conf}(B_b)\bigr|.

The reliability diagram plots acc(B_b) against the bins (a calibrated model lies on the
diagonal); under it, the histogram of the confidences shows how many examples each bar rests
on.

Even a calibrated model has ECE > 0 on finite data: given the confidences, acc(B_b) is an
average of |B_b| independent Bernoulli(p̂_i) draws, so its standard error is
:math:`\sqrt{\sum_{i \in B_b} \hat p_i (1 - \hat p_i)}\,/\,|B_b|` — with ≈ 2000 test examples and
15 bins, an ECE below about 1 % is within noise.

References:
    Naeini, Cooper & Hauskrecht (2015), Obtaining well calibrated probabilities using Bayesian
    binning, AAAI.
    Guo, Pleiss, Sun & Weinberger (2017), On calibration of modern neural networks, ICML,
    section 2 and Fig. 1.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class Calibration:
    """The binned calibration of a classifier on N examples (see the module docstring).

    ``edges`` are the B + 1 bin edges; ``accuracy`` and ``confidence`` the per-bin acc(B_b)
    and conf(B_b) (NaN for an empty bin); ``counts`` the |B_b|; ``ece`` the expected
    calibration error (a fraction, not a percentage).
    """

    ece: float
    edges: tuple[float, ...]
    accuracy: tuple[float, ...]
    confidence: tuple[float, ...]
    counts: tuple[int, ...]

    @property
    def bins(self) -> int:
        return len(self.counts)

    @property
    def total(self) -> int:
        """N, the number of examples."""
        return sum(self.counts)

    @property
    def mce(self) -> float:
        """The maximum calibration error over non-empty bins."""
        return max(
            abs(a - c)
            for a, c, n in zip(self.accuracy, self.confidence, self.counts, strict=True)
            if n > 0
        )

    @property
    def overall_accuracy(self) -> float:
        """The fraction of examples classified correctly."""
        return self.weighted(self.accuracy)

    @property
    def mean_confidence(self) -> float:
        """The mean of the confidences max_k p_k."""
        return self.weighted(self.confidence)

    def weighted(self, values: tuple[float, ...]) -> float:
        return sum(n * v for v, n in zip(values, self.counts, strict=True) if n > 0) / self.total

    def to_dict(self) -> dict:
        """A JSON-ready dictionary (empty bins' NaNs become ``None``)."""
        out = asdict(self)
        for name in ("accuracy", "confidence"):
            out[name] = [None if math.isnan(v) else v for v in out[name]]
        out["mce"] = self.mce
        return out

    @classmethod
    def from_dict(cls, values: dict) -> Calibration:
        """The inverse of :meth:`to_dict`.

        >>> c = Calibration(0.1, (0.0, 0.5, 1.0), (math.nan, 0.8), (math.nan, 0.7), (0, 4))
        >>> Calibration.from_dict(c.to_dict()).counts
        (0, 4)
        """

        def bins(name: str) -> tuple[float, ...]:
            return tuple(math.nan if v is None else float(v) for v in values[name])

        return cls(
            ece=float(values["ece"]),
            edges=tuple(float(e) for e in values["edges"]),
            accuracy=bins("accuracy"),
            confidence=bins("confidence"),
            counts=tuple(int(n) for n in values["counts"]),
        )


def check_probabilities(probs: Tensor, labels: Tensor, atol: float = 1e-3) -> None:
    """Raise ``ValueError`` unless ``probs`` is [N, K] (N ≥ 1) with finite entries in [0, 1]
    whose rows sum to one within ``atol``, and ``labels`` is [N] of integers in [0, K)."""
    if probs.dim() != 2 or probs.shape[0] < 1 or probs.shape[1] < 1:
        raise ValueError(f"probs must be [N, K] with N, K >= 1, got shape {tuple(probs.shape)}")
    if labels.shape != probs.shape[:1]:
        raise ValueError(
            f"labels must be [N] = [{probs.shape[0]}] to match probs, got {tuple(labels.shape)}"
        )
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise ValueError(f"labels must be integers, got {labels.dtype}")
    if not probs.is_floating_point():
        raise ValueError(f"probs must be floating point, got {probs.dtype}")
    if not (torch.isfinite(probs).all() and (probs >= 0).all() and (probs <= 1).all()):
        raise ValueError("probs must be finite and lie in [0, 1]")
    sums = probs.double().sum(1)
    worst = float((sums - 1).abs().max())
    if worst > atol:
        raise ValueError(f"each row of probs must sum to 1; one is off by {worst:.3g}")
    if ((labels < 0) | (labels >= probs.shape[1])).any():
        raise ValueError(f"labels must lie in [0, {probs.shape[1]})")


def expected_calibration_error(probs: Tensor, labels: Tensor, bins: int = 15) -> Calibration:
    r"""The expected calibration error of predicted class probabilities ``probs`` [N, K]
    against integer ``labels`` [N], with ``bins`` equal-width confidence bins
    :math:`((b-1)/B, b/B]` (Guo et al. 2017, eq. 3):

    .. math:: \mathrm{ECE} = \sum_b \frac{|B_b|}{N}\,|\operatorname{acc}(B_b) -
              \operatorname{conf}(B_b)|.

    The prediction is the arg max (the first on ties), the confidence its probability. Returns
    a ``Calibration`` with the per-bin accuracy, confidence and counts. Raises ``ValueError``
    for probabilities that are not distributions over K classes, labels of the wrong shape or
    range, or ``bins`` < 1.

    >>> probs = torch.tensor([[0.9, 0.1], [0.3, 0.7], [0.6, 0.4]])
    >>> result = expected_calibration_error(probs, torch.tensor([0, 0, 0]), bins=2)
    >>> result.counts, round(result.ece, 4)  # bin (0.5, 1]: accuracy 2/3, confidence 0.7333
    ((0, 3), 0.0667)
    """
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        raise ValueError(f"bins must be an integer >= 1, got {bins!r}")
    probs, labels = torch.as_tensor(probs), torch.as_tensor(labels)
    check_probabilities(probs, labels)
    probs, labels = probs.detach().double().cpu(), labels.detach().long().cpu()
    confidence, prediction = probs.max(1)
    correct = (prediction == labels).double()
    edges = torch.linspace(0, 1, bins + 1, dtype=torch.float64)
    # bucketize(right=False) gives edges[b-1] < c <= edges[b]: the right-closed bins.
    index = torch.bucketize(confidence, edges[1:-1])
    counts = torch.bincount(index, minlength=bins)
    sum_correct = torch.zeros(bins, dtype=torch.float64).index_add_(0, index, correct)
    sum_confidence = torch.zeros(bins, dtype=torch.float64).index_add_(0, index, confidence)
    ece = float((sum_correct - sum_confidence).abs().sum() / len(labels))
    filled = counts > 0
    nan = torch.full((bins,), math.nan, dtype=torch.float64)
    accuracy = torch.where(filled, sum_correct / counts.clamp_min(1), nan)
    mean_confidence = torch.where(filled, sum_confidence / counts.clamp_min(1), nan)
    return Calibration(
        ece=ece,
        edges=tuple(edges.tolist()),
        accuracy=tuple(accuracy.tolist()),
        confidence=tuple(mean_confidence.tolist()),
        counts=tuple(int(n) for n in counts.tolist()),
    )

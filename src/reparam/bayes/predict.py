r"""Predictions of a Bayesian network, averaged over its posterior, with their uncertainty.

With S draws of the network, :math:`f_s(x)`, :math:`s = 1…S`:

- regression: the predictive mean :math:`\bar f = \frac1S\sum_s f_s`, and variance
  :math:`\frac1S\sum_s (f_s - \bar f)^2 + σ^2` — the spread of the networks (epistemic) plus
  the model's observation noise σ² (aleatoric) when it has one (``model.noise_variance``);
- classification: the predictive probabilities :math:`\bar p = \frac1S\sum_s
  \operatorname{softmax} f_s`, their entropy :math:`H[\bar p]`, and the mutual information
  between the label and the weights, :math:`H[\bar p] - \frac1S\sum_s H[p_s]` (Houlsby et al.
  2011's BALD score: the part of the uncertainty that more data would remove).

References:
    Gal (2016), Uncertainty in deep learning, section 3.3.
    Houlsby, Huszár, Ghahramani & Lengyel (2011), Bayesian active learning for classification
    and preference learning.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from reparam.checks import positive_int, tensor

TASKS = ("regression", "classification")


@dataclass(frozen=True)
class RegressionPrediction:
    """The predictive ``mean`` and ``variance`` (epistemic + noise), the ``epistemic`` part
    alone, and the ``samples`` [S, ...] they came from."""

    mean: Tensor
    variance: Tensor
    epistemic: Tensor
    samples: Tensor


@dataclass(frozen=True)
class ClassPrediction:
    """The predictive class ``probs`` [..., K], their ``entropy`` and the ``mutual_information``
    between label and weights (nats)."""

    probs: Tensor
    entropy: Tensor
    mutual_information: Tensor


def entropy(probs: Tensor) -> Tensor:
    """Entropy in nats over the last dimension, with 0 log 0 = 0."""
    return -torch.special.xlogy(probs, probs).sum(-1)


@torch.no_grad()
def predict(
    model: nn.Module, x: Tensor, samples: int = 100, task: str | None = None
) -> RegressionPrediction | ClassPrediction:
    """Average ``samples`` stochastic forward passes of ``model`` on ``x`` (see the module
    docstring). ``task`` is ``"regression"`` (outputs are means) or ``"classification"``
    (outputs are logits over the last dimension); by default the model's ``task`` attribute.
    The model's train/eval mode is left alone (Bayesian layers sample in both).

    >>> from reparam.bayes import BayesLinear
    >>> p = predict(BayesLinear(3, 4), torch.randn(5, 3), samples=10, task="classification")
    >>> p.probs.shape, bool((p.mutual_information >= 0).all())
    (torch.Size([5, 4]), True)
    """
    task = task or getattr(model, "task", None)
    if task not in TASKS:
        raise ValueError(f"task must be 'regression' or 'classification', got {task!r}")
    positive_int("samples", samples)
    tensor("x", x)
    if torch.isnan(x).any():
        raise ValueError("x holds NaN: its predictions would be NaN")
    outputs = torch.stack([model(x) for _ in range(samples)])
    if task == "regression":
        mean = outputs.mean(0)
        epistemic = (outputs - mean).square().mean(0)  # var(correction=0), quiet on empty batches
        noise = getattr(model, "noise_variance", None)
        variance = epistemic if noise is None else epistemic + noise.unsqueeze(-1)
        return RegressionPrediction(mean, variance, epistemic, outputs)
    probs = outputs.softmax(-1)
    mean_probs = probs.mean(0)
    total = entropy(mean_probs)
    return ClassPrediction(mean_probs, total, (total - entropy(probs).mean(0)).clamp_min(0))


def gaussian_log_likelihood(samples: Tensor, y: Tensor, noise_std: Tensor) -> Tensor:
    r"""The Monte Carlo predictive log-density of each target,
    :math:`\log \frac1S \sum_s N(y; f_s(x), σ^2)`, from network outputs ``samples`` [S, ...]
    and the noise scale (broadcast against ``y``).

    >>> gaussian_log_likelihood(torch.zeros(3, 2), torch.zeros(2), torch.tensor(1.0))
    tensor([-0.9189, -0.9189])
    """
    if samples.dim() < 1 or samples.shape[0] < 1:
        raise ValueError(f"samples must be [S, ...] with S >= 1, got shape {tuple(samples.shape)}")
    noise = torch.as_tensor(noise_std)
    if not (noise > 0).all():
        raise ValueError(f"noise_std must be > 0, got {noise_std}")
    log_density = torch.distributions.Normal(samples, noise_std, validate_args=False).log_prob(y)
    return torch.logsumexp(log_density, 0) - math.log(samples.shape[0])

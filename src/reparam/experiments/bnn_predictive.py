r"""The predictive networks of the Bayesian-network runs: what ``load_run`` hands back and what
``reparam export`` writes.

A trained ``BayesMLP`` is a distribution over networks; its predictive distribution is the
Monte Carlo average over S draws of the weights,

.. math:: p(y \mid x) \approx \frac1S \sum_{s=1}^S p(y \mid x, w_s), \qquad w_s \sim q(w).

The exported modules draw the S networks in one batched pass with the local
reparameterization trick (Kingma, Salimans & Welling 2015), whatever estimator trained them:
for one example, sampling each layer's pre-activations given its inputs has exactly the
distribution of a fresh weight draw per example, so the S passes are S independent posterior
draws, as in ``reparam.bayes.predict``.

Example:
    >>> from reparam.models.bnn import BayesMLP
    >>> net = BayesMLP([4, 8, 3], task="classification", estimator="weight")
    >>> ClassifierPredictive(net, samples=10)(torch.randn(5, 4)).detach().sum(-1)
    tensor([1.0000, 1.0000, 1.0000, 1.0000, 1.0000])
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from reparam.models.bnn import BayesMLP


def local_copy(net: BayesMLP) -> BayesMLP:
    """A copy of ``net`` that samples with the local reparameterization trick."""
    twin = copy.deepcopy(net)
    twin.set_estimator("local")
    return twin


class ClassifierPredictive(nn.Module):
    """``x`` [N, D] → the posterior predictive class probabilities [N, K], averaged over
    ``samples`` draws of a classification ``BayesMLP`` (see the module docstring)."""

    def __init__(self, net: BayesMLP, samples: int) -> None:
        super().__init__()
        self.net, self.samples = local_copy(net), samples

    def forward(self, x: Tensor) -> Tensor:
        logits = self.net(x.expand(self.samples, *x.shape))
        return logits.softmax(-1).mean(0)


class UCIPredictor(nn.Module):
    r"""R regression networks (one per split, ``BayesMLP`` replicas), each with the
    normalization of its split's training part: ``x`` [N, D] (or [..., R, N, D]) in the data's
    units → one posterior draw of the predictions [..., R, N] in the target's units,
    :math:`\bar y + s_y f_w((x - \bar x) / s_x)`.

    Buffers: ``x_mean``, ``x_std`` [R, 1, D], ``y_mean``, ``y_std`` [R, 1], and what the UCI
    protocol chose on validation for each split, ``prior_sigma`` [R] and ``epoch`` [R].

    >>> net = BayesMLP([3, 16, 1], task="regression", batch_shape=(2,))
    >>> UCIPredictor(net, inputs=3)(torch.randn(5, 3)).shape
    torch.Size([2, 5])
    """

    def __init__(self, net: BayesMLP, inputs: int) -> None:
        super().__init__()
        replicas = net.log_noise_std.shape[0]
        self.net = net
        self.register_buffer("x_mean", torch.zeros(replicas, 1, inputs))
        self.register_buffer("x_std", torch.ones(replicas, 1, inputs))
        self.register_buffer("y_mean", torch.zeros(replicas, 1))
        self.register_buffer("y_std", torch.ones(replicas, 1))
        self.register_buffer("prior_sigma", torch.full((replicas,), float("nan")))
        self.register_buffer("epoch", torch.zeros(replicas, dtype=torch.long))

    def forward(self, x: Tensor) -> Tensor:
        return self.net((x - self.x_mean) / self.x_std) * self.y_std + self.y_mean

    @property
    def noise_std(self) -> Tensor:
        """The observation noise σ of each split's network [R, 1], in the target's units."""
        return self.net.log_noise_std.exp()[:, None] * self.y_std


class RegressionPredictive(nn.Module):
    r"""``x`` [N, D] → the posterior predictive mean and standard deviation [R, N] of every
    split's network (``UCIPredictor``) over ``samples`` draws: the spread of the draws plus
    the learned noise, :math:`\sqrt{\frac1S \sum_s (f_s - \bar f)^2 + σ^2}`."""

    def __init__(self, predictor: UCIPredictor, samples: int) -> None:
        super().__init__()
        self.predictor = copy.deepcopy(predictor)
        self.predictor.net.set_estimator("local")
        self.samples = samples

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        draws = self.predictor(x.expand(self.samples, 1, *x.shape))
        mean = draws.mean(0)
        variance = draws.var(0, correction=0) + self.predictor.noise_std**2
        return mean, variance.sqrt()

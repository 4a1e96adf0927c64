r"""The KL term of a Bayesian network and how a minibatch objective weights it.

The negative ELBO of a data set split into M minibatches :math:`D_1, …, D_M` is
:math:`\mathrm{KL}(q\,\|\,p) - \sum_i \mathbb E_q \log p(D_i \mid w)`. Stochastic training
takes one minibatch at a time, with the loss

.. math:: F_i = π_i\,\mathrm{KL}(q\,\|\,p) - \mathbb E_q \log p(D_i \mid w),
          \qquad \sum_{i=1}^M π_i = 1,

so that one epoch's losses add up to the full negative ELBO whatever the π_i. Two choices:

- ``"uniform"``: :math:`π_i = 1/M` — every step pays the same share (Graves 2011; what most
  code does, often written as the KL divided by the number of batches, or the log-likelihood
  scaled by N/|D_i| with the KL divided by N: the same objective up to a factor N);
- ``"blundell"``: :math:`π_i = 2^{M-i} / (2^M - 1)` — the first minibatches of an epoch pay
  most of the KL and later ones are dominated by the data (Blundell et al. 2015, eq. 9).

Note the log-likelihood is a sum over the minibatch's examples, not a mean: a mean would
weight the KL N times too heavily relative to the data.

References:
    Graves (2011), Practical variational inference for neural networks.
    Blundell, Cornebise, Kavukcuoglu & Wierstra (2015), Weight uncertainty in neural networks.
"""

from __future__ import annotations

import math
import numbers

import torch
from torch import Tensor, nn

from reparam.bayes.layers import Bayesian

SCHEMES = ("uniform", "blundell")


def kl(model: nn.Module) -> Tensor:
    """KL(q ‖ p) of every ``Bayesian`` module of ``model``, summed (one value per replica when
    the layers have a ``batch_shape``).

    >>> from reparam.bayes import BayesLinear
    >>> model = nn.Sequential(BayesLinear(2, 3), nn.ReLU(), BayesLinear(3, 1))
    >>> kl(model).shape
    torch.Size([])
    """
    layers = [
        (name, module) for name, module in model.named_modules() if isinstance(module, Bayesian)
    ]
    if not layers:
        raise ValueError("the model has no Bayesian layers, so no KL term")
    shapes = {module.batch_shape for _, module in layers}
    if len(shapes) > 1:
        named = ", ".join(f"{name or 'model'}: {tuple(m.batch_shape)}" for name, m in layers)
        raise ValueError(
            f"the Bayesian layers of the model have different batch_shape ({named}); their "
            "KLs are one per replica and must have one shape"
        )
    terms = [module.kl() for _, module in layers]
    return sum(terms[1:], terms[0])


def kl_weights(batches: int, scheme: str = "uniform") -> Tensor:
    r"""The weights :math:`π_1, …, π_M` of the KL term in an epoch of ``batches`` minibatches;
    they sum to one (float64, so Blundell's :math:`2^{-i}` stay exact to M ≈ 1000).

    >>> kl_weights(3, "blundell")
    tensor([0.5714, 0.2857, 0.1429], dtype=torch.float64)
    """
    if isinstance(batches, bool) or not isinstance(batches, numbers.Integral):
        raise TypeError(f"batches must be a positive integer, got {batches!r}")
    if batches < 1:
        raise ValueError(
            f"batches must be a positive integer (an epoch needs at least one minibatch), got {batches}"
        )
    if scheme == "uniform":
        return torch.full((batches,), 1 / batches, dtype=torch.float64)
    if scheme == "blundell":
        halvings = torch.exp2(-torch.arange(1, batches + 1, dtype=torch.float64))
        return halvings / -math.expm1(-batches * math.log(2))
    raise ValueError(f"unknown KL weighting {scheme!r}; choose from {', '.join(SCHEMES)}")

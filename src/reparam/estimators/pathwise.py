"""The pathwise (reparameterization) estimator."""

from __future__ import annotations

from torch import Tensor
from torch.distributions import Distribution

from reparam.estimators.base import CostFn, Estimator, evaluate, require


class Pathwise(Estimator):
    r"""Pathwise gradient of :math:`\mathbb{E}_{q_\theta}[f(z)]` through ``q.rsample``.

    .. math::
        z = g_\theta(\varepsilon),\ \varepsilon \sim p(\varepsilon):\quad
        \nabla_\theta \mathbb{E}_{q_\theta}[f(z)]
            = \mathbb{E}_{p(\varepsilon)}[\nabla_z f(z)\, \nabla_\theta g_\theta(\varepsilon)]

    Unbiased, usually far lower variance than the score function, but needs a differentiable
    ``f`` and a ``q`` with ``rsample``: location–scale families (Normal, LogNormal, any
    ``TransformedDistribution`` of one) and, through torch's implicit reparameterization
    gradients, Gamma, Beta and Dirichlet.

    References:
        Kingma & Welling (2014), Auto-Encoding Variational Bayes;
        Rezende, Mohamed & Wierstra (2014), Stochastic Backpropagation ...;
        Figurnov, Mohamed & Mnih (2018), Implicit Reparameterization Gradients.

    Example:
        >>> import torch, reparam as rp
        >>> mu = torch.tensor(0.0, requires_grad=True)
        >>> q = torch.distributions.Normal(mu, 1.0)
        >>> rp.expect(lambda z: z**2, q, n=100, estimator=Pathwise()).backward()
    """

    def forward(self, f: CostFn, q: Distribution, n: int) -> Tensor:
        return pathwise(f, q, n)


def pathwise(f: CostFn, q: Distribution, n: int) -> Tensor:
    """The pathwise estimate of :class:`Pathwise`, as a function."""
    require(
        q.has_rsample,
        f"pathwise needs a distribution with rsample; {type(q).__name__} has none. Use "
        f"estimator='score' (any distribution), 'enumerate' (small finite support) or "
        f"'gumbel-softmax' / 'straight-through' (categorical, Bernoulli).",
    )
    return evaluate(f, q.rsample((n,)), q, n).mean(0)

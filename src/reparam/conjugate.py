r"""Closed-form posteriors: exact oracles for the estimators and models built on them."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.distributions import Normal


@dataclass(frozen=True)
class NormalNormal:
    r"""Normal likelihood with known variance and a Normal prior on its mean.

    .. math::
        \theta \sim \mathcal N(\mu_0, \tau_0^2), \qquad
        y_1,\dots,y_n \mid \theta \overset{iid}{\sim} \mathcal N(\theta, \sigma^2)

    The posterior depends on the data through :math:`\bar y` alone:

    .. math::
        \frac{1}{\tau_n^2} = \frac{1}{\tau_0^2} + \frac{n}{\sigma^2}, \qquad
        \mu_n = \tau_n^2\Big(\frac{\mu_0}{\tau_0^2} + \frac{n\bar y}{\sigma^2}\Big)
              = \bar y - B_n(\bar y - \mu_0), \qquad
        B_n = \frac{\sigma^2/n}{\sigma^2/n + \tau_0^2},

    the sample mean shrunk towards the prior mean by the factor :math:`B_n`, which falls to 0 as
    n grows (the posterior tends to :math:`\mathcal N(\bar y, \sigma^2/n)`, the MLE's sampling
    distribution). For one observation, :math:`\mu_1 = \mu_0 + (y-\mu_0)\,\tau_0^2/(\sigma^2+\tau_0^2)`.

    Observations lie along ``dim`` (0 by default); the parameters broadcast against the rest.

    References:
        Gelman et al., Bayesian Data Analysis (3rd ed.), §2.5.

    Example:
        >>> model = NormalNormal(prior_mean=0.0, prior_std=1.0, noise_std=1.0)
        >>> model.posterior(torch.tensor([2.0])).mean
        tensor(1.)
    """

    prior_mean: float | Tensor = 0.0
    prior_std: float | Tensor = 1.0
    noise_std: float | Tensor = 1.0

    def __post_init__(self) -> None:
        for name in ("prior_std", "noise_std"):
            if not bool(torch.all(torch.as_tensor(getattr(self, name)) > 0)):
                raise ValueError(f"{name} must be positive; got {getattr(self, name)}.")

    def _params(self, like: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(μ0, τ0, σ) as tensors in the dtype and on the device of ``like``."""
        mean, prior_std, noise_std = (
            torch.as_tensor(v, dtype=like.dtype, device=like.device)
            for v in (self.prior_mean, self.prior_std, self.noise_std)
        )
        return mean, prior_std, noise_std

    def shrinkage(self, n: int, like: Tensor | None = None) -> Tensor:
        r"""The factor :math:`B_n = \frac{\sigma^2/n}{\sigma^2/n + \tau_0^2}` towards the prior mean."""
        _, prior_std, noise_std = self._params(torch.empty(()) if like is None else like)
        noise_var = noise_std**2 / n
        return noise_var / (noise_var + prior_std**2)

    def posterior(self, y: Tensor, dim: int = 0) -> Normal:
        r""":math:`p(\theta \mid y_{1..n}) = \mathcal N(\mu_n, \tau_n^2)`."""
        prior_mean, prior_std, noise_std = self._params(y)
        n = y.shape[dim]
        y_bar = y.mean(dim)
        mean = y_bar - self.shrinkage(n, y) * (y_bar - prior_mean)
        precision = 1 / prior_std**2 + n / noise_std**2
        return Normal(mean, precision.rsqrt().expand_as(mean))

    def prior(self, like: Tensor) -> Normal:
        r""":math:`\mathcal N(\mu_0, \tau_0^2)`, in the dtype and on the device of ``like``."""
        prior_mean, prior_std, _ = self._params(like)
        return Normal(prior_mean, prior_std)

    def log_joint(self, theta: Tensor, y: Tensor, dim: int = 0) -> Tensor:
        r""":math:`\log p(\theta) + \sum_i \log p(y_i \mid \theta)`; ``theta`` broadcasts against
        ``y.sum(dim)``, so a leading sample dimension is fine with ``dim=-1``."""
        _, _, noise_std = self._params(y)
        likelihood = Normal(theta.unsqueeze(dim), noise_std)
        return self.prior(y).log_prob(theta) + likelihood.log_prob(y).sum(dim)

    def log_marginal(self, y: Tensor, dim: int = 0) -> Tensor:
        r""":math:`\log p(y_{1..n})`, by the identity :math:`\log p(y) = \log p(y,\theta) -
        \log p(\theta\mid y)` at :math:`\theta = \mu_n`."""
        posterior = self.posterior(y, dim)
        theta = posterior.mean
        return self.log_joint(theta, y, dim) - posterior.log_prob(theta)

    def elbo(self, q: Normal, y: Tensor, dim: int = 0) -> Tensor:
        r"""Closed-form evidence lower bound for a Gaussian :math:`q(\theta) = \mathcal N(m, s^2)`.

        .. math::
            \mathcal L(q) = \mathbb E_q[\log p(y, \theta)] + \mathbb H[q]
                          = \log p(y) - \mathrm{KL}(q \,\|\, p(\theta \mid y)).
        """
        prior_mean, prior_std, noise_std = self._params(y)
        m, s2 = q.mean, q.variance
        n = y.shape[dim]
        likelihood = -0.5 * n * torch.log(2 * math.pi * noise_std**2) - (
            ((y - m.unsqueeze(dim)) ** 2).sum(dim) + n * s2
        ) / (2 * noise_std**2)
        prior = -0.5 * torch.log(2 * math.pi * prior_std**2) - ((m - prior_mean) ** 2 + s2) / (
            2 * prior_std**2
        )
        return likelihood + prior + q.entropy()

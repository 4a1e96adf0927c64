r"""Closed-form posteriors: exact oracles for the estimators and models built on them."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.distributions import Normal

from reparam.checks import count


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
    The scales must be positive and finite (ValueError otherwise); every formula is written in
    ratios of scales and standardized residuals, so scales from 1e-30 to 1e30 give finite
    results in float32 too.

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
        mean = torch.as_tensor(self.prior_mean)
        if not bool(torch.isfinite(mean).all()):
            raise ValueError(f"prior_mean must be finite; got {self.prior_mean}.")
        for name in ("prior_std", "noise_std"):
            std = torch.as_tensor(getattr(self, name))
            if not bool(((std > 0) & torch.isfinite(std)).all()):
                raise ValueError(f"{name} must be positive and finite; got {getattr(self, name)}.")

    def _params(self, like: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(μ0, τ0, σ) as tensors in the dtype and on the device of ``like``."""
        mean, prior_std, noise_std = (
            torch.as_tensor(v, dtype=like.dtype, device=like.device)
            for v in (self.prior_mean, self.prior_std, self.noise_std)
        )
        return mean, prior_std, noise_std

    def shrinkage(self, n: int, like: Tensor | None = None) -> Tensor:
        r"""The factor :math:`B_n = \frac{\sigma^2/n}{\sigma^2/n + \tau_0^2}` towards the prior mean,
        computed as :math:`1/(1 + n\,(\tau_0/\sigma)^2)`, which neither overflows nor
        underflows for scales from 1e-30 to 1e30; :math:`B_0 = 1` (no data: the prior)."""
        n = count("n", n, 0)
        _, prior_std, noise_std = self._params(torch.empty(()) if like is None else like)
        return 1 / (1 + n * (prior_std / noise_std) ** 2)

    def posterior(self, y: Tensor, dim: int = 0) -> Normal:
        r""":math:`p(\theta \mid y_{1..n}) = \mathcal N(\mu_n, \tau_n^2)`; the prior for n = 0.

        :math:`\tau_n = (\tau_0^{-2} + n\sigma^{-2})^{-1/2}` is computed from the smaller and
        the ratio of :math:`\tau_0` and :math:`\sigma/\sqrt n`, so that no square overflows.
        """
        n = observations(y, dim)
        prior_mean, prior_std, noise_std = self._params(y)
        if n == 0:
            return Normal(*torch.broadcast_tensors(prior_mean + y.sum(dim), prior_std))
        y_bar = y.mean(dim)
        mean = y_bar - self.shrinkage(n, y) * (y_bar - prior_mean)
        small = torch.minimum(prior_std, noise_std / math.sqrt(n))
        large = torch.maximum(prior_std, noise_std / math.sqrt(n))
        return Normal(*torch.broadcast_tensors(mean, small * torch.rsqrt(1 + (small / large) ** 2)))

    def prior(self, like: Tensor) -> Normal:
        r""":math:`\mathcal N(\mu_0, \tau_0^2)`, in the dtype and on the device of ``like``."""
        prior_mean, prior_std, _ = self._params(like)
        return Normal(prior_mean, prior_std)

    def log_joint(self, theta: Tensor, y: Tensor, dim: int = 0) -> Tensor:
        r""":math:`\log p(\theta) + \sum_i \log p(y_i \mid \theta)`; ``theta`` broadcasts against
        ``y.sum(dim)``, so a leading sample dimension is fine with ``dim=-1``. The densities
        are written in standardized form, finite for any scale whose standardized residuals
        are."""
        observations(y, dim)
        prior_mean, prior_std, noise_std = self._params(y)
        likelihood = normal_log_density(y, theta.unsqueeze(dim), noise_std).sum(dim)
        return normal_log_density(theta, prior_mean, prior_std) + likelihood

    def log_marginal(self, y: Tensor, dim: int = 0) -> Tensor:
        r""":math:`\log p(y_{1..n})`, by the identity :math:`\log p(y) = \log p(y,\theta) -
        \log p(\theta\mid y)` at :math:`\theta = \mu_n` (0 for n = 0)."""
        posterior = self.posterior(y, dim)
        at_mode = -torch.log(posterior.stddev) - 0.5 * math.log(2 * math.pi)
        return self.log_joint(posterior.mean, y, dim) - at_mode

    def elbo(self, q: Normal, y: Tensor, dim: int = 0) -> Tensor:
        r"""Closed-form evidence lower bound for a Gaussian :math:`q(\theta) = \mathcal N(m, s^2)`.

        .. math::
            \mathcal L(q) = \mathbb E_q[\log p(y, \theta)] + \mathbb H[q]
                          = \log p(y) - \mathrm{KL}(q \,\|\, p(\theta \mid y)).
        """
        n = observations(y, dim)
        prior_mean, prior_std, noise_std = self._params(y)
        m, s = q.mean, q.stddev
        half_log_2pi = 0.5 * math.log(2 * math.pi)
        residuals = ((y - m.unsqueeze(dim)) / noise_std) ** 2
        likelihood = -n * (torch.log(noise_std) + half_log_2pi) - 0.5 * (
            residuals.sum(dim) + (math.sqrt(n) * s / noise_std) ** 2
        )
        prior = -(torch.log(prior_std) + half_log_2pi) - 0.5 * (
            ((m - prior_mean) / prior_std) ** 2 + (s / prior_std) ** 2
        )
        return likelihood + prior + q.entropy()


def normal_log_density(x: Tensor, loc: Tensor, scale: Tensor) -> Tensor:
    r""":math:`\log\mathcal N(x; \mu, \sigma^2) = -\tfrac12\big(\tfrac{x-\mu}{\sigma}\big)^2
    - \log\sigma - \tfrac12\log 2\pi`, standardized first: torch's ``Normal.log_prob``
    squares σ, which underflows to 0 in float32 for σ = 1e-30 (and gives 0/0)."""
    return -0.5 * ((x - loc) / scale) ** 2 - torch.log(scale) - 0.5 * math.log(2 * math.pi)


def observations(y: Tensor, dim: int) -> int:
    """The number of observations along ``dim``, or a ValueError naming ``y`` or ``dim``."""
    if not isinstance(y, Tensor) or not y.is_floating_point():
        raise ValueError(
            f"y must be a floating-point tensor of observations, got "
            f"{getattr(y, 'dtype', type(y).__name__)}."
        )
    if isinstance(dim, bool) or not isinstance(dim, int) or not -y.dim() <= dim < y.dim():
        raise ValueError(
            f"dim must index a dimension of y (shape {tuple(y.shape)}), got dim={dim!r}."
        )
    return y.shape[dim]

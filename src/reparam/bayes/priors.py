r"""Priors over network weights, and their KL divergence from a factorized Gaussian posterior.

A prior's parameters are floats, or tensors of a layer's ``batch_shape`` (one prior per
replica, e.g. per hyperparameter setting trained side by side): they index the leading
dimensions of the weights and broadcast over the rest.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.distributions import Normal

LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


def align(parameter: Tensor | float, like: Tensor) -> Tensor | float:
    """``parameter`` with singleton dimensions appended so that its leading dimensions index
    the leading dimensions of ``like``."""
    if not isinstance(parameter, Tensor) or parameter.dim() == 0:
        return parameter
    return parameter.reshape(parameter.shape + (1,) * (like.dim() - parameter.dim()))


def positive(name: str, value: Tensor | float) -> Tensor | float:
    """``value``, after checking that every entry is finite and > 0."""
    tensor = torch.as_tensor(value)
    if not (torch.isfinite(tensor).all() and (tensor > 0).all()):
        raise ValueError(f"{name} must be finite and > 0, got {value}")
    return value


class Prior:
    r"""A prior p(w) over each weight independently.

    ``kl(q)`` is :math:`\mathrm{KL}(q\,\|\,p)` for the factorized Gaussian ``q``, elementwise:
    in closed form where one exists, else the one-sample Monte Carlo estimate
    :math:`\log q(w) - \log p(w)` at a reparameterized draw :math:`w \sim q` (Blundell et al.
    2015, eq. 2), unbiased, with gradients by the pathwise estimator.
    """

    def log_prob(self, w: Tensor) -> Tensor:
        raise NotImplementedError

    def kl(self, q: Normal) -> Tensor:
        return self.kl_monte_carlo(q)

    def kl_monte_carlo(self, q: Normal, samples: int = 1) -> Tensor:
        """The Monte Carlo estimate of the elementwise KL from ``samples`` draws."""
        w = q.rsample((samples,))
        # the draws go last for the prior, whose per-replica parameters index leading dimensions
        log_p = self.log_prob(w.movedim(0, -1)).movedim(-1, 0)
        return (q.log_prob(w) - log_p).mean(0)


class NormalKL(torch.autograd.Function):
    r"""Σ KL(N(μ, softplus(ρ)²) ‖ N(0, σ²)) over all but the leading ``keep`` dimensions, in one
    pass with the analytic backward :math:`∂/∂μ = μ/σ^2`,
    :math:`∂/∂ρ = (s/σ^2 - 1/s)\,\operatorname{sigmoid}(ρ)` (s = softplus ρ): a third of the
    kernels of the autograd graph of the same formula, which matters on every training step."""

    @staticmethod
    def forward(ctx, mu: Tensor, rho: Tensor, sigma: Tensor, keep: int) -> Tensor:
        s = F.softplus(rho)
        variance = sigma * sigma
        terms = torch.log(sigma / s) + (s * s + mu * mu) / (2 * variance) - 0.5
        ctx.save_for_backward(mu, rho, s, variance)
        ctx.keep = keep
        return terms.flatten(keep).sum(-1) if terms.dim() > keep else terms

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, Tensor, None, None]:
        mu, rho, s, variance = ctx.saved_tensors
        grad = grad.reshape(grad.shape + (1,) * (mu.dim() - ctx.keep))
        return grad * mu / variance, grad * (s / variance - 1 / s) * torch.sigmoid(rho), None, None


class NormalPrior(Prior):
    r"""p(w) = N(0, σ²), with the closed-form

    .. math:: \mathrm{KL}(N(μ, s^2)\,\|\,N(0, σ^2)) = \log\frac{σ}{s} + \frac{s^2 + μ^2}{2σ^2} - \frac12.

    >>> q = Normal(torch.tensor([0.0, 1.0]), torch.tensor([1.0, 1.0]))
    >>> NormalPrior(1.0).kl(q)
    tensor([0.0000, 0.5000])
    """

    def __init__(self, sigma: Tensor | float = 1.0) -> None:
        self.sigma = positive("the prior's sigma", sigma)

    def log_prob(self, w: Tensor) -> Tensor:
        sigma = torch.as_tensor(align(self.sigma, w), dtype=w.dtype, device=w.device)
        return -0.5 * (w / sigma) ** 2 - torch.log(sigma) - LOG_SQRT_2PI

    def kl(self, q: Normal) -> Tensor:
        sigma = torch.as_tensor(align(self.sigma, q.loc), dtype=q.loc.dtype, device=q.loc.device)
        ratio = (q.scale / sigma) ** 2
        return 0.5 * (ratio + (q.loc / sigma) ** 2 - 1 - torch.log(ratio))

    def kl_sum(self, mu: Tensor, rho: Tensor, keep: int) -> Tensor:
        """The closed-form KL of q = N(μ, softplus(ρ)²), summed over all but the leading
        ``keep`` dimensions (what a layer's ``kl()`` needs, fused)."""
        sigma = torch.as_tensor(align(self.sigma, mu), dtype=mu.dtype, device=mu.device)
        return NormalKL.apply(mu, rho, sigma, keep)

    def __repr__(self) -> str:
        return f"NormalPrior(sigma={self.sigma})"


class ScaleMixturePrior(Prior):
    r"""The scale mixture of Blundell et al. (2015), eq. 7:

    .. math:: p(w) = π\,N(w; 0, σ_1^2) + (1 - π)\,N(w; 0, σ_2^2),

    with σ1 > σ2 (a wide component and a narrow one near zero). Its KL from a Gaussian has no
    closed form, so ``kl`` is the Monte Carlo estimate. The paper's best MNIST settings were
    π = 1/2 or 1/4, −log σ1 ∈ {0, 1, 2}, −log σ2 ∈ {6, 7, 8}.

    References:
        Blundell, Cornebise, Kavukcuoglu & Wierstra (2015), Weight uncertainty in neural
        networks, ICML.

    >>> prior = ScaleMixturePrior(pi=0.5, sigma1=1.0, sigma2=math.exp(-6))
    >>> float(prior.log_prob(torch.tensor(0.0))) > float(NormalPrior(1.0).log_prob(torch.tensor(0.0)))
    True
    """

    def __init__(
        self, pi: Tensor | float = 0.5, sigma1: Tensor | float = 1.0, sigma2: Tensor | float = 1e-3
    ) -> None:
        pi_tensor = torch.as_tensor(pi)
        if not ((pi_tensor > 0) & (pi_tensor < 1)).all():
            raise ValueError(f"the mixture weight pi must lie in (0, 1), got {pi}")
        self.pi = pi
        self.components = (
            NormalPrior(positive("sigma1", sigma1)),
            NormalPrior(positive("sigma2", sigma2)),
        )

    def log_prob(self, w: Tensor) -> Tensor:
        pi = torch.as_tensor(align(self.pi, w), dtype=w.dtype, device=w.device)
        wide, narrow = (component.log_prob(w) for component in self.components)
        return torch.logaddexp(torch.log(pi) + wide, torch.log1p(-pi) + narrow)

    def __repr__(self) -> str:
        wide, narrow = self.components
        return f"ScaleMixturePrior(pi={self.pi}, sigma1={wide.sigma}, sigma2={narrow.sigma})"

r"""Priors over network weights, and their KL divergence from a factorized Gaussian posterior.

A prior's parameters are floats, or tensors of a layer's ``batch_shape`` (one prior per
replica, e.g. per hyperparameter setting trained side by side): they index the leading
dimensions of the weights and broadcast over the rest.

The posterior's scale is :math:`\operatorname{softplus}(ρ)`, which underflows to 0 for very
negative ρ although the KL is finite (≈ −ρ): every log σ below is
:func:`~reparam.bayes.softplus.log_softplus` (ρ), and every ratio of scales is formed before
it is squared, so the KL is finite wherever its value is a float of the weights' dtype.
"""

from __future__ import annotations

import math
import numbers

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.distributions import Normal

from reparam.bayes.softplus import floor, log_softplus

LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


def align(parameter: Tensor | float, like: Tensor) -> Tensor | float:
    """``parameter`` with singleton dimensions appended so that its leading dimensions index
    the leading dimensions of ``like``."""
    if not isinstance(parameter, Tensor) or parameter.dim() == 0:
        return parameter
    return parameter.reshape(parameter.shape + (1,) * (like.dim() - parameter.dim()))


def as_parameter(name: str, value: Tensor | float) -> Tensor:
    """``value`` as a tensor, or a ``TypeError`` unless it is a real number or a real tensor."""
    if isinstance(value, Tensor):
        if value.is_complex() or value.dtype == torch.bool:
            raise TypeError(f"{name} must be a real number or tensor, got dtype {value.dtype}")
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number or tensor, got {value!r}")
    return torch.as_tensor(float(value))


def positive(name: str, value: Tensor | float) -> Tensor | float:
    """``value``, after checking that every entry is finite and > 0."""
    tensor = as_parameter(name, value)
    if not (torch.isfinite(tensor).all() and (tensor > 0).all()):
        raise ValueError(f"{name} must be finite and > 0, got {value}")
    return value


def shape_of(value: Tensor | float) -> torch.Size:
    """The shape of a prior parameter: ``()`` for a number."""
    return value.shape if isinstance(value, Tensor) else torch.Size()


class Prior:
    r"""A prior p(w) over each weight independently.

    ``kl(q)`` is :math:`\mathrm{KL}(q\,\|\,p)` for the factorized Gaussian ``q``, elementwise:
    in closed form where one exists, else the one-sample Monte Carlo estimate
    :math:`\log q(w) - \log p(w)` at a reparameterized draw :math:`w \sim q` (Blundell et al.
    2015, eq. 2), unbiased, with gradients by the pathwise estimator.
    """

    @property
    def batch_shape(self) -> torch.Size:
        """The shape of the parameters: ``()``, or a layer's ``batch_shape`` (one per replica)."""
        raise NotImplementedError

    def log_prob(self, w: Tensor) -> Tensor:
        raise NotImplementedError

    def kl(self, q: Normal) -> Tensor:
        return self.kl_monte_carlo(q)

    def kl_monte_carlo(self, q: Normal, samples: int = 1) -> Tensor:
        r"""The Monte Carlo estimate of the elementwise KL from ``samples`` draws
        :math:`w = μ + sε`, with :math:`\log q(w) = -ε^2/2 - \log s - \log\sqrt{2π}`."""
        if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
            raise ValueError(f"samples must be a positive integer, got {samples!r}")
        eps = torch.randn((samples, *q.loc.shape), dtype=q.loc.dtype, device=q.loc.device)
        return self.monte_carlo_terms(q.loc, q.scale, torch.log(q.scale), eps).mean(0)

    def monte_carlo_terms(
        self, mu: Tensor, sigma: Tensor, log_sigma: Tensor, eps: Tensor
    ) -> Tensor:
        """log q(w) − log p(w) at the draws w = μ + σ·ε, ``eps`` with the draws first."""
        w = mu + sigma * eps
        log_q = -0.5 * eps * eps - log_sigma - LOG_SQRT_2PI
        # the draws go last for the prior, whose per-replica parameters index leading dimensions
        return log_q - self.log_prob(w.movedim(0, -1)).movedim(-1, 0)

    def kl_sum(self, mu: Tensor, rho: Tensor, keep: int) -> Tensor:
        """KL(N(μ, softplus(ρ)²) ‖ p) summed over all but the leading ``keep`` dimensions (what
        a layer's ``kl()`` needs): the one-sample Monte Carlo estimate, with log σ computed
        from ρ, finite where softplus(ρ) underflows."""
        sigma = F.softplus(rho)
        eps = torch.randn_like(mu).unsqueeze(0)
        terms = self.monte_carlo_terms(mu, sigma, log_softplus(rho, sigma), eps)[0]
        return terms.flatten(keep).sum(-1) if terms.dim() > keep else terms


def normal_kl_forward(
    mu: Tensor, rho: Tensor, s: Tensor, sigma: Tensor, keep: int
) -> tuple[Tensor, tuple[Tensor | None, ...]]:
    """Σ KL(N(μ, s²) ‖ N(0, σ²)) over all but the leading ``keep`` dimensions, s =
    softplus(ρ) given, and what :func:`normal_kl_backward` needs (see :class:`NormalKL`).

    Two shortcuts on the CPU, where checking costs no device synchronization (and not under
    ``torch.compile``, whose graph a data-dependent branch would break), give the same
    numbers: σ = 1 needs no ratios (s/σ = s), and without a ρ below log tiny (where s
    underflows) log s needs no correction."""
    low, tiny = floor(rho.dtype)
    on_cpu = rho.device.type == "cpu" and not torch.compiler.is_compiling()
    unit = on_cpu and sigma.numel() == 1 and bool(sigma == 1)
    underflow = not on_cpu or bool(rho.amin() < low)
    inverse = None if unit else 1 / sigma
    ratio, standardized = (s, mu) if unit else (s * inverse, mu * inverse)
    clamped = s.clamp_min(tiny) if underflow else s
    # −log s + log σ − 1/2, with log s = log(max(s, tiny)) + min(ρ − log tiny, 0)
    terms = torch.sub(torch.log(sigma) - 0.5, torch.log(clamped))
    if underflow:
        terms = terms.sub_(torch.sub(rho, low).clamp_max_(0))
    terms = terms.addcmul_(ratio, ratio, value=0.5)
    flat = standardized.flatten(keep)
    squares = torch.linalg.vecdot(flat, flat)
    total = (terms.flatten(keep).sum(-1) if terms.dim() > keep else terms) + 0.5 * squares
    return total, (rho, clamped, inverse, ratio, standardized, underflow)


def normal_kl_backward(
    grad: Tensor, saved: tuple[object, ...], keep: int, d_sigma: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    r"""The KL's gradients in μ and ρ for the output gradient ``grad`` (``saved`` from
    :func:`normal_kl_forward`); ``d_sigma``, a gradient in s = softplus(ρ) from elsewhere (a
    weight draw), is added before the chain rule through softplus, in place."""
    rho, clamped, inverse, ratio, standardized, underflow = saved
    grad = grad.reshape(grad.shape + (1,) * (rho.dim() - keep))
    scaled = grad if inverse is None else inverse * grad
    # sigmoid(max(ρ, log tiny))/max(s, tiny) = ∂ log s/∂ρ, 1 to working precision where s < tiny
    slope = torch.sigmoid(rho.clamp_min(floor(rho.dtype)[0]) if underflow else rho)
    d_rho = ratio * scaled if d_sigma is None else d_sigma.addcmul_(ratio, scaled)
    d_rho = d_rho.addcdiv_(grad.expand_as(d_rho), clamped, value=-1)
    return standardized * scaled, d_rho.mul_(slope)


class NormalKL(torch.autograd.Function):
    r"""Σ KL(N(μ, s²) ‖ N(0, σ²)), s = softplus(ρ), over all but the leading ``keep``
    dimensions, in one pass with the analytic backward :math:`∂/∂μ = μ/σ^2`,
    :math:`∂/∂ρ = \operatorname{sigmoid}(ρ)\,(s/σ^2 - 1/s)`: fewer kernels than the autograd
    graph of the same formula, which matters on every training step.

    log s is :func:`~reparam.bayes.softplus.log_softplus` and 1/s in the backward is its
    derivative (so both stay finite where s underflows to 0); s/σ and μ/σ are formed before
    they are squared, and each weight's terms are added before the sum, so a KL near 0 keeps
    its precision."""

    @staticmethod
    def forward(ctx, mu: Tensor, rho: Tensor, sigma: Tensor, keep: int) -> Tensor:
        total, (*saved, underflow) = normal_kl_forward(mu, rho, F.softplus(rho), sigma, keep)
        ctx.save_for_backward(*saved)
        ctx.keep, ctx.underflow = keep, underflow
        return total

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, Tensor, None, None]:
        saved = (*ctx.saved_tensors, ctx.underflow)
        return (*normal_kl_backward(grad, saved, ctx.keep), None, None)


class NormalPrior(Prior):
    r"""p(w) = N(0, σ²), with the closed-form

    .. math:: \mathrm{KL}(N(μ, s^2)\,\|\,N(0, σ^2)) = \log\frac{σ}{s} + \frac{s^2 + μ^2}{2σ^2} - \frac12.

    >>> q = Normal(torch.tensor([0.0, 1.0]), torch.tensor([1.0, 1.0]))
    >>> NormalPrior(1.0).kl(q)
    tensor([0.0000, 0.5000])
    """

    def __init__(self, sigma: Tensor | float = 1.0) -> None:
        self.sigma = positive("the prior's sigma", sigma)

    @property
    def batch_shape(self) -> torch.Size:
        return shape_of(self.sigma)

    def log_prob(self, w: Tensor) -> Tensor:
        sigma = torch.as_tensor(align(self.sigma, w), dtype=w.dtype, device=w.device)
        return -0.5 * (w / sigma) ** 2 - torch.log(sigma) - LOG_SQRT_2PI

    def kl(self, q: Normal) -> Tensor:
        sigma = torch.as_tensor(align(self.sigma, q.loc), dtype=q.loc.dtype, device=q.loc.device)
        ratio, standardized = q.scale / sigma, q.loc / sigma
        return 0.5 * (ratio * ratio + standardized * standardized - 1) - torch.log(ratio)

    def sigma_like(self, mu: Tensor) -> Tensor:
        """σ as a tensor of ``mu``'s dtype and device, aligned to broadcast against it."""
        return torch.as_tensor(align(self.sigma, mu), dtype=mu.dtype, device=mu.device)

    def kl_sum(self, mu: Tensor, rho: Tensor, keep: int) -> Tensor:
        """The closed-form KL of q = N(μ, softplus(ρ)²), summed over all but the leading
        ``keep`` dimensions (what a layer's ``kl()`` needs, fused)."""
        return NormalKL.apply(mu, rho, self.sigma_like(mu), keep)

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
        pi_tensor = as_parameter("the mixture weight pi", pi)
        if not ((pi_tensor > 0) & (pi_tensor < 1)).all():
            raise ValueError(f"the mixture weight pi must lie in (0, 1), got {pi}")
        self.pi = pi
        self.components = (
            NormalPrior(positive("sigma1", sigma1)),
            NormalPrior(positive("sigma2", sigma2)),
        )
        shapes = [shape_of(pi), *(shape_of(c.sigma) for c in self.components)]
        given = {tuple(shape) for shape in shapes} - {()}
        if len(given) > 1:
            raise ValueError(
                "pi, sigma1 and sigma2 must be numbers or tensors of one shape (one per "
                f"replica), got shapes {', '.join(str(tuple(shape)) for shape in shapes)}"
            )
        self._batch_shape = torch.Size(given.pop()) if given else torch.Size()

    @property
    def batch_shape(self) -> torch.Size:
        return self._batch_shape

    def log_prob(self, w: Tensor) -> Tensor:
        pi = torch.as_tensor(align(self.pi, w), dtype=w.dtype, device=w.device)
        wide, narrow = (component.log_prob(w) for component in self.components)
        return torch.logaddexp(torch.log(pi) + wide, torch.log1p(-pi) + narrow)

    def __repr__(self) -> str:
        wide, narrow = self.components
        return f"ScaleMixturePrior(pi={self.pi}, sigma1={wide.sigma}, sigma2={narrow.sigma})"

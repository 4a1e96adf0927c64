r"""One autograd node for a layer's weight noise and its KL term under a normal prior.

A training step of a Bayesian layer uses (μ, ρ) twice: its estimator needs a statistic of
the posterior — the sample :math:`W = μ + sε` (``"sample"``, weight sampling), the variance
:math:`s^2` (``"variance"``, local reparameterization), the perturbation :math:`sε`
(``"noise"``, Flipout) or the scale s itself (``"scale"``) — and the KL term needs the
closed form :math:`\sum \log(σ/s) + (s^2 + μ^2)/(2σ^2) - \tfrac12`, s = softplus(ρ). Apart,
the two evaluate softplus(ρ) twice, the sigmoid of the chain rule twice, and each adds its own
gradient into μ.grad and ρ.grad. :class:`DrawWithKL` does it once:

.. math::
    \frac{∂}{∂ρ} = \operatorname{sigmoid}(ρ)\Bigl(g_{\text{stat}} \frac{∂\,\text{stat}}{∂s}
        + g_{\mathrm{KL}}\Bigl(\frac{s}{σ^2} - \frac1s\Bigr)\Bigr), \qquad
    \frac{∂}{∂μ} = g_{\text{stat}} \frac{∂\,\text{stat}}{∂μ} + g_{\mathrm{KL}} \frac{μ}{σ^2},

the KL's part exactly :class:`~reparam.bayes.priors.NormalKL`'s (finite where s underflows;
there, below ρ = log of the smallest normal number, the statistic's part uses that bound's
sigmoid, a difference below the smallest normal number times its gradient).

Its tensors are kept on the node rather than saved for backward, so the statistic and the KL
can be differentiated together (one ``backward`` of ``nll + kl``, the usual step) or apart, in
either order; an in-place change of μ or ρ before the backward is an error, as autograd's.

Example:
    >>> mu, rho = torch.zeros(2, 3, requires_grad=True), torch.zeros(2, 3, requires_grad=True)
    >>> variance, kl = DrawWithKL.apply(mu, rho, None, torch.tensor(1.0), 0, "variance")
    >>> (variance.sum() + kl).backward()
    >>> bool(torch.allclose(rho.grad, torch.sigmoid(torch.zeros(())) * (3 * F.softplus(rho) - 1 / F.softplus(rho)).detach()))
    True
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

from reparam.bayes.priors import normal_kl_backward, normal_kl_forward
from reparam.bayes.softplus import floor

STATISTICS = ("sample", "variance", "noise", "scale")


def posterior_statistic(mu: Tensor, s: Tensor, eps: Tensor | None, statistic: str) -> Tensor:
    """μ + s·ε (``"sample"``), s² (``"variance"``), s·ε (``"noise"``) or s (``"scale"``)."""
    if statistic == "sample":
        return torch.addcmul(mu, s, eps)
    if statistic == "variance":
        return s * s
    if statistic == "noise":
        return s * eps
    return s


class DrawWithKL(torch.autograd.Function):
    """``(stat, kl)`` from ``(mu, rho, eps, sigma, keep, statistic)``: the statistic named by
    ``statistic`` (one of :data:`STATISTICS`; ``eps`` is the standard normal noise of
    ``"sample"`` and ``"noise"``, else ``None``) and Σ KL(N(μ, s²) ‖ N(0, σ²)) over all but the
    leading ``keep`` dimensions, σ the prior's scale aligned to μ."""

    @staticmethod
    def forward(
        ctx,
        mu: Tensor,
        rho: Tensor,
        eps: Tensor | None,
        sigma: Tensor,
        keep: int,
        statistic: str,
    ) -> tuple[Tensor, Tensor]:
        s = F.softplus(rho)
        stat = posterior_statistic(mu, s, eps, statistic)
        kl, saved = normal_kl_forward(mu, rho, s, sigma, keep)
        ctx.set_materialize_grads(False)
        # on the node, not save_for_backward: either output may be differentiated first
        ctx.kept = (s, eps, saved)
        ctx.keep, ctx.statistic = keep, statistic
        ctx.versions = (mu, mu._version, rho, rho._version)
        return stat, kl

    @staticmethod
    @once_differentiable
    def backward(
        ctx, grad_stat: Tensor | None, grad_kl: Tensor | None
    ) -> tuple[Tensor | None, Tensor | None, None, None, None, None]:
        mu, mu_version, rho, rho_version = ctx.versions
        if (mu._version, rho._version) != (mu_version, rho_version):
            raise RuntimeError(
                "a Bayesian layer's weight_mu or weight_rho was modified in place between its "
                "forward pass and the backward pass of its draw or KL"
            )
        s, eps, saved = ctx.kept
        statistic = ctx.statistic
        d_sigma = d_mu = None
        if grad_stat is not None:
            if statistic in ("sample", "noise"):
                d_sigma = grad_stat * eps
            elif statistic == "variance":
                d_sigma = torch.mul(s, grad_stat).mul_(2)
            else:
                d_sigma = grad_stat.clone()  # the KL's part is added in place
            if statistic == "sample":
                d_mu = grad_stat
        if grad_kl is None:
            if d_sigma is None:
                return None, None, None, None, None, None
            slope = torch.sigmoid(rho.clamp_min(floor(rho.dtype)[0]))
            return d_mu, d_sigma.mul_(slope), None, None, None, None
        kl_mu, d_rho = normal_kl_backward(grad_kl, saved, ctx.keep, d_sigma)
        return (kl_mu if d_mu is None else kl_mu.add_(d_mu)), d_rho, None, None, None, None

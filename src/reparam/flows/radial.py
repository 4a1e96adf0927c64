r"""Radial flows (Rezende & Mohamed 2015, eq. 13–14)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from reparam.bayes.softplus import log_softplus
from reparam.checks import last_dim
from reparam.flows.base import FlowTransform

LOG_2 = math.log(2)


def radial_parameters(alpha_raw: Tensor, beta_raw: Tensor) -> tuple[Tensor, Tensor]:
    r"""The constrained :math:`(\alpha, \beta)` of a radial flow from unconstrained values.

    :math:`\alpha = \operatorname{softplus}(\tilde\alpha) > 0` and
    :math:`\beta = -\alpha + \operatorname{softplus}(\tilde\beta) \ge -\alpha`, the condition
    for invertibility (Rezende & Mohamed 2015, appendix A.2).

    Example:
        >>> alpha, beta = radial_parameters(torch.tensor(0.0), torch.tensor(-30.0))
        >>> bool(beta >= -alpha)
        True
    """
    alpha = F.softplus(alpha_raw)
    return alpha, F.softplus(beta_raw) - alpha


def norm(x: Tensor) -> Tensor:
    """The Euclidean norm over the last dimension, computed on x divided by its largest entry,
    so that it neither overflows nor underflows where the norm itself does not."""
    top = x.detach().abs().amax(-1, keepdim=True)
    top = torch.where(top > 0, top, 1.0)
    return torch.linalg.vector_norm(x / top, dim=-1) * top.squeeze(-1)


def log_or_minus_inf(x: Tensor) -> Tensor:
    """log x for x ≥ 0, −inf at 0, with a zero (not NaN) gradient there."""
    zero = x == 0
    return torch.where(zero, -math.inf, torch.log(torch.where(zero, 1.0, x)))


def radial(z: Tensor, z0: Tensor, alpha_raw: Tensor, beta_raw: Tensor) -> tuple[Tensor, Tensor]:
    r"""Radial flow :math:`f(z) = z + \beta h(\alpha, r)(z - z_0)` and its log-determinant.

    With :math:`r = \lVert z - z_0\rVert` and :math:`h = 1/(\alpha + r)`,

    .. math::
        \log\lvert\det \partial f/\partial z\rvert
            = (d - 1)\log(1 + \beta h) + \log(1 + \beta h + \beta h'(r)\, r).

    :math:`(\alpha, \beta)` come from :func:`radial_parameters`, so ``alpha_raw`` and
    ``beta_raw`` are unconstrained. With :math:`\gamma = \alpha + \beta
    = \operatorname{softplus}(\tilde\beta) \ge 0` both factors are ratios of sums of
    non-negative terms, :math:`1 + \beta h = (\gamma + r)/(\alpha + r)` and
    :math:`1 + \beta h + \beta h' r = (\alpha\gamma + 2\alpha r + r^2)/(\alpha + r)^2`,
    which is how they are computed, in log space (log α and log γ by
    :func:`~reparam.bayes.softplus.log_softplus`): finite where α or γ underflow (β → −α, the
    edge of invertibility, or α → 0) and at :math:`z = z_0`.

    Arguments:
        z: points ``[*sample, *batch, d]``.
        z0: reference points ``[*batch, d]``; alpha_raw, beta_raw: ``[*batch]``.

    Returns:
        ``(f(z), log|det J|)`` of shapes ``[*sample, *batch, d]`` and ``[*sample, *batch]``.

    References:
        Rezende & Mohamed (2015), Variational Inference with Normalizing Flows, eq. 13–14.

    Example:
        >>> z = torch.randn(5, 2)
        >>> y, log_det = radial(z, torch.zeros(2), torch.tensor(0.0), torch.tensor(1.0))
        >>> y.shape, log_det.shape
        (torch.Size([5, 2]), torch.Size([5]))
    """
    last_dim("z", z, z0.shape[-1], "the radial flow's dimension d, that of z0")
    alpha, gamma = F.softplus(alpha_raw), F.softplus(beta_raw)
    log_alpha, log_gamma = log_softplus(alpha_raw, alpha), log_softplus(beta_raw, gamma)
    diff = z - z0
    r = norm(diff)
    # (γ + r)/(α + r) applied to diff/(α + r) first, which stays within the unit ball
    denominator = alpha + r
    unit = diff / torch.where(denominator > 0, denominator, 1.0).unsqueeze(-1)
    y = z0 + unit * (gamma + r).unsqueeze(-1)
    d = z.shape[-1]
    log_r = log_or_minus_inf(r)
    log_alpha_r = torch.logaddexp(log_alpha, log_r)
    middle = torch.stack(
        torch.broadcast_tensors(log_alpha + log_gamma, LOG_2 + log_alpha + log_r, 2 * log_r)
    )
    log_det = (
        (d - 1) * torch.logaddexp(log_gamma, log_r)
        + torch.logsumexp(middle, 0)
        - (d + 1) * log_alpha_r
    )
    return y, log_det


def radial_inverse(y: Tensor, z0: Tensor, alpha_raw: Tensor, beta_raw: Tensor) -> Tensor:
    r"""The :math:`z` with :math:`f(z) = y` for the radial flow :func:`radial`, in closed form.

    Taking norms in :math:`y - z_0 = (1 + \beta h(r))(z - z_0)` gives
    :math:`r^2 + (\gamma - r_y) r - \alpha r_y = 0` for :math:`r = \lVert z - z_0\rVert`,
    :math:`r_y = \lVert y - z_0\rVert`, :math:`\gamma = \alpha + \beta`; its non-negative root
    is taken in the form that avoids cancellation, on the coefficients divided by the largest
    of γ, α and :math:`r_y` (so that no square overflows), and
    :math:`z = z_0 + (y - z_0)(\alpha + r)/(\gamma + r)`.

    Example:
        >>> z0, a, b = torch.randn(3), torch.tensor(0.5), torch.tensor(-1.0)
        >>> z = torch.randn(4, 3)
        >>> torch.allclose(radial_inverse(radial(z, z0, a, b)[0], z0, a, b), z, atol=1e-5)
        True
    """
    last_dim("y", y, z0.shape[-1], "the radial flow's dimension d, that of z0")
    alpha, gamma = F.softplus(alpha_raw), F.softplus(beta_raw)
    diff = y - z0
    r_y = norm(diff)
    top = torch.maximum(torch.maximum(alpha, gamma), r_y).detach()
    top = torch.where(top > 0, top, 1.0)
    a, g, ry = alpha / top, gamma / top, r_y / top
    p = g - ry
    # floored at the smallest normal number: a finite gradient at the double root p = a·r_y = 0
    root = torch.sqrt((p * p + 4 * a * ry).clamp_min(torch.finfo(p.dtype).tiny))
    positive = p > 0
    r = torch.where(positive, 2 * a * ry / (p + root).where(positive, 1.0), (root - p) / 2) * top
    denominator = gamma + r
    unit = diff / torch.where(denominator > 0, denominator, 1.0).unsqueeze(-1)
    return z0 + unit * (alpha + r).unsqueeze(-1)


class RadialTransform(FlowTransform):
    r"""The radial flow :func:`radial` as a ``torch.distributions`` transform.

    Arguments:
        z0: ``[*batch, d]``.
        alpha_raw, beta_raw: ``[*batch]``, unconstrained (see :func:`radial_parameters`).
        cache_size: 1 (the default) lets ``log_prob`` reuse the point just sampled; see
            :class:`~reparam.flows.planar.FlowTransform`.

    Example:
        >>> from torch.distributions import Independent, Normal, TransformedDistribution
        >>> flow = RadialTransform(torch.randn(3, 2), torch.zeros(3), torch.zeros(3))
        >>> q = TransformedDistribution(Independent(Normal(torch.zeros(3, 2), 1.0), 1), [flow])
        >>> q.log_prob(q.rsample((4,))).shape
        torch.Size([4, 3])
    """

    def __init__(
        self, z0: Tensor, alpha_raw: Tensor, beta_raw: Tensor, cache_size: int = 1
    ) -> None:
        batch = z0.shape[:-1]
        if z0.dim() < 1 or alpha_raw.shape != batch or beta_raw.shape != batch:
            raise ValueError(
                f"a radial flow needs z0 of shape [*batch, d] and alpha_raw, beta_raw of shape "
                f"[*batch]; got z0 {tuple(z0.shape)}, alpha_raw {tuple(alpha_raw.shape)}, "
                f"beta_raw {tuple(beta_raw.shape)}."
            )
        super().__init__(cache_size)
        self.z0, self.alpha_raw, self.beta_raw = z0, alpha_raw, beta_raw

    def flow(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return radial(x, self.z0, self.alpha_raw, self.beta_raw)

    def _inverse(self, y: Tensor) -> Tensor:
        return radial_inverse(y, self.z0, self.alpha_raw, self.beta_raw)

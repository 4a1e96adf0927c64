r"""Planar flows, and the transform protocol every flow in :mod:`reparam.flows` follows."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from reparam.flows.base import FlowTransform


def planar_u_hat(u: Tensor, w: Tensor) -> Tensor:
    r"""The constrained :math:`\hat u` that keeps a planar flow invertible.

    .. math::
        \hat u = u + \big(m(w^\top u) - w^\top u\big)\frac{w}{\lVert w\rVert^2},
        \qquad m(x) = -1 + \operatorname{softplus}(x),

    so that :math:`w^\top\hat u = m(w^\top u) \ge -1` (Rezende & Mohamed 2015, appendix A.1).
    At :math:`w = 0` the flow is a constant shift and :math:`\hat u = u`.

    Example:
        >>> u, w = torch.tensor([-3.0, 0.0]), torch.tensor([1.0, 0.0])
        >>> (w * planar_u_hat(u, w)).sum()
        tensor(-0.9514)
    """
    wu = (w * u).sum(-1, keepdim=True)
    w2 = (w * w).sum(-1, keepdim=True)
    tiny = torch.finfo(w2.dtype).tiny
    return u + (F.softplus(wu) - 1 - wu) * w / w2.clamp_min(tiny)


def planar_slope(u: Tensor, w: Tensor) -> Tensor:
    r""":math:`1 + w^\top\hat u = \operatorname{softplus}(w^\top u) \ge 0`, formed without the
    cancellation of adding 1 to a number near −1 (1 where :math:`w = 0`)."""
    return torch.where((w != 0).any(-1), F.softplus((w * u).sum(-1)), 1.0)


def planar(z: Tensor, u: Tensor, w: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    r"""Planar flow :math:`f(z) = z + \hat u\, h(w^\top z + b)`, :math:`h = \tanh`, and its
    log-determinant.

    .. math::
        \log\lvert\det \partial f/\partial z\rvert = \log\lvert 1 + \hat u^\top\psi(z)\rvert,
        \qquad \psi(z) = h'(w^\top z + b)\, w,

    with :math:`\hat u` from :func:`planar_u_hat`, so ``u`` is unconstrained. Since
    :math:`\hat u^\top\psi = (s - 1)(1 - t^2)` with :math:`t = h(w^\top z + b)` and
    :math:`s = 1 + w^\top\hat u \ge 0`, the determinant is computed as
    :math:`t^2 + s(1 - t^2)`, a sum of non-negative terms.

    Arguments:
        z: points ``[*sample, *batch, d]``.
        u, w: ``[*batch, d]``; b: ``[*batch]`` (one flow per batch element, broadcast over
            the sample dimensions).

    Returns:
        ``(f(z), log|det J|)`` of shapes ``[*sample, *batch, d]`` and ``[*sample, *batch]``.

    References:
        Rezende & Mohamed (2015), Variational Inference with Normalizing Flows, eq. 10–12.

    Example:
        >>> z = torch.randn(5, 2)
        >>> y, log_det = planar(z, torch.randn(2), torch.randn(2), torch.tensor(0.5))
        >>> y.shape, log_det.shape
        (torch.Size([5, 2]), torch.Size([5]))
    """
    t = torch.tanh((w * z).sum(-1) + b)
    y = z + planar_u_hat(u, w) * t.unsqueeze(-1)
    t2 = t * t
    return y, torch.log(t2 + planar_slope(u, w) * (1 - t2))


def planar_inverse(y: Tensor, u: Tensor, w: Tensor, b: Tensor, iterations: int = 60) -> Tensor:
    r"""The :math:`z` with :math:`f(z) = y` for the planar flow :func:`planar`.

    There is no closed form, but the problem is one-dimensional: :math:`a = w^\top z` solves
    :math:`a + c\tanh(a + b) = w^\top y` with :math:`c = w^\top\hat u \ge -1`, whose left side
    increases in :math:`a`, and then :math:`z = y - \hat u \tanh(a + b)`. The root is
    bracketed in :math:`w^\top y \pm |c|` and found by ``iterations`` bisection steps without
    gradient, then one Newton step taken with gradient, which gives the derivatives of the
    implicit function theorem with respect to ``y`` and the parameters.

    Example:
        >>> u, w, b = torch.randn(3), torch.randn(3), torch.tensor(0.3)
        >>> z = torch.randn(4, 3)
        >>> torch.allclose(planar_inverse(planar(z, u, w, b)[0], u, w, b), z, atol=1e-5)
        True
    """
    u_hat = planar_u_hat(u, w)
    c = planar_slope(u, w) - 1
    target = (w * y).sum(-1)
    with torch.no_grad():
        low, high = target - c.abs(), target + c.abs()
        for _ in range(iterations):
            middle = (low + high) / 2
            above = middle + c * torch.tanh(middle + b) > target
            low, high = torch.where(above, low, middle), torch.where(above, middle, high)
        a = (low + high) / 2
    t = torch.tanh(a + b)
    slope = (t * t + (c + 1) * (1 - t * t)).clamp_min(torch.finfo(t.dtype).tiny)
    a = a - (a + c * t - target) / slope
    return y - u_hat * torch.tanh(a + b).unsqueeze(-1)


class PlanarTransform(FlowTransform):
    r"""The planar flow :func:`planar` as a ``torch.distributions`` transform.

    Arguments:
        u, w: ``[*batch, d]``, unconstrained (the transform uses :math:`\hat u`).
        b: ``[*batch]``.
        cache_size: 1 (the default) lets ``log_prob`` reuse the point just sampled; see
            :class:`FlowTransform`.

    Example:
        >>> from torch.distributions import Independent, Normal, TransformedDistribution
        >>> flow = PlanarTransform(torch.randn(3, 2), torch.randn(3, 2), torch.zeros(3))
        >>> q = TransformedDistribution(Independent(Normal(torch.zeros(3, 2), 1.0), 1), [flow])
        >>> z = q.rsample((4,))
        >>> q.log_prob(z).shape
        torch.Size([4, 3])
    """

    def __init__(self, u: Tensor, w: Tensor, b: Tensor, cache_size: int = 1) -> None:
        if u.shape != w.shape or u.dim() < 1 or b.shape != u.shape[:-1]:
            raise ValueError(
                f"a planar flow needs u and w of one shape [*batch, d] and b of shape [*batch]; "
                f"got u {tuple(u.shape)}, w {tuple(w.shape)}, b {tuple(b.shape)}."
            )
        super().__init__(cache_size)
        self.u, self.w, self.b = u, w, b

    def flow(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return planar(x, self.u, self.w, self.b)

    def _inverse(self, y: Tensor) -> Tensor:
        return planar_inverse(y, self.u, self.w, self.b)

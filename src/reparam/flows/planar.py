r"""Planar flows, and the transform protocol every flow in :mod:`reparam.flows` follows."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from reparam.bayes.softplus import log_softplus
from reparam.checks import last_dim, positive_int
from reparam.flows.base import FlowTransform

LOG_2 = math.log(2)


def planar_u_hat(u: Tensor, w: Tensor) -> Tensor:
    r"""The constrained :math:`\hat u` that keeps a planar flow invertible.

    .. math::
        \hat u = u + \big(m(w^\top u) - w^\top u\big)\frac{w}{\lVert w\rVert^2},
        \qquad m(x) = -1 + \operatorname{softplus}(x),

    so that :math:`w^\top\hat u = m(w^\top u) \ge -1` (Rezende & Mohamed 2015, appendix A.1).
    :math:`w/\lVert w\rVert^2` is formed from w divided by its largest entry, so that it holds
    for a w of any magnitude. At :math:`w = 0` the flow is a constant shift and
    :math:`\hat u = u`.

    Example:
        >>> u, w = torch.tensor([-3.0, 0.0]), torch.tensor([1.0, 0.0])
        >>> (w * planar_u_hat(u, w)).sum()
        tensor(-0.9514)
    """
    wu = (w * u).sum(-1, keepdim=True)
    top = w.detach().abs().amax(-1, keepdim=True)
    unit = w / torch.where(top > 0, top, 1.0)
    # w/‖w‖² = (w/top) / (‖w/top‖² top) for any constant top (so it carries no gradient)
    direction = unit / torch.where(top > 0, (unit * unit).sum(-1, keepdim=True) * top, 1.0)
    return u + (F.softplus(wu) - 1 - wu) * direction


def planar_log_slope(u: Tensor, w: Tensor) -> Tensor:
    r""":math:`\log(1 + w^\top\hat u) = \log\operatorname{softplus}(w^\top u)` (0 where
    :math:`w = 0`), finite where the slope underflows (:math:`w^\top u` far below −88)."""
    return torch.where((w != 0).any(-1), log_softplus((w * u).sum(-1)), 0.0)


def log_one_minus_tanh2(a: Tensor) -> Tensor:
    r""":math:`\log(1 - \tanh^2 a) = 2(\log 2 - |a| - \operatorname{softplus}(-2|a|))`, finite
    for every finite a (``1 - tanh(a)**2`` is 0 beyond |a| ≈ 9 in float32)."""
    magnitude = a.abs()
    return 2 * (LOG_2 - magnitude - F.softplus(-2 * magnitude))


def planar(z: Tensor, u: Tensor, w: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    r"""Planar flow :math:`f(z) = z + \hat u\, h(w^\top z + b)`, :math:`h = \tanh`, and its
    log-determinant.

    .. math::
        \log\lvert\det \partial f/\partial z\rvert = \log\lvert 1 + \hat u^\top\psi(z)\rvert,
        \qquad \psi(z) = h'(w^\top z + b)\, w,

    with :math:`\hat u` from :func:`planar_u_hat`, so ``u`` is unconstrained. Since
    :math:`\hat u^\top\psi = (s - 1)(1 - t^2)` with :math:`t = h(w^\top z + b)` and
    :math:`s = 1 + w^\top\hat u \ge 0`, the determinant is the sum of non-negative terms
    :math:`t^2 + s(1 - t^2)`, added in log space (``logaddexp``): it stays finite where s
    underflows (:math:`w^\top u \to -\infty`, the flow's edge of invertibility) and t = 0.

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
    check_parameters("u", u, "w", w)
    last_dim("z", z, w.shape[-1], "the planar flow's dimension d, that of u and w")
    a = (w * z).sum(-1) + b
    t = torch.tanh(a)
    y = z + planar_u_hat(u, w) * t.unsqueeze(-1)
    zero = t == 0
    log_t2 = torch.where(zero, -math.inf, 2 * torch.log(torch.where(zero, 1.0, t).abs()))
    return y, torch.logaddexp(log_t2, planar_log_slope(u, w) + log_one_minus_tanh2(a))


def planar_inverse(y: Tensor, u: Tensor, w: Tensor, b: Tensor, iterations: int = 60) -> Tensor:
    r"""The :math:`z` with :math:`f(z) = y` for the planar flow :func:`planar`.

    There is no closed form, but the problem is one-dimensional: :math:`a = w^\top z` solves
    :math:`a + c\tanh(a + b) = w^\top y` with :math:`c = w^\top\hat u \ge -1`, whose left side
    increases in :math:`a`, and then :math:`z = y - \hat u \tanh(a + b)`. The root is
    bracketed in :math:`w^\top y \pm |c|` and found by ``iterations`` bisection steps without
    gradient, then one Newton step taken with gradient, which gives the derivatives of the
    implicit function theorem with respect to ``y`` and the parameters. Where the Newton step
    would leave the bracket (a slope near 0, at c ≈ −1), the bisection's root is kept and the
    step contributes its gradient only.

    Example:
        >>> u, w, b = torch.randn(3), torch.randn(3), torch.tensor(0.3)
        >>> z = torch.randn(4, 3)
        >>> torch.allclose(planar_inverse(planar(z, u, w, b)[0], u, w, b), z, atol=1e-5)
        True
    """
    check_parameters("u", u, "w", w)
    last_dim("y", y, w.shape[-1], "the planar flow's dimension d, that of u and w")
    positive_int("iterations", iterations)
    u_hat = planar_u_hat(u, w)
    c = planar_log_slope(u, w).exp() - 1
    target = (w * y).sum(-1)
    with torch.no_grad():
        low, high = target - c.abs(), target + c.abs()
        for _ in range(iterations):
            middle = (low + high) / 2
            above = middle + c * torch.tanh(middle + b) > target
            low, high = torch.where(above, low, middle), torch.where(above, middle, high)
        a = (low + high) / 2
        width = high - low
    t = torch.tanh(a + b)
    slope = (t * t + (c + 1) * (1 - t * t)).clamp_min(torch.finfo(t.dtype).tiny)
    step = (a + c * t - target) / slope.detach()
    inside = step.detach().abs() <= width
    a = a - torch.where(inside, step, step - step.detach())
    return y - u_hat * torch.tanh(a + b).unsqueeze(-1)


def check_parameters(first: str, p: Tensor, second: str, q: Tensor) -> None:
    """A ``ValueError`` unless the flow parameters ``p`` and ``q`` share their last dimension."""
    if p.dim() < 1 or q.dim() < 1 or p.shape[-1] != q.shape[-1]:
        raise ValueError(
            f"{first} and {second} must be [*batch, d] with one d, got shapes "
            f"{tuple(p.shape)} and {tuple(q.shape)}"
        )


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

r"""A mixture's joint log-density at points so far out that every squared distance overflows
the dtype (float32 points beyond about 1e19 σ): there ``log π_k + log N(x | μ_k, Σ_k)`` is −∞
for every k, and their softmax, the responsibilities, would be NaN.

With :math:`x = s\hat x`, :math:`s = 2^e` a power of two near :math:`\max_i |x_i|` (so the
scaling is exact), the squared distance splits into terms of unit scale,

.. math:: \lVert L_k^{-1}(x - μ_k)\rVert^2 = s^2 q_k + s\, l_k + c_k, \quad
          q_k = \lVert L_k^{-1}\hat x\rVert^2, \quad
          l_k = -2\,(L_k^{-1}\hat x)\cdot(L_k^{-1}μ_k), \quad
          c_k = \lVert L_k^{-1}μ_k\rVert^2,

and each component is compared with the one of least :math:`(q_k, l_k)`, as
:math:`s\,(s\,Δq_k + Δl_k) + Δc_k`: the :math:`s^2 q_k` that overflows cancels exactly where it
is common (tied covariances, where only :math:`l_k` decides) and dominates where it is not.
The result is the joint up to a constant per row: its softmax and argmax are the exact
responsibilities and the most likely component (one-hot at such distances).

>>> from reparam.latent.gmm_covariance import COVARIANCES
>>> kind, means = COVARIANCES["tied"], torch.tensor([[0.0, 0.0], [1.0, 0.0]])
>>> far = torch.tensor([[1e20, 0.0], [-1e20, 0.0]])
>>> joint = far_joint(kind, far, torch.tensor([0.5, 0.5]), means, torch.eye(2))
>>> joint.softmax(1)
tensor([[0., 1.],
        [1., 0.]])
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from reparam.latent.gmm_covariance import Covariance


def times_power_of_two(A: Tensor, exponent: Tensor) -> Tensor:
    """A · 2^exponent, exact, in two halves so that no factor overflows or is subnormal."""
    half = exponent // 2
    return A * torch.exp2(half.to(A.dtype)) * torch.exp2((exponent - half).to(A.dtype))


def far_joint(
    kind: Covariance, X: Tensor, weights: Tensor, means: Tensor, factor: Tensor
) -> Tensor:
    """log π_k + log N(x_n | μ_k, Σ_k) less a constant per row, [n, K], for points [n, D]
    whose squared distances overflow, under the covariance structure ``kind``."""
    exponent = torch.frexp(X.abs().amax(1, keepdim=True)).exponent  # [n, 1]
    white = kind.whiten(times_power_of_two(X, -exponent), factor)
    white_means = kind.whiten_means(means, factor)  # [K, D]
    quadratic = white.square().sum(-1).T.expand(X.shape[0], means.shape[0])
    linear = -2 * (white * white_means.unsqueeze(1)).sum(-1).T
    constant = white_means.square().sum(-1)
    least = quadratic == quadratic.amin(1, keepdim=True)
    least = torch.where(least, linear, math.inf).argmin(1, keepdim=True)
    excess = quadratic - quadratic.gather(1, least)
    excess = times_power_of_two(excess, exponent) + (linear - linear.gather(1, least))
    excess = times_power_of_two(excess, exponent) + (constant - constant[least])
    joint = weights.log() - 0.5 * kind.log_det(factor, X.shape[1]) - 0.5 * excess
    # a component beyond the reference by an overflowing margin beats every finite one
    top = torch.isposinf(joint).any(1, keepdim=True)
    return torch.where(top, torch.where(torch.isposinf(joint), 0.0, -math.inf), joint)

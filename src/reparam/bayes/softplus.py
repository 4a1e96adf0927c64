r"""The softplus parametrisation of a scale, :math:`σ = \operatorname{softplus}(ρ) = \log(1 + e^ρ)`,
and its logarithm computed without underflow.

For very negative ρ, σ ≈ e^ρ underflows to 0 (below ρ ≈ −88 in float32, −745 in float64) and
``log(softplus(ρ))`` is −inf, although log σ ≈ ρ is an ordinary number: every log-density and
KL divergence that holds log σ uses :func:`log_softplus` instead.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def inverse_softplus(x: float) -> float:
    """ρ with softplus(ρ) = x (x > 0).

    >>> round(inverse_softplus(math.log(2)), 12)
    0.0
    """
    return x + math.log(-math.expm1(-x))


def floor(dtype: torch.dtype) -> tuple[float, float]:
    """``(R, tiny)``: the dtype's smallest normal number and its log. softplus(ρ) ≈ e^ρ is a
    normal number for ρ ≥ R, so log softplus(ρ) is exact there; below, log softplus(ρ) =
    ρ − e^ρ/2 + … = ρ to far better than the dtype's precision."""
    tiny = torch.finfo(dtype).tiny
    return math.log(tiny), tiny


def log_softplus(rho: Tensor, sigma: Tensor | None = None) -> Tensor:
    r""":math:`\log \operatorname{softplus}(ρ)`, finite for every finite ρ, with finite gradients:

    .. math:: \log \max(\operatorname{softplus}(ρ), t) + \min(ρ - \log t, 0),

    t the dtype's smallest normal number: log softplus(ρ) where softplus(ρ) ≥ t, and
    ρ + O(t) below (an element-wise max and min, no branch). Its derivative is
    sigmoid(ρ)/softplus(ρ), which tends to 1 as ρ → −∞. ``sigma``: softplus(ρ), if at hand.

    >>> log_softplus(torch.tensor([-1e4, 0.0, 30.0]))
    tensor([-1.0000e+04, -3.6651e-01,  3.4012e+00])
    """
    sigma = F.softplus(rho) if sigma is None else sigma
    low, tiny = floor(rho.dtype)
    return torch.log(sigma.clamp_min(tiny)) + (rho - low).clamp_max(0)

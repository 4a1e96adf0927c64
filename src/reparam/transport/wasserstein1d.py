r"""Closed-form Wasserstein distances on the line.

In one dimension OT is solved by sorting: :math:`W_p^p(α, β) = \int_0^1
|F_α^{-1}(t) - F_β^{-1}(t)|^p\,dt` (Villani 2009, Remark 2.19; Peyré & Cuturi 2019, §2.6).

References:
    Villani (2009), Optimal Transport: Old and New.
    Peyré & Cuturi (2019), Computational Optimal Transport, Found. Trends Mach. Learn. 11, §2.6.
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Any

import torch
from torch import Tensor

from reparam.transport.checks import as_tensor, broadcast_batch, check_finite, check_marginal


def _mean_power_root(d: Tensor, w: Tensor | None, p: float) -> Tensor:
    r""":math:`(\sum_k w_k d_k^p)^{1/p}` over the last axis (the mean for ``w`` None) of the
    gaps ``d`` ≥ 0, computed as :math:`s\,(\sum_k w_k (d_k/s)^p)^{1/p}` with s = max d
    (treated as a constant: the expression is homogeneous of degree 1 in d, so the gradient
    is unchanged) so that :math:`d^p` neither overflows nor underflows, and with the
    subgradient 0 (not NaN from :math:`0^{1/p}`) where the sum is 0."""
    scale = d.detach().amax(-1, keepdim=True)
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    powers = (d / scale).pow(p)
    total = powers.mean(-1) if w is None else (powers * w).sum(-1)
    positive = total > 0
    root = torch.where(positive, total, torch.ones_like(total)).pow(1 / p)
    return scale.squeeze(-1) * torch.where(positive, root, torch.zeros_like(total))


def wasserstein_1d(x: Any, y: Any, p: float = 1, a: Any = None, b: Any = None) -> Tensor:
    r"""The p-Wasserstein distance :math:`W_p` (not its p-th power) between the 1-D samples
    ``x`` [..., n] and ``y`` [..., m] with weights ``a``, ``b`` (uniform by default), batched
    over leading dimensions, in closed form by sorting.

    Equal-size uniform samples: :math:`W_p = \big(\frac1n\sum_i |x_{(i)} - y_{(i)}|^p\big)^{1/p}`.
    Otherwise the quantile functions are integrated exactly over the merged breakpoints of the
    two CDFs. Differentiable in ``x``, ``y`` and the weights; where the distance is 0
    (coincident samples) the gradient is the subgradient 0. The p-th powers are taken of the
    gaps divided by the largest gap, so samples at any scale the dtype holds give a finite
    distance (float32 samples of 1e30 with p = 2).

    >>> float(wasserstein_1d(torch.tensor([0.0, 1.0]), torch.tensor([3.0, 2.0])))
    2.0
    >>> round(float(wasserstein_1d(torch.tensor([0.0]), torch.tensor([0.0, 4.0]), p=2) ** 2), 5)
    8.0
    """
    if isinstance(p, Tensor) and p.numel() == 1:
        p = p.item()
    if isinstance(p, bool) or not isinstance(p, Real) or not (math.isfinite(p) and p >= 1):
        raise ValueError(f"p must be a finite number ≥ 1, got {p!r}")
    p = float(p)
    x, y = as_tensor(x, "x"), as_tensor(y, "y")
    for t, name in ((x, "x"), (y, "y")):
        if t.ndim == 0 or t.shape[-1] == 0:
            raise ValueError(
                f"{name} must be a non-empty sample [..., n], got shape {tuple(t.shape)}"
            )
        check_finite(t, name)
    dtype = torch.promote_types(x.dtype, y.dtype)
    x, y = x.to(dtype), y.to(x.device, dtype)
    n, m = x.shape[-1], y.shape[-1]
    if a is None and b is None and n == m:
        batch = broadcast_batch({"x": x.shape[:-1], "y": y.shape[:-1]})
        xs = x.expand(*batch, n).sort(-1).values
        ys = y.expand(*batch, n).sort(-1).values
        return _mean_power_root((xs - ys).abs(), None, p)

    a = torch.full_like(x, 1 / n) if a is None else as_tensor(a, "a", x.device)
    b = torch.full_like(y, 1 / m) if b is None else as_tensor(b, "b", x.device)
    if a.ndim == 0 or a.shape[-1] != n:
        raise ValueError(
            f"a must have {n} weights (one per point of x), got shape {tuple(a.shape)}"
        )
    if b.ndim == 0 or b.shape[-1] != m:
        raise ValueError(
            f"b must have {m} weights (one per point of y), got shape {tuple(b.shape)}"
        )
    check_marginal(a, "a")
    check_marginal(b, "b")
    a, b = a.to(x.device, dtype), b.to(x.device, dtype)
    batch = broadcast_batch(
        {"x": x.shape[:-1], "y": y.shape[:-1], "a": a.shape[:-1], "b": b.shape[:-1]}
    )
    x, a = x.expand(*batch, n), a.expand(*batch, n)
    y, b = y.expand(*batch, m), b.expand(*batch, m)
    xs, ix = x.sort(-1)
    ys, iy = y.sort(-1)
    cdf_x = a.gather(-1, ix).cumsum(-1)
    cdf_y = b.gather(-1, iy).cumsum(-1)
    # Breakpoints t_k of both CDFs; on (t_{k-1}, t_k] each quantile function is constant.
    t = torch.cat([cdf_x, cdf_y], -1).sort(-1).values
    dt = torch.diff(t, dim=-1, prepend=torch.zeros_like(t[..., :1])).clamp_min(0)
    qx = xs.gather(-1, torch.searchsorted(cdf_x.detach().contiguous(), t.detach()).clamp_max(n - 1))
    qy = ys.gather(-1, torch.searchsorted(cdf_y.detach().contiguous(), t.detach()).clamp_max(m - 1))
    return _mean_power_root((qx - qy).abs(), dt, p)

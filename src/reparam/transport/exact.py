r"""The exact :math:`W_1` between two point clouds, by the transport LP or an assignment.

For the uniform empirical measures :math:`μ = \frac1n\sum_i δ_{x_i}`, :math:`ν = \frac1m\sum_j
δ_{y_j}` and the Euclidean cost :math:`C_{ij} = \|x_i - y_j\|_2`,

.. math:: W_1(μ, ν) = \min_{γ ∈ Π(\frac1n\mathbf 1, \frac1m\mathbf 1)} \langle C, γ\rangle,

the Kantorovich linear programme (:func:`reparam.transport.kantorovich`). When :math:`n = m`
the feasible set is :math:`\frac1n` times the Birkhoff polytope, whose vertices are the
permutation matrices (Birkhoff–von Neumann), so the optimum is attained at a permutation and
the LP is the assignment problem :math:`\min_σ \frac1n\sum_i C_{iσ(i)}` (Peyré & Cuturi 2019,
§2.3), solved in :math:`O(n^3)` by ``scipy.optimize.linear_sum_assignment``: 0.1 s rather than
25 s for 512 × 512 points on one core.

References:
    Peyré & Cuturi (2019), Computational Optimal Transport, Found. Trends Mach. Learn. 11, §2.3.
"""

from __future__ import annotations

from typing import Any

import torch
from scipy.optimize import linear_sum_assignment

from reparam.transport.checks import as_tensor, check_finite
from reparam.transport.kantorovich import kantorovich

METHODS = ("assignment", "kantorovich")


def exact_w1(x: Any, y: Any, method: str = "assignment") -> float:
    r"""The exact :math:`W_1` between the uniform empirical measures on ``x`` [n, d] and
    ``y`` [m, d] (tensors or arrays) with Euclidean cost, computed in float64 on the CPU (a
    float, not differentiable).

    ``method="assignment"`` (the default; n = m only) solves the assignment problem,
    ``method="kantorovich"`` the transport LP with HiGHS (any n, m); the two agree to
    rounding on equal-size clouds (see the module docstring).

    >>> x = torch.randn(16, 2)
    >>> round(exact_w1(x, x + torch.tensor([3.0, 4.0])), 6)
    5.0
    """
    x, y = as_tensor(x, "x"), as_tensor(y, "y")
    if x.dim() != 2 or y.dim() != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(
            f"x and y must be point clouds [n, d] and [m, d], got {tuple(x.shape)} and "
            f"{tuple(y.shape)}"
        )
    if x.shape[0] == 0 or y.shape[0] == 0:
        raise ValueError(
            f"x and y must be non-empty point clouds, got {tuple(x.shape)} and {tuple(y.shape)}"
        )
    check_finite(x, "x")
    check_finite(y, "y")
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
    # Without the matrix-product shortcut, which loses the distance of nearby points far from 0.
    cost = torch.cdist(
        x.detach().double().cpu(),
        y.detach().double().cpu(),
        compute_mode="donot_use_mm_for_euclid_dist",
    )
    if method == "kantorovich":
        a = torch.full((x.shape[0],), 1.0 / x.shape[0], dtype=torch.float64)
        b = torch.full((y.shape[0],), 1.0 / y.shape[0], dtype=torch.float64)
        return float(kantorovich(a, b, cost).cost)
    if x.shape[0] != y.shape[0]:
        raise ValueError(
            f"the assignment method needs clouds of equal size, got {x.shape[0]} and "
            f"{y.shape[0]}; use method='kantorovich'"
        )
    c = cost.numpy()
    rows, cols = linear_sum_assignment(c)
    return float(c[rows, cols].mean())

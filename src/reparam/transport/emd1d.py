r"""The exact optimal plan and dual potentials between measures on the line.

For the cost :math:`c(x, y) = |x - y|^p` with p ≥ 1 (convex in x − y) the cost matrix of
sorted points is a Monge matrix, :math:`C_{ij} + C_{i'j'} \le C_{ij'} + C_{i'j}` for
i < i', j < j', so the north-west corner rule on the sorted points is optimal (Hoffman 1963;
Peyré & Cuturi 2019, §2.6 and Remark 2.30): the plan couples the quantiles,
:math:`γ = (F_α^{-1}, F_β^{-1})_\# \mathrm{Unif}[0, 1]`. Its support is a staircase of
n + m − 1 cells from (1, 1) to (n, m) in the sorted order, one step down or right at each
breakpoint of the two cumulative weights (ties taken row first), each cell holding the
length between consecutive breakpoints.

The staircase is a spanning tree of the bipartite graph, so complementary slackness,
:math:`φ_i + ψ_j = C_{ij}` on its cells, fixes the potentials up to φ + t, ψ − t: along the
staircase a step down to row i' sets :math:`φ_{i'} = φ_i + C_{i'j} - C_{ij}`, a step right
to column j' sets :math:`ψ_{j'} = ψ_j + C_{ij'} - C_{ij}`, two cumulative sums. They are
feasible (:math:`φ_i + ψ_j \le C_{ij}` everywhere, by the Monge property) and hence optimal;
the gauge is POT's (``center_ot_dual``): :math:`\langle φ, a\rangle = \langle ψ, b\rangle`,
each half the cost.

References:
    Hoffman (1963), On simple linear programming problems. Proc. Symp. Pure Math. 7.
    Peyré & Cuturi (2019), Computational Optimal Transport, Found. Trends Mach. Learn. 11, §2.6.
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Any

import torch
from torch import Tensor

from reparam.transport.checks import (
    as_tensor,
    broadcast_batch,
    check_finite,
    check_marginal,
    weights_or_uniform,
)
from reparam.transport.kantorovich import TransportResult


def _points(x: Any, name: str) -> Tensor:
    t = as_tensor(x, name)
    if t.ndim == 0 or t.shape[-1] == 0:
        raise ValueError(f"{name} must be a non-empty sample [..., n], got shape {tuple(t.shape)}")
    check_finite(t, name)
    return t


def _weights(w: Any, points: Tensor, name: str, of: str) -> Tensor:
    """The weights ``w`` [..., k] of ``points`` [..., k] (uniform for None or empty), checked."""
    k = points.shape[-1]
    t = weights_or_uniform(w, k, name, points)
    if t.ndim == 0 or t.shape[-1] != k:
        raise ValueError(
            f"{name} must have {k} weights (one per point of {of}), got shape {tuple(t.shape)}"
        )
    check_marginal(t, name)
    return t.to(points.dtype)


def emd_1d(
    x: Any, y: Any, a: Any = None, b: Any = None, p: float = 2, dense: bool = True
) -> TransportResult:
    r"""The optimal plan, cost and dual potentials between the 1-D samples ``x`` [..., n] and
    ``y`` [..., m] with weights ``a``, ``b`` (None or empty: uniform) for the cost
    :math:`|x_i - y_j|^p`, batched over leading dimensions (POT's ``ot.emd_1d`` with its
    log's cost, and the potentials of ``ot.emd_1d_dual_backprop``; see the module
    docstring).

    Returns a :class:`~reparam.transport.TransportResult` in the dtype of the inputs:
    ``plan`` [..., n, m] (a sparse COO tensor with ``dense=False``, as POT's
    ``dense=False``), ``cost`` [...] :math:`= \sum_{ij} γ_{ij} |x_i - y_j|^p` (the p-th power
    of :math:`W_p`; POT's ``metric="sqeuclidean"`` is p = 2, ``"euclidean"`` p = 1),
    differentiable in ``x``, ``y``, ``a`` and ``b``, and the potentials ``phi`` [..., n],
    ``psi`` [..., m] with :math:`\langle φ, a\rangle = \langle ψ, b\rangle = \mathrm{cost}/2`
    and :math:`φ_i + ψ_j \le |x_i - y_j|^p`. Weights are renormalised to total mass 1.

    >>> res = emd_1d(torch.tensor([0.0, 2.0]), torch.tensor([3.0, 1.0]), p=1)
    >>> res.plan
    tensor([[0.0000, 0.5000],
            [0.5000, 0.0000]])
    >>> float(res.cost), res.phi.tolist(), res.psi.tolist()
    (1.0, [0.5, 0.5], [0.5, 0.5])
    """
    if isinstance(p, Tensor) and p.numel() == 1:
        p = p.item()
    if isinstance(p, bool) or not isinstance(p, Real) or not (math.isfinite(p) and p >= 1):
        raise ValueError(f"p must be a finite number ≥ 1, got {p!r}")
    if not isinstance(dense, bool):
        raise TypeError(f"dense must be True or False, got {dense!r}")
    x, y = _points(x, "x"), _points(y, "y")
    dtype = torch.promote_types(x.dtype, y.dtype)
    x, y = x.to(dtype), y.to(x.device, dtype)
    a, b = _weights(a, x, "a", "x"), _weights(b, y, "b", "y")
    n, m = x.shape[-1], y.shape[-1]
    batch = broadcast_batch(
        {"x": x.shape[:-1], "y": y.shape[:-1], "a": a.shape[:-1], "b": b.shape[:-1]}
    )
    x, a = x.expand(*batch, n), a.expand(*batch, n)
    y, b = y.expand(*batch, m), b.expand(*batch, m)
    a, b = a / a.sum(-1, keepdim=True), b / b.sum(-1, keepdim=True)

    xs, ix = x.sort(-1)
    ys, iy = y.sort(-1)
    cdf_x, cdf_y = a.gather(-1, ix).cumsum(-1), b.gather(-1, iy).cumsum(-1)
    # The n + m − 2 inner breakpoints, rows' first at ties (a stable sort), and the cells.
    events = torch.cat([cdf_x[..., :-1], cdf_y[..., :-1]], -1)
    t, order = events.sort(dim=-1, stable=True)
    down = order < n - 1
    zero = torch.zeros((*batch, 1), dtype=torch.long, device=x.device)
    rows = torch.cat([zero, down.long().cumsum(-1)], -1)
    cols = torch.cat([zero, (~down).long().cumsum(-1)], -1)
    ends = torch.zeros((*batch, 1), dtype=dtype, device=x.device)
    edges = torch.cat([ends, t, ends + 1], -1)
    mass = edges.diff(dim=-1).clamp_min(0)
    gaps = (xs.gather(-1, rows) - ys.gather(-1, cols)).abs()
    costs = gaps if p == 1 else gaps.pow(p)
    cost = (mass * costs).sum(-1)

    # Potentials: cumulative sums of the cost differences along the staircase.
    with torch.no_grad():
        step = costs.diff(dim=-1)
        where = order.argsort(-1)  # where = sorted position of breakpoint k
        phi_sorted = torch.cat([ends, step.gather(-1, where[..., : n - 1]).cumsum(-1)], -1)
        psi_sorted = costs[..., :1] + torch.cat(
            [ends, step.gather(-1, where[..., n - 1 :]).cumsum(-1)], -1
        )
        phi = torch.empty_like(phi_sorted).scatter_(-1, ix, phi_sorted)
        psi = torch.empty_like(psi_sorted).scatter_(-1, iy, psi_sorted)
        shift = ((b * psi).sum(-1) - (a * phi).sum(-1)) / 2
        phi, psi = phi + shift.unsqueeze(-1), psi - shift.unsqueeze(-1)

    cells = ix.gather(-1, rows) * m + iy.gather(-1, cols)
    if dense:
        flat = torch.zeros((*batch, n * m), dtype=dtype, device=x.device)
        plan = flat.scatter_add(-1, cells, mass).view(*batch, n, m)
    else:
        problems = math.prod(batch)
        which = torch.arange(problems, device=x.device).repeat_interleave(n + m - 1)
        flat = cells.reshape(-1)
        coords = torch.stack([*torch.unravel_index(which, batch), flat // m, flat % m])
        plan = torch.sparse_coo_tensor(
            coords, mass.reshape(-1), (*batch, n, m), check_invariants=False
        ).coalesce()
    return TransportResult(plan, cost, phi, psi)

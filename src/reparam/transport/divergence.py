r"""The Sinkhorn divergence between point clouds (Genevay, Peyré & Cuturi 2018; Feydy et al.
2019)

.. math:: S_ε(α, β) = \mathrm{OT}_ε(α, β) - \tfrac12 \mathrm{OT}_ε(α, α)
          - \tfrac12 \mathrm{OT}_ε(β, β),

non-negative, zero iff α = β (for costs :math:`\lVert x - y\rVert^p`, p ∈ {1, 2}), and
interpolating between OT (ε → 0) and an MMD (ε → ∞). Each term is the regularised objective
of :func:`reparam.transport.sinkhorn`.

References:
    Genevay, Peyré & Cuturi (2018), Learning generative models with Sinkhorn divergences.
    AISTATS.
    Feydy, Séjourné, Vialard, Amari, Trouvé & Peyré (2019), Interpolating between optimal
    transport and MMD using Sinkhorn divergences. AISTATS.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from reparam.transport.checks import as_tensor, check_finite, positive_number
from reparam.transport.sinkhorn_solver import _sinkhorn


def pairwise_cost(x: Tensor, y: Tensor, p: float) -> Tensor:
    """:math:`\\lVert x_i - y_j\\rVert^p` [..., n, m], with a zero (not NaN) gradient at
    coincident points."""
    sq = (x.unsqueeze(-2) - y.unsqueeze(-3)).pow(2).sum(-1)
    if p == 2:
        return sq
    positive = sq > 0
    powered = torch.where(positive, sq, torch.ones_like(sq)).pow(p / 2)
    return torch.where(positive, powered, torch.zeros_like(sq))


def _uniform(points: Tensor) -> Tensor:
    k = points.shape[-2]
    return torch.full(points.shape[:-1], 1.0 / k, dtype=points.dtype, device=points.device)


def sinkhorn_divergence(
    x: Any,
    y: Any,
    eps: float,
    a: Any = None,
    b: Any = None,
    p: float = 2,
    **kwargs: Any,
) -> Tensor:
    r"""The Sinkhorn divergence :math:`S_ε = \mathrm{OT}_ε(α, β) - ½\mathrm{OT}_ε(α, α) -
    ½\mathrm{OT}_ε(β, β)` between the point clouds ``x`` [..., n, d] and ``y`` [..., m, d]
    with weights ``a``, ``b`` (uniform by default) for the cost :math:`\lVert x - y\rVert^p`
    (p = 2: the squared Euclidean distance, not halved). Uses the regularised objective
    ``sinkhorn(...).objective``; ``kwargs`` (``max_iter``, ``tol``, ``unroll``,
    ``eps_scaling``) go to :func:`~reparam.transport.sinkhorn`, and so do its warnings.
    ``eps`` is in the units of the cost, i.e. of :math:`\lVert x - y\rVert^p`. Returns
    shape [...].

    >>> x = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
    >>> float(sinkhorn_divergence(x, x, eps=0.1))
    0.0
    >>> float(sinkhorn_divergence(x, x + 1.0, eps=0.01)) > 1.9
    True
    """
    p = positive_number(p, "p")
    unknown = set(kwargs) - {"max_iter", "tol", "unroll", "eps_scaling"}
    if unknown:
        raise TypeError(f"sinkhorn_divergence got unexpected keyword arguments {sorted(unknown)}")
    x, y = as_tensor(x, "x"), as_tensor(y, "y")
    if x.ndim < 2 or y.ndim < 2 or x.shape[-1] != y.shape[-1]:
        raise ValueError(
            f"x and y must be point clouds [..., n, d] and [..., m, d] with the same d, "
            f"got {tuple(x.shape)} and {tuple(y.shape)}"
        )
    if x.shape[-2] == 0 or y.shape[-2] == 0:
        raise ValueError(
            f"x and y must hold at least one point, got {tuple(x.shape)} and {tuple(y.shape)}"
        )
    check_finite(x, "x")
    check_finite(y, "y")
    dtype = torch.promote_types(x.dtype, y.dtype)
    x, y = x.to(dtype), y.to(x.device, dtype)
    a = _uniform(x) if a is None else a
    b = _uniform(y) if b is None else b
    costs = pairwise_cost(x, y, p), pairwise_cost(x, x, p), pairwise_cost(y, y, p)
    if not all(bool(torch.isfinite(c.amax())) for c in costs):  # costs ≥ 0: only overflow
        raise ValueError(
            f"the cost ‖x − y‖^{p:g} overflows {dtype}: rescale x and y (and eps with them)"
        )
    options = {
        "max_iter": kwargs.get("max_iter"),
        "tol": kwargs.get("tol"),
        "unroll": kwargs.get("unroll", True),
        "eps_scaling": kwargs.get("eps_scaling", "auto"),
    }
    xy = _sinkhorn(a, b, costs[0], eps, stacklevel=4, **options).objective
    xx = _sinkhorn(a, a, costs[1], eps, stacklevel=4, **options).objective
    yy = _sinkhorn(b, b, costs[2], eps, stacklevel=4, **options).objective
    return xy - 0.5 * (xx + yy)

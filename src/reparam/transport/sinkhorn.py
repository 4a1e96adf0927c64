r"""Entropic optimal transport by log-domain Sinkhorn iterations, the Sinkhorn divergence,
and closed-form 1-D Wasserstein distances.

Entropic OT (Cuturi 2013; Peyré & Cuturi 2019, §4) adds a relative-entropy penalty to the
Kantorovich problem (see :mod:`reparam.transport.kantorovich`):

.. math:: \mathrm{OT}_ε(a, b) = \min_{γ\mathbf 1 = a,\ γ^\top\mathbf 1 = b}
          \langle C, γ\rangle + ε\,\mathrm{KL}(γ \,\|\, a ⊗ b),

whose dual is :math:`\max_{f, g} \langle f, a\rangle + \langle g, b\rangle
- ε\langle a ⊗ b, e^{(f ⊕ g - C)/ε} - 1\rangle` and whose optimal plan is
:math:`γ_{ij} = a_i b_j \exp\big((f_i + g_j - C_{ij})/ε\big)`. (The KL and the entropy
:math:`-H(γ)` of Cuturi 2013 differ by a constant on the constraint set: same plan.)
Block coordinate ascent on the dual is Sinkhorn's algorithm; in the log domain (Peyré &
Cuturi 2019, §4.4, eq. 4.43 and Remark 4.23; Schmitzer 2019)

.. math:: f_i ← -ε \operatorname{logsumexp}_j\big((g_j - C_{ij})/ε + \log b_j\big), \qquad
          g_j ← -ε \operatorname{logsumexp}_i\big((f_i - C_{ij})/ε + \log a_i\big),

which never forms :math:`e^{-C/ε}` and so stays finite for small ε (the kernel form
underflows once :math:`C/ε \gtrsim 745` in float64). After each g update the column
marginals are exact; the iteration stops when the row-marginal violation
:math:`\lVert γ\mathbf 1 - a\rVert_1` (its maximum over the batch) falls below ``tol``. That
violation is read off the next f update for free: :math:`(γ\mathbf 1)_i = a_i
e^{(f_i - f_i^{\text{next}})/ε}`.

The Sinkhorn divergence (Genevay, Peyré & Cuturi 2018; Feydy et al. 2019)

.. math:: S_ε(α, β) = \mathrm{OT}_ε(α, β) - \tfrac12 \mathrm{OT}_ε(α, α)
          - \tfrac12 \mathrm{OT}_ε(β, β)

is non-negative, zero iff α = β (for costs :math:`\lVert x - y\rVert^p`, p ∈ {1, 2}), and
interpolates between OT (ε → 0) and an MMD (ε → ∞).

In one dimension OT is solved by sorting: :math:`W_p^p(α, β) = \int_0^1
|F_α^{-1}(t) - F_β^{-1}(t)|^p\,dt` (Villani 2009, Remark 2.19; Peyré & Cuturi 2019, §2.6).

References:
    Cuturi (2013), Sinkhorn distances: lightspeed computation of optimal transport. NeurIPS.
    Peyré & Cuturi (2019), Computational Optimal Transport, Found. Trends Mach. Learn. 11,
    §2.6, §4 (§4.4: log-domain stabilisation).
    Schmitzer (2019), Stabilized sparse scaling algorithms for entropy regularized transport
    problems. SIAM J. Sci. Comput. 41(3).
    Genevay, Peyré & Cuturi (2018), Learning generative models with Sinkhorn divergences.
    AISTATS.
    Feydy, Séjourné, Vialard, Amari, Trouvé & Peyré (2019), Interpolating between optimal
    transport and MMD using Sinkhorn divergences. AISTATS.
    Villani (2009), Optimal Transport: Old and New.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
from torch import Tensor

from reparam.transport.kantorovich import as_tensor, check_marginal


class SinkhornResult(NamedTuple):
    """The result of :func:`sinkhorn`; tensors have the batch shape ``[...]`` of the inputs.

    - ``cost``: the transport cost :math:`\\langle C, γ\\rangle` of the entropic plan (what
      POT's ``sinkhorn2`` returns); it is ≥ the exact OT cost and tends to it as ε → 0;
    - ``objective``: the regularised value :math:`\\mathrm{OT}_ε = \\langle f, a\\rangle +
      \\langle g, b\\rangle` (the dual value, equal to :math:`\\langle C, γ\\rangle +
      ε\\,\\mathrm{KL}(γ\\,\\|\\,a⊗b)` at convergence);
    - ``plan`` [..., n, m], potentials ``f`` [..., n] and ``g`` [..., m];
    - ``iterations`` used, the final ``marginal_error`` :math:`\\max_{\\text{batch}}
      \\lVert γ\\mathbf 1 - a\\rVert_1` (column marginals are exact), and ``converged``
      (``marginal_error < tol``).
    """

    cost: Tensor
    objective: Tensor
    plan: Tensor
    f: Tensor
    g: Tensor
    iterations: int
    marginal_error: float
    converged: bool


def _broadcast_shapes(*shapes: tuple[int, ...]) -> tuple[int, ...]:
    """``torch.broadcast_shapes`` (RuntimeError if they do not broadcast) in plain Python: the
    torch function imports sympy on its first call, which costs about half a second."""
    ndim = max((len(shape) for shape in shapes), default=0)
    out = [1] * ndim
    for shape in shapes:
        for k, size in enumerate(shape, ndim - len(shape)):
            if size != 1:
                if out[k] not in (1, size):
                    raise RuntimeError(f"shapes {shapes} do not broadcast")
                out[k] = size
    return tuple(out)


def _log_weights(w: Tensor) -> Tensor:
    """log w with log 0 = −inf and no NaN gradient at the zeros."""
    positive = w > 0
    logs = torch.where(positive, w, torch.ones_like(w)).log()
    return torch.where(positive, logs, torch.full_like(w, -math.inf))


def _neg_logsumexp_into(shift: Tensor, M: Tensor, M_min: Tensor, buffer: Tensor) -> Tensor:
    """:math:`-\\log\\sum_k e^{s_k - M_{rk}}` [..., r] for ``shift`` s [..., k] and a contiguous
    ``M`` [..., r, k] whose minimum over (r, k) is ``M_min`` [..., 1, 1], reducing over the
    contiguous last axis with ``buffer`` (shaped like ``M``) as scratch: no n × m allocation.

    First with one shift per problem, :math:`c = \\max_k s_k - \\min M` ≥ every exponent (so
    nothing overflows; two passes over n × m fewer than a per-row maximum); if some row's sum
    comes out below tiny^(2/3) of the dtype (1e-205 in float64, 5e-26 in float32: its terms
    near underflow) or is not finite, again with the
    per-row maximum, as ``torch.logsumexp`` does. (Off the CPU only the latter: the checks
    would synchronise with the device.)"""
    top = shift.amax(-1, keepdim=True).unsqueeze(-1) - M_min  # [..., 1, 1]
    if M.device.type == "cpu" and bool(top.isfinite().all()):
        torch.sub((shift.unsqueeze(-2) - top), M, out=buffer)
        sums = buffer.exp_().sum(-1)
        if bool((sums >= torch.finfo(sums.dtype).tiny ** (2 / 3)).all()) and bool(
            sums.isfinite().all()
        ):
            return sums.log_().add_(top.squeeze(-1)).neg_()
    torch.sub(shift.unsqueeze(-2), M, out=buffer)
    top = buffer.amax(-1, keepdim=True)
    top = torch.where(top.isinf(), torch.zeros_like(top), top)
    buffer.sub_(top).exp_()
    return buffer.sum(-1).log_().add_(top.squeeze(-1)).neg_()


def _iterate_no_grad(
    u: Tensor, la: Tensor, lb: Tensor, C_eps: Tensor, a: Tensor, max_iter: int, tol: float
) -> tuple[Tensor, Tensor, int, float]:
    """:func:`_iterate` without autograd, for speed: both updates reduce over a contiguous
    last axis (of C/ε and of a contiguous copy of its transpose) into one reused buffer."""
    C_rows = C_eps.contiguous()
    C_cols = C_eps.transpose(-1, -2).contiguous()
    C_min = C_rows.amin((-2, -1), keepdim=True)
    buffer = torch.empty_like(C_rows)
    buffer_t = buffer.view(C_cols.shape)  # the same storage, [..., m, n]
    err = math.inf
    for it in range(1, max_iter + 1):
        v = _neg_logsumexp_into(u + la, C_cols, C_min, buffer_t)
        u_next = _neg_logsumexp_into(v + lb, C_rows, C_min, buffer)
        err = (a * torch.expm1(u - u_next).abs_()).sum(-1).max().item()
        if err < tol or it == max_iter:
            return u, v, it, err
        u = u_next
    raise AssertionError("unreachable")  # pragma: no cover


def _iterate(
    u: Tensor, la: Tensor, lb: Tensor, C_eps: Tensor, a: Tensor, max_iter: int, tol: float
) -> tuple[Tensor, Tensor, int, float]:
    """Log-domain Sinkhorn on scaled potentials u = f/ε, v = g/ε, from ``u``; returns (u, v)
    with exact column marginals, the iterations used and the row-marginal L1 error."""
    if not torch.is_grad_enabled() or not any(t.requires_grad for t in (u, la, lb, C_eps, a)):
        with torch.no_grad():
            return _iterate_no_grad(u, la, lb, C_eps, a, max_iter, tol)
    err = math.inf
    for it in range(1, max_iter + 1):
        v = -torch.logsumexp((u + la).unsqueeze(-1) - C_eps, dim=-2)
        u_next = -torch.logsumexp((v + lb).unsqueeze(-2) - C_eps, dim=-1)
        with torch.no_grad():
            rows = a * torch.expm1(u - u_next).abs()
            err = rows.sum(-1).max().item()
        if err < tol or it == max_iter:
            return u, v, it, err
        u = u_next
    raise AssertionError("unreachable")  # pragma: no cover


def sinkhorn(
    a: Any,
    b: Any,
    C: Any,
    eps: float,
    *,
    max_iter: int = 1000,
    tol: float = 1e-9,
    unroll: bool = True,
    eps_scaling: float | None = None,
) -> SinkhornResult:
    r"""Entropic OT between ``a`` [..., n] and ``b`` [..., m] for the cost ``C`` [..., n, m]
    by log-domain Sinkhorn; leading dimensions are batch dimensions (broadcast).

    Works on any device and dtype (integer inputs become float64). With ``unroll=True``
    autograd differentiates through every iteration (memory grows with the iteration count
    × n × m); with ``unroll=False`` the iterations run without a graph and only a last one
    is differentiated, which gives the exact gradient of ``objective`` at convergence by the
    envelope theorem (Feydy et al. 2019) but not the full gradient of ``cost``.

    Small ε needs many iterations (the contraction rate degrades like :math:`e^{-\lVert C
    \rVert_\infty/ε}`). ``eps_scaling=q`` ∈ (0, 1) anneals ε geometrically from
    :math:`\max C - \min C` down to ``eps`` by the factor q, warm-starting each stage from the
    previous potentials (Schmitzer 2019, §3.2; Feydy et al. 2019); intermediate stages stop
    at a marginal error of ``max(tol, 1e-3)``, and ``max_iter`` bounds each stage.

    >>> C = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    >>> res = sinkhorn(torch.tensor([0.5, 0.5]), torch.tensor([0.25, 0.75]), C, eps=0.01)
    >>> round(float(res.cost), 6), res.converged
    (0.25, True)
    """
    if not (isinstance(eps, (int, float)) and math.isfinite(eps) and eps > 0):
        raise ValueError(f"eps must be a finite positive number, got {eps!r}")
    if max_iter < 1:
        raise ValueError(f"max_iter must be at least 1, got {max_iter}")
    if not tol > 0:
        raise ValueError(f"tol must be positive, got {tol}")
    C = as_tensor(C, "C")
    a = as_tensor(a, "a", C.device)
    b = as_tensor(b, "b", C.device)
    dtype = torch.promote_types(torch.promote_types(a.dtype, b.dtype), C.dtype)
    a, b, C = a.to(C.device, dtype), b.to(C.device, dtype), C.to(dtype)
    if C.ndim < 2:
        raise ValueError(f"C must have shape [..., n, m], got {tuple(C.shape)}")
    check_marginal(a, "a")
    check_marginal(b, "b")
    n, m = a.shape[-1], b.shape[-1]
    if C.shape[-2:] != (n, m):
        raise ValueError(
            f"C must have shape [..., len(a), len(b)] = [..., {n}, {m}], got {tuple(C.shape)}"
        )
    try:
        batch = _broadcast_shapes(a.shape[:-1], b.shape[:-1], C.shape[:-2])
    except RuntimeError as e:
        raise ValueError(
            f"batch shapes of a {tuple(a.shape)}, b {tuple(b.shape)} and C {tuple(C.shape)} "
            "do not broadcast"
        ) from e
    if not torch.isfinite(C).all():
        raise ValueError("C has non-finite entries")
    a, b, C = a.expand(*batch, n), b.expand(*batch, m), C.expand(*batch, n, m)

    if eps_scaling is not None and not 0 < eps_scaling < 1:
        raise ValueError(f"eps_scaling must be in (0, 1) or None, got {eps_scaling}")
    schedule = [eps]
    if eps_scaling is not None:
        spread = (C.max() - C.min()).item()
        schedule = []
        while spread > eps:
            schedule.append(spread)
            spread *= eps_scaling
        schedule.append(eps)

    la, lb = _log_weights(a), _log_weights(b)
    f = C.new_zeros(*batch, n)
    iterations = 0
    with torch.set_grad_enabled(unroll and torch.is_grad_enabled()):
        for stage, stage_eps in enumerate(schedule):
            last = stage == len(schedule) - 1
            u, v, used, err = _iterate(
                f / stage_eps, la, lb, C / stage_eps, a, max_iter, tol if last else max(tol, 1e-3)
            )
            f, iterations = stage_eps * u, iterations + used
    C_eps = C / eps
    if not unroll:
        u, v, used, err = _iterate(u.detach(), la, lb, C_eps, a, 1, tol)
        iterations += used
    plan = torch.exp(
        u.unsqueeze(-1) + v.unsqueeze(-2) - C_eps + la.unsqueeze(-1) + lb.unsqueeze(-2)
    )
    cost = (plan * C).sum((-2, -1))
    # a_i = 0 rows: u_i is finite, so a·u is 0 there.
    objective = eps * ((a * u).sum(-1) + (b * v).sum(-1))
    return SinkhornResult(cost, objective, plan, eps * u, eps * v, iterations, err, err < tol)


def _pairwise_cost(x: Tensor, y: Tensor, p: float) -> Tensor:
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
    ``sinkhorn(...).objective``; ``kwargs`` go to :func:`sinkhorn`. Returns shape [...].

    >>> x = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
    >>> float(sinkhorn_divergence(x, x, eps=0.1))
    0.0
    >>> float(sinkhorn_divergence(x, x + 1.0, eps=0.01)) > 1.9
    True
    """
    if not p > 0:
        raise ValueError(f"p must be positive, got {p}")
    x, y = as_tensor(x, "x"), as_tensor(y, "y")
    if x.ndim < 2 or y.ndim < 2 or x.shape[-1] != y.shape[-1]:
        raise ValueError(
            f"x and y must be point clouds [..., n, d] and [..., m, d] with the same d, "
            f"got {tuple(x.shape)} and {tuple(y.shape)}"
        )
    if not (torch.isfinite(x).all() and torch.isfinite(y).all()):
        raise ValueError("x and y must be finite")
    dtype = torch.promote_types(x.dtype, y.dtype)
    x, y = x.to(dtype), y.to(x.device, dtype)
    a = _uniform(x) if a is None else a
    b = _uniform(y) if b is None else b
    xy = sinkhorn(a, b, _pairwise_cost(x, y, p), eps, **kwargs).objective
    xx = sinkhorn(a, a, _pairwise_cost(x, x, p), eps, **kwargs).objective
    yy = sinkhorn(b, b, _pairwise_cost(y, y, p), eps, **kwargs).objective
    return xy - 0.5 * (xx + yy)


def wasserstein_1d(x: Any, y: Any, p: float = 1, a: Any = None, b: Any = None) -> Tensor:
    r"""The p-Wasserstein distance :math:`W_p` (not its p-th power) between the 1-D samples
    ``x`` [..., n] and ``y`` [..., m] with weights ``a``, ``b`` (uniform by default), batched
    over leading dimensions, in closed form by sorting.

    Equal-size uniform samples: :math:`W_p = \big(\frac1n\sum_i |x_{(i)} - y_{(i)}|^p\big)^{1/p}`.
    Otherwise the quantile functions are integrated exactly over the merged breakpoints of the
    two CDFs. Differentiable in ``x``, ``y`` and the weights.

    >>> float(wasserstein_1d(torch.tensor([0.0, 1.0]), torch.tensor([3.0, 2.0])))
    2.0
    >>> round(float(wasserstein_1d(torch.tensor([0.0]), torch.tensor([0.0, 4.0]), p=2) ** 2), 5)
    8.0
    """
    if not p >= 1:
        raise ValueError(f"p must be at least 1, got {p}")
    x, y = as_tensor(x, "x"), as_tensor(y, "y")
    if x.ndim == 0 or y.ndim == 0 or x.shape[-1] == 0 or y.shape[-1] == 0:
        raise ValueError(
            f"x and y must be non-empty samples [..., n], got {tuple(x.shape)}, {tuple(y.shape)}"
        )
    if not (torch.isfinite(x).all() and torch.isfinite(y).all()):
        raise ValueError("x and y must be finite")
    dtype = torch.promote_types(x.dtype, y.dtype)
    x, y = x.to(dtype), y.to(x.device, dtype)
    n, m = x.shape[-1], y.shape[-1]
    if a is None and b is None and n == m:
        try:
            batch = _broadcast_shapes(x.shape[:-1], y.shape[:-1])
        except RuntimeError as e:
            raise ValueError(f"batch shapes of x {x.shape} and y {y.shape} differ") from e
        xs = x.expand(*batch, n).sort(-1).values
        ys = y.expand(*batch, n).sort(-1).values
        return (xs - ys).abs().pow(p).mean(-1).pow(1 / p)

    a = torch.full_like(x, 1 / n) if a is None else as_tensor(a, "a", x.device).to(dtype)
    b = torch.full_like(y, 1 / m) if b is None else as_tensor(b, "b", x.device).to(dtype)
    if a.shape[-1] != n or b.shape[-1] != m:
        raise ValueError(f"a must have {n} weights and b {m}, got {a.shape[-1]}, {b.shape[-1]}")
    check_marginal(a, "a")
    check_marginal(b, "b")
    try:
        batch = _broadcast_shapes(x.shape[:-1], y.shape[:-1], a.shape[:-1], b.shape[:-1])
    except RuntimeError as e:
        raise ValueError("batch shapes of x, y, a and b do not broadcast") from e
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
    return ((qx - qy).abs().pow(p) * dt).sum(-1).pow(1 / p)

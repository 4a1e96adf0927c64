r"""Unbalanced entropic optimal transport: the marginal constraints relaxed by KL penalties
(Chizat, Peyré, Schmitzer & Vialard 2018; Frogner et al. 2015), solved by log-domain scaling
iterations.

For non-negative measures a [n] and b [m] of any masses,

.. math:: \mathrm{UOT}_ε(a, b) = \min_{γ \ge 0}\ \langle C, γ\rangle
          + ε\,\mathrm{KL}(γ \,\|\, a ⊗ b) + τ_1 \mathrm{KL}(γ\mathbf 1 \,\|\, a)
          + τ_2 \mathrm{KL}(γ^\top \mathbf 1 \,\|\, b),

with the generalised divergence :math:`\mathrm{KL}(p\,\|\,q) = \sum_k p_k \log(p_k/q_k) - p_k
+ q_k` (POT's ``sinkhorn_unbalanced`` with ``reg=ε``, ``reg_m=(τ_1, τ_2)`` and its default
``reg_type="kl"``). The optimal plan is :math:`γ_{ij} = a_i b_j e^{u_i + v_j - C_{ij}/ε}`, and
the scaling iterations of Chizat et al. (2018, §4), :math:`u ← (a / Kv)^{τ_1/(τ_1 + ε)}` in
the kernel form, read in the log domain

.. math:: v_j ← -\frac{τ_2}{τ_2 + ε}\operatorname{logsumexp}_i\big(u_i + \log a_i -
          C_{ij}/ε\big), \qquad
          u_i ← -\frac{τ_1}{τ_1 + ε}\operatorname{logsumexp}_j\big(v_j + \log b_j -
          C_{ij}/ε\big),

which are POT's ``log_u`` and ``log_v``. Each update is a contraction in the sup norm by its
factor τ/(τ + ε) (1 when τ = ∞: that marginal is then exact and the iteration is
Sinkhorn's), so the change of (u, v) over an iteration bounds the distance to the fixed
point. The sums are those of :func:`reparam.transport.sinkhorn`
(:func:`~reparam.transport.sinkhorn_steps.updates`: kernel products when the cost's spread
over ε allows, log-sum-exp otherwise).

References:
    Chizat, Peyré, Schmitzer & Vialard (2018), Scaling algorithms for unbalanced optimal
    transport problems. Math. Comp. 87(314).
    Frogner, Zhang, Mobahi, Araya-Polo & Poggio (2015), Learning with a Wasserstein loss.
    NeurIPS.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
from torch import Tensor

from reparam import checks
from reparam.convergence import warn_not_converged
from reparam.transport.checks import (
    as_tensor,
    broadcast_batch,
    check_finite,
    warm_potentials,
    weights_or_uniform,
)
from reparam.transport.sinkhorn_solver import _log_weights
from reparam.transport.sinkhorn_steps import kernel_limit, updates

MAX_ITER = 10_000
TOL = 1e-9


class UnbalancedResult(NamedTuple):
    """The result of :func:`sinkhorn_unbalanced`; tensors have the batch shape ``[...]``.

    - ``cost``: :math:`\\langle C, γ\\rangle` (POT's ``sinkhorn_unbalanced2``, its default
      ``returnCost="linear"``);
    - ``objective``: the whole regularised value :math:`\\mathrm{UOT}_ε` with the generalised
      KL (POT's ``returnCost="total"`` leaves out the mass terms :math:`-\\sum p + \\sum q`
      of each KL);
    - ``plan`` [..., n, m]; potentials ``f`` = ε u [..., n] and ``g`` = ε v [..., m] (POT's
      ``log_u``, ``log_v`` times ε);
    - ``iterations``, the final ``error`` :math:`\\max_{\\text{batch}} \\max(\\lVert Δu
      \\rVert_∞, \\lVert Δv\\rVert_∞)` over the last iteration, and ``converged``
      (``error < tol``; else a :class:`~reparam.convergence.ConvergenceWarning` was given).
    """

    cost: Tensor
    objective: Tensor
    plan: Tensor
    f: Tensor
    g: Tensor
    iterations: int
    error: float
    converged: bool


def _relaxation(reg_m: Any) -> tuple[float, float]:
    """(τ_1, τ_2) from ``reg_m``: a number or a pair, each > 0 (∞ allowed)."""
    pair = reg_m.tolist() if isinstance(reg_m, Tensor) else reg_m
    if isinstance(pair, (int, float)):
        pair = (pair, pair)
    if not isinstance(pair, (tuple, list)) or len(pair) not in (1, 2):
        raise ValueError(f"reg_m must be a number or a pair (tau_a, tau_b), got {reg_m!r}")
    taus = []
    for tau in pair * (3 - len(pair)):
        if isinstance(tau, bool) or not isinstance(tau, (int, float)) or not tau > 0:
            raise ValueError(f"reg_m must be > 0 (inf allowed), got {reg_m!r}")
        taus.append(float(tau))
    return taus[0], taus[1]


def _kl(p: Tensor, q: Tensor) -> Tensor:
    """The generalised KL :math:`\\sum_k p_k \\log(p_k/q_k) - p_k + q_k` over the last axis
    (0 log 0 = 0)."""
    positive = p > 0
    ratio = torch.where(positive, p, torch.ones_like(p)) / torch.where(
        positive, q, torch.ones_like(q)
    )
    return (torch.where(positive, p * ratio.log(), torch.zeros_like(p)) - p + q).sum(-1)


def sinkhorn_unbalanced(
    a: Any,
    b: Any,
    C: Any,
    eps: float,
    reg_m: float | tuple[float, float],
    *,
    max_iter: int = MAX_ITER,
    tol: float = TOL,
    warmstart: tuple[Any, Any] | None = None,
) -> UnbalancedResult:
    r"""Unbalanced entropic OT between the non-negative measures ``a`` [..., n] and ``b``
    [..., m] (any masses; None or empty: uniform probability weights) for the cost ``C``
    [..., n, m], with the marginal penalties ``reg_m`` = τ (or a pair (τ_1, τ_2); ``inf``
    makes that marginal exact), by log-domain scaling iterations (module docstring); leading
    dimensions are batch dimensions (broadcast), differentiable through the iterations.

    POT: ``ot.sinkhorn_unbalanced(a, b, C, reg=eps, reg_m=reg_m)`` is ``plan`` and
    ``sinkhorn_unbalanced2`` is ``cost``. ``warmstart=(f, g)`` starts from the potentials of
    an earlier result (POT's ``warmstart=(log_u, log_v)`` is ``(eps * log_u, eps * log_v)``);
    as POT's, the iterations start from g (the first update computes f from it; f
    only enters the first iteration's change). It stops when an iteration changes u = f/ε and v = g/ε by
    less than ``tol`` (sup norm, maximum over the batch), or after ``max_iter`` iterations
    with a :class:`~reparam.convergence.ConvergenceWarning`.

    >>> C = torch.tensor([[0.0, 1.0], [1.0, 0.0]], dtype=torch.float64)
    >>> res = sinkhorn_unbalanced([0.5, 0.5], [0.5, 0.5], C, eps=1.0, reg_m=1.0)
    >>> res.plan  # POT's docstring example
    tensor([[0.3221, 0.1185],
            [0.1185, 0.3221]], dtype=torch.float64)
    """
    eps = checks.positive_real("eps", eps)
    tol = checks.positive_real("tol", tol)
    max_iter = checks.positive_int("max_iter", max_iter)
    tau_a, tau_b = _relaxation(reg_m)
    C = as_tensor(C, "C")
    if C.ndim < 2:
        raise ValueError(f"C must have shape [..., n, m], got {tuple(C.shape)}")
    check_finite(C, "C")
    n, m = C.shape[-2:]
    a = weights_or_uniform(a, n, "a", C)
    b = weights_or_uniform(b, m, "b", C)
    for w, name, k in ((a, "a", n), (b, "b", m)):
        if w.ndim == 0 or w.shape[-1] != k:
            raise ValueError(
                f"{name} must have shape [..., {k}] for C {tuple(C.shape)}, got {tuple(w.shape)}"
            )
        check_finite(w, name)
        if bool((w < 0).any()):
            raise ValueError(
                f"{name} has negative entries (min {float(w.min()):.3g}); measures must be non-negative"
            )
        if not bool((w.sum(-1) > 0).all()):
            raise ValueError(f"{name} must have positive mass, got a measure of mass 0")
    batch = broadcast_batch({"a": a.shape[:-1], "b": b.shape[:-1], "C": C.shape[:-2]})
    dtype = torch.promote_types(torch.promote_types(a.dtype, b.dtype), C.dtype)
    a, b, C = (x.to(C.device, dtype) for x in (a, b, C))
    a, b, C = a.expand(*batch, n), b.expand(*batch, m), C.expand(*batch, n, m)

    low = C.detach().amin((-2, -1), keepdim=True)
    spread = (C.detach().amax((-2, -1), keepdim=True) - low).max().item()
    # −logsumexp(s − C/ε) = −logsumexp(s − (C − low)/ε) + low/ε: the shifted sums, then back.
    C_eps = (C - low) / eps
    shift = low.squeeze(-1) / eps  # [..., 1]
    la, lb = _log_weights(a), _log_weights(b)
    fa = 1.0 if math.isinf(tau_a) else tau_a / (tau_a + eps)
    fb = 1.0 if math.isinf(tau_b) else tau_b / (tau_b + eps)
    grad = torch.is_grad_enabled() and any(t.requires_grad for t in (a, b, C))
    column, row = updates(la, lb, C_eps, spread / eps <= kernel_limit(dtype), grad)
    # From v, as POT: v = 0 (its scaling 1), or the warm start's g / ε (u only measures the
    # first change).
    u, v = torch.zeros_like(a), torch.zeros_like(b)
    if warmstart is not None:
        f, g = warm_potentials(warmstart, a, b)
        u, v = f / eps, g / eps
    error, iterations = math.inf, 0
    with torch.set_grad_enabled(grad):
        while iterations < max_iter and not error < tol:
            iterations += 1
            u_next = fa * (row(v) + shift)
            v_next = fb * (column(u_next) + shift)
            with torch.no_grad():
                change = torch.maximum((u_next - u).abs().amax(-1), (v_next - v).abs().amax(-1))
            error = change.max().item() if change.numel() else 0.0
            u, v = u_next, v_next
        log_plan = u.unsqueeze(-1) + v.unsqueeze(-2) - C / eps
        plan = torch.exp(log_plan + la.unsqueeze(-1) + lb.unsqueeze(-2))
        cost = (plan * C).sum((-2, -1))
        mass = a.sum(-1) * b.sum(-1)
        entropy = (
            (torch.where(plan > 0, plan * log_plan, torch.zeros_like(plan))).sum((-2, -1))
            - plan.sum((-2, -1))
            + mass
        )
        objective = cost + eps * entropy
        if not math.isinf(tau_a):
            objective = objective + tau_a * _kl(plan.sum(-1), a)
        if not math.isinf(tau_b):
            objective = objective + tau_b * _kl(plan.sum(-2), b)
    converged = error < tol
    if not converged:
        warn_not_converged(
            "sinkhorn_unbalanced",
            f"the potentials still moved by {error:.2e} > tol = {tol:.1e} after {max_iter} "
            f"iterations (eps = {eps:g}, reg_m = {reg_m!r}); raise max_iter or use a larger eps",
        )
    return UnbalancedResult(cost, objective, plan, eps * u, eps * v, iterations, error, converged)

r"""The log-domain Sinkhorn iterations of :func:`reparam.transport.sinkhorn` at one ε, on
scaled potentials :math:`u = f/ε`, :math:`v = g/ε` and the scaled cost :math:`C/ε`:

.. math:: v_j ← -\operatorname{logsumexp}_i\big(u_i + \log a_i - C_{ij}/ε\big), \qquad
          u_i ← -\operatorname{logsumexp}_j\big(v_j + \log b_j - C_{ij}/ε\big).

After each v update the column marginals are exact; the row-marginal L1 error
:math:`\lVert γ\mathbf 1 - a\rVert_1 = \sum_i a_i |e^{u_i - u_i^{\text{next}}} - 1|` is read
off the next u update for free. A run stops when that error (its maximum over the batch)
falls below ``tol``, at ``max_iter``, when it is below ``accept`` (the precision floor of
the dtype, ≥ tol) and stopped decreasing (no new minimum in the last :data:`WINDOW`
iterations), when :data:`STUCK` iterations did not lower it, or, with ``watch``, when the observed linear rate :math:`ρ` over the last
:data:`WINDOW` iterations predicts more than ``watch`` further iterations to reach ``tol``
(:math:`\log(\text{tol}/\text{err}) / \log ρ`) and the error is below ``start``:
Sinkhorn's rate tends to 1 as ε shrinks
(Franklin & Lorenz 1989), and the caller then switches to Newton steps
(:mod:`reparam.transport.newton`).

**The kernel form.** When the problem's :math:`(\max C - \min C)/ε` is at most
:func:`kernel_limit` (a third of :math:`\log(1/\text{tiny})`: 236 in float64, 29 in float32)
the sums are matrix–vector products with the kernel :math:`K = e^{-(C - \min C)/ε}`, formed
once, instead of n × m exponentials per update (Cuturi 2013's form, with the potentials
kept in the log domain):

.. math:: v_j ← -c - \log \sum_i e^{u_i + \log a_i - c} K_{ij}, \qquad
          c = \max_i (u_i + \log a_i),

whose largest term is :math:`K_{i^\star j} \ge e^{-(\max C - \min C)/ε} \ge
\text{tiny}^{1/3}`, so no sum underflows and every term that does is below
:math:`\text{tiny}^{2/3}` of it: the same relative accuracy as the log-sum-exp. Above the
limit each update reduces :math:`s_k - M_{rk}` over the n × m entries
(:func:`neg_logsumexp_into`). One loop, :func:`iterate`, does the bookkeeping for both forms,
with or without autograd.

References:
    Franklin & Lorenz (1989), On the scaling of multidimensional matrices. Linear Algebra
    Appl. 114/115.
    Peyré & Cuturi (2019), Computational Optimal Transport, §4.2 and §4.4.
    Cuturi (2013), Sinkhorn distances: lightspeed computation of optimal transport. NeurIPS.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor

from reparam.underflow import exp_underflowing_

WINDOW = 10
STUCK = 100


class Steps(NamedTuple):
    """The potentials (u, v) of the last complete iteration (columns exact), the iterations
    used, the row-marginal L1 error of (u, v) (maximum over the batch), per problem
    ``errors`` [...], and whether the run stopped above ``accept`` because its rate was too
    slow."""

    u: Tensor
    v: Tensor
    iterations: int
    error: float
    errors: Tensor
    stalled: bool


def row_errors(a: Tensor, u: Tensor, u_next: Tensor) -> Tensor:
    """:math:`\\lVert γ\\mathbf 1 - a\\rVert_1` [...] of the plan of (u, v), given the next
    u update ``u_next`` computed from v."""
    return (a * torch.expm1(u - u_next).abs()).sum(-1)


def stop_reason(
    history: list[float], err: float, tol: float, accept: float, watch: float, start: float
) -> str | None:
    """``"converged"`` if ``err`` < ``tol``, or if it is below ``accept`` and the last
    :data:`WINDOW` iterations did not lower it (the precision floor); ``"stuck"`` if the last
    :data:`STUCK` iterations did not lower it; ``"stalled"`` if it is
    below ``start`` and reaching ``tol`` at the rate of the last :data:`WINDOW` iterations
    takes more than ``watch`` iterations; else None (checked every :data:`WINDOW`
    iterations)."""
    if err < tol:
        return "converged"
    if len(history) <= WINDOW or len(history) % WINDOW:
        return None
    before = history[-1 - WINDOW]
    if min(history[-WINDOW:]) >= min(history[:-WINDOW]):
        if err < accept:
            return "converged"
        if len(history) > STUCK and min(history[-STUCK:]) >= min(history[:-STUCK]):
            return "stuck"
    if not before > 0:
        return None
    rate = (err / before) ** (1 / WINDOW)
    if err < start and (rate >= 1 or math.log(tol / err) / math.log(rate) > watch):
        return "stalled"
    return None


def kernel_limit(dtype: torch.dtype) -> float:
    """The largest :math:`(\\max C - \\min C)/ε` at which :func:`iterate` may use the kernel
    form in ``dtype``: :math:`\\log(1/\\text{tiny})/3`."""
    return -math.log(torch.finfo(dtype).tiny) / 3


def exp_(x: Tensor, underflows: bool) -> Tensor:
    """:math:`e^x` in place, by :func:`~reparam.underflow.exp_underflowing_` when much of ``x``
    ``underflows``, by ``exp`` otherwise (the faster of the two in each case)."""
    return exp_underflowing_(x) if underflows else x.exp_()


def neg_logsumexp_into(
    shift: Tensor, M: Tensor, M_min: Tensor, buffer: Tensor, underflows: bool = False
) -> Tensor:
    """:math:`-\\log\\sum_k e^{s_k - M_{rk}}` [..., r] for ``shift`` s [..., k] and a contiguous
    ``M`` [..., r, k] whose minimum over (r, k) is ``M_min`` [..., 1, 1], reducing over the
    contiguous last axis with ``buffer`` (shaped like ``M``) as scratch: no n × m allocation.

    First with one shift per problem, :math:`c = \\max_k s_k - \\min M` ≥ every exponent (so
    nothing overflows; two passes over n × m fewer than a per-row maximum); if some row's sum
    comes out below tiny^(2/3) of the dtype (1e-205 in float64, 5e-26 in float32: its terms
    near underflow) or is not finite, again with the per-row maximum, as
    ``torch.logsumexp`` does. (Off the CPU only the latter: the checks would synchronise
    with the device.) ``underflows``: see :func:`exp_`."""
    top = shift.amax(-1, keepdim=True).unsqueeze(-1) - M_min  # [..., 1, 1]
    if M.device.type == "cpu" and bool(top.isfinite().all()):
        torch.sub((shift.unsqueeze(-2) - top), M, out=buffer)
        sums = exp_(buffer, underflows).sum(-1)
        if bool((sums >= torch.finfo(sums.dtype).tiny ** (2 / 3)).all()) and bool(
            sums.isfinite().all()
        ):
            return sums.log_().add_(top.squeeze(-1)).neg_()
    torch.sub(shift.unsqueeze(-2), M, out=buffer)
    top = buffer.amax(-1, keepdim=True)
    top = torch.where(top.isinf(), torch.zeros_like(top), top)
    exp_(buffer.sub_(top), underflows)
    return buffer.sum(-1).log_().add_(top.squeeze(-1)).neg_()


Update = Callable[[Tensor], Tensor]


def _kernel_updates(la: Tensor, lb: Tensor, C_eps: Tensor) -> tuple[Update, Update]:
    """The column and row updates by products with :math:`K = e^{-C/ε}` (module docstring);
    the shift c is a constant to autograd (the update does not depend on it)."""
    K = torch.exp(-C_eps)

    def column(u: Tensor) -> Tensor:
        s = u + la
        c = s.detach().amax(-1, keepdim=True)
        return (((s - c).exp().unsqueeze(-2) @ K).squeeze(-2).log() + c).neg()

    def row(v: Tensor) -> Tensor:
        s = v + lb
        c = s.detach().amax(-1, keepdim=True)
        return ((K @ (s - c).exp().unsqueeze(-1)).squeeze(-1).log() + c).neg()

    return column, row


def _log_updates(
    la: Tensor, lb: Tensor, C_eps: Tensor, C_min: Tensor | None, grad: bool
) -> tuple[Update, Update]:
    """The log-sum-exp updates: torch's when autograd records, else reductions over a
    contiguous last axis (of C/ε and of a contiguous copy of its transpose) into one reused
    buffer."""
    if grad:
        return (lambda u: column_update(u, la, C_eps)), (lambda v: row_update(v, lb, C_eps))
    C_rows = C_eps.contiguous()
    C_cols = C_eps.transpose(-1, -2).contiguous()
    M_min = C_rows.amin((-2, -1), keepdim=True) if C_min is None else C_min
    buffer = torch.empty_like(C_rows)
    buffer_t = buffer.view(C_cols.shape)  # the same storage, [..., m, n]
    # exponents spread beyond the dtype's normal range: most terms underflow
    spread = (C_rows.amax((-2, -1), keepdim=True) - M_min).max()
    underflows = C_rows.device.type == "cpu" and bool(
        spread > -math.log(torch.finfo(C_rows.dtype).tiny)
    )

    def column(u: Tensor) -> Tensor:
        return neg_logsumexp_into(u + la, C_cols, M_min, buffer_t, underflows)

    def row(v: Tensor) -> Tensor:
        return neg_logsumexp_into(v + lb, C_rows, M_min, buffer, underflows)

    return column, row


def updates(
    la: Tensor, lb: Tensor, C_eps: Tensor, kernel: bool, grad: bool, C_min: Tensor | None = None
) -> tuple[Update, Update]:
    """The column update u ↦ v and the row update v ↦ u for the log-weights ``la``, ``lb``
    and the scaled cost ``C_eps`` (``kernel``: its kernel form, for a ``C_eps`` of minimum 0
    and maximum at most :func:`kernel_limit`; ``grad``: autograd records)."""
    return _kernel_updates(la, lb, C_eps) if kernel else _log_updates(la, lb, C_eps, C_min, grad)


def iterate(
    u: Tensor,
    la: Tensor,
    lb: Tensor,
    C_eps: Tensor,
    a: Tensor,
    max_iter: int,
    tol: float,
    accept: float | None = None,
    watch: float = math.inf,
    C_min: Tensor | None = None,
    start: float = math.inf,
    kernel: bool = False,
) -> Steps:
    """Log-domain Sinkhorn from ``u`` for at most ``max_iter`` iterations (see the module
    docstring; ``accept`` defaults to ``tol``, ``watch`` and ``start`` to never stalling;
    ``C_min`` [..., 1, 1], the minimum of each problem's ``C_eps`` if known; ``kernel``: the
    kernel form, for a ``C_eps`` of minimum 0 and maximum at most :func:`kernel_limit`),
    differentiable through every iteration when autograd records."""
    accept = tol if accept is None else accept
    grad = torch.is_grad_enabled() and any(t.requires_grad for t in (u, la, lb, C_eps, a))
    with torch.set_grad_enabled(grad):
        column, row = updates(la, lb, C_eps, kernel, grad, C_min)
        history: list[float] = []
        for it in range(1, max_iter + 1):
            v = column(u)
            u_next = row(v)
            with torch.no_grad():
                errors = row_errors(a, u, u_next)
            err = errors.max().item()
            history.append(err)
            reason = stop_reason(history, err, tol, accept, watch, start)
            if reason is not None or it == max_iter:
                return Steps(u, v, it, err, errors, reason == "stalled")
            u = u_next
    raise AssertionError("unreachable")  # pragma: no cover


def column_update(u: Tensor, la: Tensor, C_eps: Tensor) -> Tensor:
    """The exact v for ``u`` (differentiable)."""
    return -torch.logsumexp((u + la).unsqueeze(-1) - C_eps, dim=-2)


def row_update(v: Tensor, lb: Tensor, C_eps: Tensor) -> Tensor:
    """The exact u for ``v`` (differentiable)."""
    return -torch.logsumexp((v + lb).unsqueeze(-2) - C_eps, dim=-1)

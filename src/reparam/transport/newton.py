r"""Newton steps on the semi-dual of entropic OT: the end game of
:func:`reparam.transport.sinkhorn` when Sinkhorn's linear rate has become too slow.

With the column potentials eliminated (:math:`v = v(u)`, the exact column update), the
scaled dual is the smooth concave function of the row potentials

.. math:: F(u) = \langle a, u\rangle + \langle b, v(u)\rangle, \qquad
          \nabla F = a - r, \qquad \nabla^2 F = -\big(\operatorname{diag}(r)
          - P \operatorname{diag}(b)^{-1} P^\top\big),

where :math:`P = a ⊗ b ⊙ e^{u ⊕ v - C/ε}` is the plan and :math:`r = P\mathbf 1` its row
marginal (Brauer, Clason, Lorenz & Wirth 2017; Peyré & Cuturi 2019, §4.3). The Hessian is a
weighted graph Laplacian of the plan, singular only along u + t (the gauge), which is fixed by
adding :math:`\mathbf 1\mathbf 1^\top / n`. Sinkhorn's rate is :math:`1 - λ_2`, the spectral
gap of that Laplacian, which vanishes exponentially in 1/ε when the plan nearly splits into
blocks; a Newton step solves the system exactly, so it converges quadratically where
Sinkhorn crawls. The equivalent system on the smaller side (m × m when m < n) is solved
instead: :math:`(\operatorname{diag}(b) - P^\top \operatorname{diag}(r)^{-1} P)\,δv =
-P^\top \operatorname{diag}(r)^{-1}(a - r)`, then :math:`δu = \operatorname{diag}(r)^{-1}
(a - r - P δv)`.

Newton steps start once Sinkhorn has brought the row-marginal L1 error below
:data:`START` (far from the solution the curvature of rows of nearly no mass vanishes and
Newton steps overshoot). Each step is damped by halving until the row-marginal error
decreases (to first order a step of length t scales the residual by 1 − t, so a decreasing
step exists), problem by problem in a batch; a problem whose error no step decreases (the
precision floor) stops.
The linear systems are solved in float64. A step costs a k × k Gram product and solve, k =
min(n, m), so Newton is used only up to :data:`MAX_SIDE` (and a batch of at most
:data:`MAX_ENTRIES` system entries). Autograd differentiates through the steps; at the
solution a Newton step's derivative with respect to the inputs is the implicit-function
derivative of the fixed point.

References:
    Brauer, Clason, Lorenz & Wirth (2017), A Sinkhorn-Newton method for entropic optimal
    transport. arXiv:1710.06635.
    Peyré & Cuturi (2019), Computational Optimal Transport, §4.3.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

from reparam.transport.sinkhorn_steps import column_update, row_errors, row_update

MAX_SIDE = 2048
MAX_ENTRIES = 2**24
MAX_STEPS = 50
HALVINGS = 30
START = 1e-2


class NewtonResult(NamedTuple):
    """(u, v) with exact columns, the Sinkhorn-equivalent evaluations used (one per trial
    step), the row-marginal L1 error (maximum over the batch) and per problem [...]."""

    u: Tensor
    v: Tensor
    iterations: int
    error: float
    errors: Tensor


def available(n: int, m: int, batch: int) -> bool:
    """Whether Newton steps are affordable for a batch of ``batch`` n × m problems."""
    k = min(n, m)
    return k <= MAX_SIDE and batch * k * k <= MAX_ENTRIES


def _direction(P: Tensor, a: Tensor, b: Tensor) -> Tensor:
    """The Newton direction δu [..., n] for the plan ``P`` [..., n, m] with exact columns."""
    P = P.to(torch.float64)
    a, b = a.to(torch.float64), b.to(torch.float64)
    r = P.sum(-1)
    n, m = P.shape[-2:]
    if m <= n:
        inv_r = torch.where(
            r > 0, 1 / torch.where(r > 0, r, torch.ones_like(r)), torch.zeros_like(r)
        )
        S = torch.diag_embed(b) - P.transpose(-1, -2) @ (inv_r.unsqueeze(-1) * P)
        mask = (b > 0).to(P.dtype)
        rhs = -(P.transpose(-1, -2) @ (inv_r * (a - r)).unsqueeze(-1)).squeeze(-1)
        k = m
    else:
        inv_b = torch.where(
            b > 0, 1 / torch.where(b > 0, b, torch.ones_like(b)), torch.zeros_like(b)
        )
        S = torch.diag_embed(r) - P @ (inv_b.unsqueeze(-1) * P.transpose(-1, -2))
        mask = (a > 0).to(P.dtype)
        rhs = a - r
        k = n
    # The gauge u + t (v − t) on the support; unit diagonal on the zero-mass side.
    S = S + mask.unsqueeze(-1) * mask.unsqueeze(-2) / k + torch.diag_embed(1 - mask)
    solution, info = torch.linalg.solve_ex(S, rhs.unsqueeze(-1))
    solution = solution.squeeze(-1)
    if m <= n:
        solution = inv_r * (a - r - (P @ solution.unsqueeze(-1)).squeeze(-1))
    good = (info == 0).unsqueeze(-1) & torch.isfinite(solution).all(-1, keepdim=True)
    return torch.where(good, solution, torch.zeros_like(solution))


def newton(
    u: Tensor,
    la: Tensor,
    lb: Tensor,
    C_eps: Tensor,
    a: Tensor,
    b: Tensor,
    tol: float,
    max_steps: int = MAX_STEPS,
) -> NewtonResult:
    """Damped Newton steps on the semi-dual from ``u`` until the row-marginal L1 error of
    every problem is below ``tol``, no step improves it, or ``max_steps``."""
    v = column_update(u, la, C_eps)
    with torch.no_grad():
        errors = row_errors(a, u, row_update(v, lb, C_eps))
    evaluations = 0
    stuck = torch.zeros_like(errors, dtype=torch.bool)
    for _ in range(max_steps):
        active = (errors >= tol) & ~stuck
        if not bool(active.any()):
            break
        P = torch.exp(
            u.unsqueeze(-1) + v.unsqueeze(-2) - C_eps + la.unsqueeze(-1) + lb.unsqueeze(-2)
        )
        du = _direction(P, a, b).to(u.dtype)
        step = torch.ones_like(errors)
        accepted = torch.zeros_like(active)
        new_u, new_v, new_errors = u, v, errors
        for _ in range(HALVINGS):
            trial_u = u + step.unsqueeze(-1) * du
            trial_v = column_update(trial_u, la, C_eps)
            with torch.no_grad():
                trial_errors = row_errors(a, trial_u, row_update(trial_v, lb, C_eps))
            evaluations += 1
            better = active & ~accepted & (trial_errors < errors)
            new_u = torch.where(better.unsqueeze(-1), trial_u, new_u)
            new_v = torch.where(better.unsqueeze(-1), trial_v, new_v)
            new_errors = torch.where(better, trial_errors, new_errors)
            accepted = accepted | better
            if bool((accepted | ~active).all()):
                break
            step = torch.where(accepted, step, step / 2)
        stuck = stuck | (active & ~accepted)
        u, v, errors = new_u, new_v, new_errors
    error = errors.max().item() if errors.numel() else 0.0
    return NewtonResult(u, v, evaluations, error if math.isfinite(error) else math.inf, errors)

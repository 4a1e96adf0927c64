r"""Exact discrete optimal transport: the Kantorovich linear programme and its dual.

For histograms :math:`a ∈ \mathbb R_+^n`, :math:`b ∈ \mathbb R_+^m` of equal mass and a
cost matrix :math:`C ∈ \mathbb R^{n×m}`, Kantorovich's problem (Kantorovich 1942) is

.. math:: \mathrm{OT}(a, b) = \min_{γ ∈ \mathbb R_+^{n×m}} \langle C, γ\rangle
          \quad \text{s.t.} \quad γ\mathbf 1_m = a,\quad γ^\top \mathbf 1_n = b,

and its dual (Villani 2009, Thm. 5.10; Peyré & Cuturi 2019, §2.5 and §3.1)

.. math:: \max_{φ ∈ \mathbb R^n,\, ψ ∈ \mathbb R^m} \langle φ, a\rangle + \langle ψ, b\rangle
          \quad \text{s.t.} \quad φ_i + ψ_j \le C_{ij}.

Both have the same value (strong duality for a feasible, bounded linear programme), and an
optimal pair satisfies complementary slackness, :math:`γ_{ij} > 0 ⇒ φ_i + ψ_j = C_{ij}`.

:func:`kantorovich` solves the primal with HiGHS (``scipy.optimize.linprog(method="highs")``)
in float64. The n + m equality constraints have rank n + m − 1 (both sets sum to the total
mass), which HiGHS handles. The potentials are HiGHS's equality-constraint marginals
(``res.eqlin.marginals``, the sensitivity of the optimal cost to the right-hand side): with
linprog's minimisation convention they are exactly (φ, ψ) above, feasible and with
:math:`\langle φ, a\rangle + \langle ψ, b\rangle = \mathrm{OT}(a, b)`. They are unique only
up to φ + t, ψ − t (and further on degenerate problems).

Inputs are probability vectors: ``a`` and ``b`` must be non-negative and each sum to 1 within
``1e-9`` (within ``max(1e-9, 4 n ε_mach)`` for lower-precision tensors in
:mod:`reparam.transport.sinkhorn`, which shares the check).

References:
    Kantorovich (1942), On the translocation of masses. Dokl. Akad. Nauk SSSR 37.
    Villani (2009), Optimal Transport: Old and New, ch. 5.
    Peyré & Cuturi (2019), Computational Optimal Transport, Found. Trends Mach. Learn. 11,
    §2–§3.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import scipy.sparse as sp
import torch
from scipy.optimize import linprog
from torch import Tensor

MASS_TOL = 1e-9


class TransportResult(NamedTuple):
    """An optimal plan ``plan`` [n, m], its cost ⟨C, γ⟩ (a 0-d tensor) and optimal dual
    potentials ``phi`` [n], ``psi`` [m], all float64."""

    plan: Tensor
    cost: Tensor
    phi: Tensor
    psi: Tensor


def as_tensor(x: Any, name: str, device: torch.device | None = None) -> Tensor:
    """``x`` (tensor, array or nested list) as a floating tensor; integers become float64."""
    t = x if isinstance(x, Tensor) else torch.as_tensor(np.asarray(x), device=device)
    if t.is_complex():
        raise ValueError(f"{name} must be real, got dtype {t.dtype}")
    if not t.is_floating_point():
        t = t.to(torch.float64)
    return t


def check_marginal(w: Tensor, name: str) -> None:
    """Raise ValueError unless ``w`` [..., k] is non-empty, finite, non-negative and sums to
    1 along its last axis within ``max(1e-9, 4 k ε_mach)``."""
    if w.ndim == 0 or w.shape[-1] == 0:
        raise ValueError(
            f"{name} must be a non-empty vector of weights, got shape {tuple(w.shape)}"
        )
    if not torch.isfinite(w).all():
        raise ValueError(f"{name} has non-finite entries")
    if (w < 0).any():
        raise ValueError(f"{name} has negative entries; weights must be non-negative")
    tol = max(MASS_TOL, 4 * w.shape[-1] * torch.finfo(w.dtype).eps)
    error = (w.detach().to(torch.float64).sum(-1) - 1).abs().max().item()
    if error > tol:
        raise ValueError(
            f"{name} must sum to 1 (probability weights, within {tol:.1e}); "
            f"it is off by {error:.3e} — normalise a and b to the same total mass 1"
        )


def kantorovich(a: Any, b: Any, C: Any) -> TransportResult:
    r"""Solve the discrete Kantorovich problem exactly (HiGHS linear programme).

    ``a`` [n] and ``b`` [m] are probability vectors, ``C`` [n, m] a finite cost matrix
    (tensors or arrays). Returns a :class:`TransportResult` of float64 tensors on the device
    of the input tensors, with :math:`\langle φ, a\rangle + \langle ψ, b\rangle = ⟨C, γ⟩`
    and :math:`φ_i + ψ_j \le C_{ij}`.

    >>> C = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    >>> res = kantorovich(torch.tensor([0.5, 0.5]), torch.tensor([0.25, 0.75]), C)
    >>> res.plan
    tensor([[0.2500, 0.2500],
            [0.0000, 0.5000]], dtype=torch.float64)
    >>> a, b = torch.tensor([0.5, 0.5], dtype=torch.float64), torch.tensor([0.25, 0.75])
    >>> float(res.cost), float(res.phi @ a + res.psi @ b.double())
    (0.25, 0.25)
    """
    device = next((x.device for x in (C, a, b) if isinstance(x, Tensor)), torch.device("cpu"))
    a_t = as_tensor(a, "a").detach().to("cpu", torch.float64)
    b_t = as_tensor(b, "b").detach().to("cpu", torch.float64)
    C_t = as_tensor(C, "C").detach().to("cpu", torch.float64)
    if a_t.ndim != 1 or b_t.ndim != 1:
        raise ValueError(
            f"a and b must be 1-D weight vectors, got shapes {tuple(a_t.shape)}, {tuple(b_t.shape)}"
        )
    check_marginal(a_t, "a")
    check_marginal(b_t, "b")
    n, m = a_t.shape[0], b_t.shape[0]
    if tuple(C_t.shape) != (n, m):
        raise ValueError(f"C must have shape [len(a), len(b)] = [{n}, {m}], got {tuple(C_t.shape)}")
    if not torch.isfinite(C_t).all():
        raise ValueError("C has non-finite entries")

    a_np, b_np, C_np = a_t.numpy(), b_t.numpy(), C_t.numpy()
    # γ flattened row-major: row sums are kron(I_n, 1_m^T), column sums kron(1_n^T, I_m).
    A_eq = sp.vstack(
        [sp.kron(sp.eye(n), np.ones((1, m))), sp.kron(np.ones((1, n)), sp.eye(m))], format="csr"
    )
    res = linprog(
        C_np.ravel(), A_eq=A_eq, b_eq=np.concatenate([a_np, b_np]), bounds=(0, None), method="highs"
    )
    if res.status != 0:
        raise RuntimeError(f"HiGHS failed on the transport problem: {res.message}")
    duals = res.eqlin.marginals

    def out(x: np.ndarray) -> Tensor:
        return torch.as_tensor(np.asarray(x, dtype=np.float64), device=device)

    plan = np.clip(res.x.reshape(n, m), 0.0, None)
    return TransportResult(out(plan), out(res.fun), out(duals[:n]), out(duals[n:]))

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
in float64, on a rescaled problem. HiGHS's feasibility tolerances are absolute (1e-7 by
default), of the order of the masses of a fine histogram (POT's Gaussian test histograms of
500 bins hold masses down to 1e-300), so the LP as given is often declared infeasible or
solved only to 1e-7 of its mass. Instead:

1. both weight vectors are converted to float64 and renormalised to total mass 1, so that
   weights which summed to 1 only within float32 rounding still give a feasible LP;
2. zero-mass rows and columns are left out (they carry no mass);
3. the masses are multiplied by :math:`s = \max(n', m')` over the n' × m' rows and columns
   left (a mean mass of order 1) and the costs divided by :math:`\max|C|`, and HiGHS runs
   with its smallest tolerances (primal and dual feasibility 1e-10), so the cost is exact
   to about 1e-10 relative; if HiGHS's presolve declares the problem infeasible (it does
   with masses of 1e-30 and less, e.g. the far tails of a Gaussian histogram), the problem
   is solved again without presolve;
4. the plan and the potentials are scaled back, and the potentials are replaced by the
   c-transform pair :math:`ψ_j = \min_i (C_{ij} - φ_i)`, :math:`φ_i = \min_j (C_{ij} - ψ_j)`
   over all rows and columns: feasible by construction (:math:`φ_i + ψ_j \le C_{ij}` up to
   one rounding), optimal (the transform never lowers the dual value) and defined on the
   zero-mass rows and columns too.

**Gradients.** The optimal cost is a concave, piecewise-linear function of (a, b) and a
concave one of C (a minimum of linear functions of C); where the plan and the potentials
are unique its gradients are the LP's sensitivities (Peyré & Cuturi 2019, Prop. 9.2):

.. math:: \frac{\partial\,\mathrm{OT}}{\partial C} = γ, \qquad
          \frac{\partial\,\mathrm{OT}}{\partial a} = φ - \bar φ, \qquad
          \frac{\partial\,\mathrm{OT}}{\partial b} = ψ - \bar ψ,

the potentials centred by their means as POT's ``emd2`` does (the masses are constrained to
sum to 1, so only differences of the potentials matter). :func:`kantorovich` attaches them
to ``cost`` with a custom autograd function when ``a``, ``b`` or ``C`` is a tensor that
requires grad; elsewhere they are a supergradient.

The potentials are HiGHS's equality-constraint marginals (``res.eqlin.marginals``, the
sensitivity of the optimal cost to the right-hand side): with linprog's minimisation
convention they are (φ, ψ) above. They are unique only up to φ + t, ψ − t (and further on
degenerate problems).

Inputs are probability vectors: ``a`` and ``b`` must be non-negative and each sum to 1 within
:func:`~reparam.transport.checks.mass_tolerance` of the dtype passed (1e-9 in float64,
4 n ε_mach in lower precision).

References:
    Kantorovich (1942), On the translocation of masses. Dokl. Akad. Nauk SSSR 37.
    Villani (2009), Optimal Transport: Old and New, ch. 5.
    Peyré & Cuturi (2019), Computational Optimal Transport, Found. Trends Mach. Learn. 11,
    §2–§3 (§3.1: the c-transform).
    Huangfu & Hall (2018), Parallelizing the dual revised simplex method. Math. Prog. Comp. 10.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import scipy.sparse as sp
import torch
from scipy.optimize import linprog
from torch import Tensor

from reparam.transport.checks import as_tensor, check_finite, check_marginal, weights_or_uniform

# HiGHS's smallest admissible feasibility tolerances.
LP_TOL = 1e-10
INFEASIBLE = 2  # scipy.optimize.linprog's status


class TransportResult(NamedTuple):
    """An optimal plan ``plan`` [n, m], its cost ⟨C, γ⟩ (a 0-d tensor, differentiable in
    the input tensors that require grad) and optimal dual potentials ``phi`` [n], ``psi``
    [m], all float64."""

    plan: Tensor
    cost: Tensor
    phi: Tensor
    psi: Tensor


class _GivenGradients(torch.autograd.Function):
    """``value`` with the gradients ``grads`` attached to ``inputs`` (POT's
    ``set_gradients``): the backward pass scales each by the incoming gradient."""

    @staticmethod
    def forward(ctx: Any, value: Tensor, grads: tuple[Tensor, ...], *inputs: Tensor) -> Tensor:
        ctx.grads = grads
        return value.clone()

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        return (None, None, *(grad.to(g.dtype) * g for g in ctx.grads))


def _attach(value: Tensor, inputs: tuple[Any, ...], grads: tuple[Tensor, ...]) -> Tensor:
    """``value`` differentiable in those ``inputs`` that are tensors requiring grad, whose
    gradients are ``grads`` (cast to each input's dtype and device)."""
    pairs = [
        (x, g.to(x.device, x.dtype))
        for x, g in zip(inputs, grads, strict=True)
        if isinstance(x, Tensor) and x.requires_grad
    ]
    if not pairs or not torch.is_grad_enabled():
        return value
    return _GivenGradients.apply(value, tuple(g for _, g in pairs), *(x for x, _ in pairs))


def _solve_lp(a: np.ndarray, b: np.ndarray, C: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The plan [n, m] and the potentials (φ, ψ) stacked [n + m] of the rescaled LP on
    positive masses ``a``, ``b`` of total 1, in the units of ``C``."""
    n, m = len(a), len(b)
    mass = max(n, m)
    scale = float(np.abs(C).max()) or 1.0
    # γ flattened row-major: row sums are kron(I_n, 1_m^T), column sums kron(1_n^T, I_m).
    A_eq = sp.vstack(
        [sp.kron(sp.eye(n), np.ones((1, m))), sp.kron(np.ones((1, n)), sp.eye(m))], format="csr"
    )
    options = {"primal_feasibility_tolerance": LP_TOL, "dual_feasibility_tolerance": LP_TOL}
    problem = {
        "c": (C / scale).ravel(),
        "A_eq": A_eq,
        "b_eq": np.concatenate([a, b]) * mass,
        "bounds": (0, None),
        "method": "highs",
    }
    res = linprog(**problem, options=options)
    if res.status == INFEASIBLE:
        # HiGHS's presolve calls some problems with masses of 1e-30 and less infeasible.
        res = linprog(**problem, options={**options, "presolve": False})
    if res.status != 0:
        raise RuntimeError(f"HiGHS failed on the transport problem: {res.message}")
    plan = np.clip(res.x.reshape(n, m), 0.0, None) / mass
    return plan, res.eqlin.marginals * scale


def kantorovich(a: Any, b: Any, C: Any) -> TransportResult:
    r"""Solve the discrete Kantorovich problem exactly (HiGHS linear programme, rescaled: see
    the module docstring).

    ``a`` [n] and ``b`` [m] are probability vectors (any float dtype; each is renormalised to
    total mass 1 in float64 after the check; None or empty, ``[]``, means uniform, as in
    POT), ``C`` [n, m] a finite cost matrix (tensors or
    arrays). Returns a :class:`TransportResult` of float64 tensors on the device of the input
    tensors, with :math:`\langle φ, a\rangle + \langle ψ, b\rangle = ⟨C, γ⟩` and
    :math:`φ_i + ψ_j \le C_{ij}`. ``cost`` carries the gradients γ, φ − mean φ and ψ − mean ψ
    with respect to ``C``, ``a`` and ``b`` (module docstring) for the tensors among them that
    require grad.

    >>> C = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    >>> res = kantorovich(torch.tensor([0.5, 0.5]), torch.tensor([0.25, 0.75]), C)
    >>> res.plan
    tensor([[0.2500, 0.2500],
            [0.0000, 0.5000]], dtype=torch.float64)
    >>> a, b = torch.tensor([0.5, 0.5], dtype=torch.float64), torch.tensor([0.25, 0.75])
    >>> float(res.cost), float(res.phi @ a + res.psi @ b.double())
    (0.25, 0.25)
    >>> _ = C.requires_grad_()
    >>> kantorovich(None, [], C).cost.backward()  # uniform weights; dcost/dC is the plan
    >>> C.grad
    tensor([[0.5000, 0.0000],
            [0.0000, 0.5000]])
    """
    device = next((x.device for x in (C, a, b) if isinstance(x, Tensor)), torch.device("cpu"))
    C_t = as_tensor(C, "C").detach()
    if C_t.ndim != 2:
        raise ValueError(f"C must be a matrix [n, m], got shape {tuple(C_t.shape)}")
    a_t = weights_or_uniform(a, C_t.shape[0], "a", C_t).detach()
    b_t = weights_or_uniform(b, C_t.shape[1], "b", C_t).detach()
    if a_t.ndim != 1 or b_t.ndim != 1:
        raise ValueError(
            f"a and b must be 1-D weight vectors, got shapes {tuple(a_t.shape)}, {tuple(b_t.shape)}"
        )
    check_marginal(a_t, "a")
    check_marginal(b_t, "b")
    n, m = a_t.shape[0], b_t.shape[0]
    if tuple(C_t.shape) != (n, m):
        raise ValueError(f"C must have shape [len(a), len(b)] = [{n}, {m}], got {tuple(C_t.shape)}")
    check_finite(C_t, "C")

    a_np = a_t.to("cpu", torch.float64).numpy()
    b_np = b_t.to("cpu", torch.float64).numpy()
    C_np = C_t.to("cpu", torch.float64).numpy()
    a_np, b_np = a_np / a_np.sum(), b_np / b_np.sum()
    rows, cols = np.flatnonzero(a_np > 0), np.flatnonzero(b_np > 0)
    sub_plan, duals = _solve_lp(a_np[rows], b_np[cols], C_np[np.ix_(rows, cols)])
    plan = np.zeros((n, m))
    plan[np.ix_(rows, cols)] = sub_plan
    psi = (C_np[rows] - duals[: len(rows), None]).min(0)
    phi = (C_np - psi[None, :]).min(1)

    def out(x: np.ndarray | float) -> Tensor:
        return torch.as_tensor(np.asarray(x, dtype=np.float64), device=device)

    plan_t, phi_t, psi_t = out(plan), out(phi), out(psi)
    cost = _attach(
        out((plan * C_np).sum()), (a, b, C), (phi_t - phi_t.mean(), psi_t - psi_t.mean(), plan_t)
    )
    return TransportResult(plan_t, cost, phi_t, psi_t)

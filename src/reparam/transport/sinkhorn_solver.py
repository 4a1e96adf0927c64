r"""Entropic optimal transport by log-domain Sinkhorn iterations, with ε-scaling and Newton
steps so that the default reaches its tolerance.

Entropic OT (Cuturi 2013; Peyré & Cuturi 2019, §4) adds a relative-entropy penalty to the
Kantorovich problem (see :mod:`reparam.transport.kantorovich`):

.. math:: \mathrm{OT}_ε(a, b) = \min_{γ\mathbf 1 = a,\ γ^\top\mathbf 1 = b}
          \langle C, γ\rangle + ε\,\mathrm{KL}(γ \,\|\, a ⊗ b),

whose dual is :math:`\max_{f, g} \langle f, a\rangle + \langle g, b\rangle
- ε\langle a ⊗ b, e^{(f ⊕ g - C)/ε} - 1\rangle` and whose optimal plan is
:math:`γ_{ij} = a_i b_j \exp\big((f_i + g_j - C_{ij})/ε\big)`. (The KL and the entropy
:math:`-H(γ)` of Cuturi 2013 differ by a constant on the constraint set: same plan.)
Block coordinate ascent on the dual is Sinkhorn's algorithm, run in the log domain
(:mod:`reparam.transport.sinkhorn_steps`), which never forms :math:`e^{-C/ε}` and so stays
finite for small ε.

**What ε means.** ε is in the units of the cost. Only the ratio
:math:`ε / (\max C - \min C)` matters for accuracy and speed (the plan is unchanged when a
constant is added to C, and scaling C and ε together scales f, g and the cost): the bias of
the entropic cost is at most :math:`ε \log\min(n, m)`,

.. math:: 0 \le \langle C, γ_ε\rangle - \mathrm{OT}(a, b) \le ε\,\min(H(a), H(b))
          \le ε \log \min(n, m)

for exact marginals (from :math:`\langle C, γ_ε\rangle + ε\mathrm{KL}(γ_ε) \le \langle C,
γ^\star\rangle + ε\mathrm{KL}(γ^\star)` and :math:`0 \le \mathrm{KL}(γ\,\|\,a⊗b) \le
\min(H(a), H(b))`, the mutual information of the coupling), while the iterations Sinkhorn
needs grow like a power of :math:`(\max C - \min C)/ε` and worse (its linear rate tends to 1
exponentially in 1/ε). With a row-marginal L1 error δ the plan transports a row marginal r
with :math:`\lVert r - a\rVert_1 = δ`, which moves the exact cost by at most
:math:`(\max C - \min C)\,δ/2` (the optimal φ has range ≤ max C − min C, and
:math:`\mathrm{OT}` is the maximum of :math:`\langle φ, a\rangle + \langle ψ, b\rangle`):

.. math:: -\tfrac12(\max C - \min C)\,δ \le \langle C, γ\rangle - \mathrm{OT}(a, b)
          \le ε \log\min(n, m) + \tfrac12(\max C - \min C)\,δ.

**How a call proceeds.** The cost is shifted by its minimum (per problem) so the exponents
stay within :math:`(\max C - \min C)/ε`. With ε-scaling (Kosowsky & Yuille 1994; Schmitzer
2019, §3.2; Feydy et al. 2019), on by default below :math:`ε = (\max C - \min C)/500`, ε is
annealed geometrically from :math:`\max C - \min C` down to ``eps`` by the factor q, each
stage warm-started from the previous potentials and stopped at a marginal error of
max(tol, 1e-5) or after :data:`STAGE_ITER` iterations. Every stage runs Sinkhorn iterations
until the error falls below its tolerance; once it is below 1e-2, if the observed linear rate
predicts that reaching the tolerance would take many more iterations than a few Newton steps
cost, it switches to damped Newton steps on the semi-dual (:mod:`reparam.transport.newton`),
which converge quadratically where Sinkhorn's rate has gone to 1, then back to Sinkhorn
iterations if Newton stopped above the tolerance at its precision. (A stage stopped at 1e-3
loses a mass imbalance smaller than that between blocks of the plan that later stages, their
coupling gone, can no longer repair: on 600 random problems of at most 5 × 5 points with zero
and 1e-3 weights at ε = 10⁻³…10⁻⁶ of the cost's range, 8 then did not converge, 1 with
1e-5.) On 30 × 30 costs uniform in
[1, 100] at ε = 10⁻² (:math:`ε/(\max C - \min C) = 10^{-4}`), Sinkhorn without ε-scaling
had a marginal error of 0.07 after 1000 iterations (a cost 4 % below the exact one), and
with ε-scaling needed 95 800 iterations to reach 1e-9; ε-scaling and Newton take 268 (19 of
them Newton trial steps), 0.08 s.

References:
    Cuturi (2013), Sinkhorn distances: lightspeed computation of optimal transport. NeurIPS.
    Peyré & Cuturi (2019), Computational Optimal Transport, Found. Trends Mach. Learn. 11,
    §4 (§4.4: log-domain stabilisation).
    Kosowsky & Yuille (1994), The invisible hand algorithm: solving the assignment problem
    with statistical physics. Neural Networks 7(3).
    Schmitzer (2019), Stabilized sparse scaling algorithms for entropy regularized transport
    problems. SIAM J. Sci. Comput. 41(3).
    Feydy, Séjourné, Vialard, Amari, Trouvé & Peyré (2019), Interpolating between optimal
    transport and MMD using Sinkhorn divergences. AISTATS.
    Brauer, Clason, Lorenz & Wirth (2017), A Sinkhorn-Newton method for entropic optimal
    transport. arXiv:1710.06635.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
from torch import Tensor

from reparam.convergence import warn_not_converged
from reparam.transport import newton as _newton
from reparam.transport.checks import (
    as_tensor,
    broadcast_batch,
    check_finite,
    check_marginal,
    positive_int,
    positive_number,
    warm_potentials,
    weights_or_uniform,
)
from reparam.transport.sinkhorn_steps import Steps, iterate, kernel_limit

AUTO_SCALING = 0.5
AUTO_BELOW = 1 / 500
STAGE_ITER = 100
STAGE_TOL = 1e-5
MIN_BUDGET = 1000
BUDGET_PER_RATIO = 10
MAX_BUDGET = 100_000
TOL = 1e-9
PRECISION_FACTOR = 2
NEWTON_WATCH = 10
NEWTON_SIDE = 50
# Sinkhorn iterations in the kernel form cost about this many times less than in the log
# domain, so Newton steps take over only at correspondingly slower rates.
KERNEL_WATCH = 5


class SinkhornResult(NamedTuple):
    """The result of :func:`sinkhorn`; tensors have the batch shape ``[...]`` of the inputs.

    - ``cost``: the transport cost :math:`\\langle C, γ\\rangle` of the entropic plan (what
      POT's ``sinkhorn2`` returns); it is ≥ the exact OT cost and within
      :math:`ε\\log\\min(n, m)` of it, up to the marginal error (module docstring);
    - ``objective``: the regularised value :math:`\\mathrm{OT}_ε = \\langle f, a\\rangle +
      \\langle g, b\\rangle` (the dual value, equal to :math:`\\langle C, γ\\rangle +
      ε\\,\\mathrm{KL}(γ\\,\\|\\,a⊗b)` at convergence);
    - ``plan`` [..., n, m], potentials ``f`` [..., n] and ``g`` [..., m] (unique up to
      f + t, g − t; the solver's path, Sinkhorn or Newton, picks t);
    - ``iterations`` used (over all ε stages; a Newton trial step counts as one), the final
      ``marginal_error`` :math:`\\max_{\\text{batch}} \\lVert γ\\mathbf 1 - a\\rVert_1`
      (column marginals are exact), and ``converged`` (``marginal_error < tol``; when it is
      False a :class:`~reparam.convergence.ConvergenceWarning` has been given).
    """

    cost: Tensor
    objective: Tensor
    plan: Tensor
    f: Tensor
    g: Tensor
    iterations: int
    marginal_error: float
    converged: bool


def _log_weights(w: Tensor) -> Tensor:
    """log w with log 0 = −inf and no NaN gradient at the zeros."""
    positive = w > 0
    logs = torch.where(positive, w, torch.ones_like(w)).log()
    return torch.where(positive, logs, torch.full_like(w, -math.inf))


def _scaling_factor(eps_scaling: Any, ratio: float) -> float | None:
    """The annealing factor q for ``eps_scaling`` and ``ratio`` = (max C − min C)/ε."""
    if isinstance(eps_scaling, str):
        if eps_scaling != "auto":
            raise ValueError(
                f"eps_scaling must be 'auto', None or a factor in (0, 1), got {eps_scaling!r}"
            )
        return AUTO_SCALING if ratio * AUTO_BELOW > 1 else None
    if eps_scaling is None:
        return None
    if isinstance(eps_scaling, bool) or not isinstance(eps_scaling, (int, float)):
        raise ValueError(
            f"eps_scaling must be 'auto', None or a factor in (0, 1), got {eps_scaling!r}"
        )
    if not 0 < eps_scaling < 1:
        raise ValueError(f"eps_scaling must be in (0, 1), 'auto' or None, got {eps_scaling!r}")
    return float(eps_scaling)


def default_budget(ratio: float) -> int:
    """The final stage's iteration budget for ``max_iter=None``: :math:`\\max(1000,
    10\\,(\\max C - \\min C)/ε)`, at most 100 000."""
    return int(min(MAX_BUDGET, max(MIN_BUDGET, math.ceil(BUDGET_PER_RATIO * ratio))))


def precision_floor(dtype: torch.dtype, ratio: float, mass_gap: float) -> float:
    """The smallest row-marginal L1 error to ask for in ``dtype``: the exponents
    :math:`u_i + v_j - C_{ij}/ε` cancel terms up to ``ratio`` = (max C − min C)/ε, so each
    plan entry carries a relative rounding of about ratio · ε_mach; and columns exact leave
    the rows off by the difference of the total masses, ``mass_gap``."""
    return PRECISION_FACTOR * torch.finfo(dtype).eps * (1 + ratio) + 2 * mass_gap


def sinkhorn(
    a: Any,
    b: Any,
    C: Any,
    eps: float,
    *,
    max_iter: int | None = None,
    tol: float | None = None,
    unroll: bool = True,
    eps_scaling: float | str | None = "auto",
    warmstart: tuple[Any, Any] | None = None,
) -> SinkhornResult:
    r"""Entropic OT between ``a`` [..., n] and ``b`` [..., m] for the cost ``C`` [..., n, m]
    by log-domain Sinkhorn; leading dimensions are batch dimensions (broadcast). ``a`` or
    ``b`` None or empty (``[]``, POT's convention) means uniform weights.

    ``eps`` is in the units of C; what governs the accuracy and the work is
    :math:`ε/(\max C - \min C)`: the entropic cost exceeds the exact OT cost by at most
    :math:`ε\log\min(n, m)` (see the module docstring for the bound with the marginal
    error). Works on any device and dtype (integer inputs become float64). With
    ``unroll=True`` autograd differentiates through every iteration (memory grows with the
    iteration count × n × m); with ``unroll=False`` the iterations run without a graph and
    only a last one is differentiated, which gives the exact gradient of ``objective`` at
    convergence by the envelope theorem (Feydy et al. 2019) but not the full gradient of
    ``cost``.

    - ``eps_scaling``: ``"auto"`` (the default) anneals ε by the factor 0.5 from
      max C − min C down to ``eps`` when ε < (max C − min C)/500, and not otherwise; a
      factor q ∈ (0, 1) always anneals by q; ``None`` never does.
    - ``max_iter``: the final stage's iteration budget; ``None`` (the default) means
      max(1000, 10 (max C − min C)/ε), at most 100 000. Each earlier stage of ε-scaling
      takes at most min(100, max_iter) Sinkhorn iterations.
    - ``tol``: the row-marginal L1 error :math:`\max_{\text{batch}}\lVert γ\mathbf 1 -
      a\rVert_1` to reach (column marginals are exact). ``None`` (the default) aims at 1e-9
      and also accepts, once the error has stopped decreasing, the dtype's precision floor
      :func:`precision_floor`: 2 ε_mach (1 + (max C − min C)/ε) plus twice the difference of
      the masses of a and b (2.6e-6 in float32 at ε = (max C − min C)/10, below 1e-9 in
      float64 down to ε = (max C − min C)/10⁶).

    - ``warmstart``: potentials ``(f, g)`` [..., n], [..., m] in the units of C, e.g. the
      ``f`` and ``g`` of an earlier result (POT's ``warmstart=(log_u, log_v)`` of
      ``sinkhorn_log`` is ``f = eps * (log_u - log a)``, ``g = eps * (log_v - log b)``). The
      iterations start from ``f`` (their first update computes g from it, as POT's
      ``sinkhorn_log`` does from ``log_u``; ``g`` is checked for shape), without ε-scaling
      unless ``eps_scaling`` is a factor: a warm start from a converged solution of the
      same problem stops after one iteration.

    A run that stops (at its budget, or because no iteration lowers the error any more)
    above ``tol`` returns its last iterate with ``converged=False`` and gives a
    :class:`~reparam.convergence.ConvergenceWarning` saying the error reached, the
    iterations used and what to change.

    >>> C = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    >>> res = sinkhorn(torch.tensor([0.5, 0.5]), torch.tensor([0.25, 0.75]), C, eps=0.01)
    >>> round(float(res.cost), 6), res.converged
    (0.25, True)
    """
    return _sinkhorn(
        a, b, C, eps, max_iter, tol, unroll, eps_scaling, stacklevel=4, warmstart=warmstart
    )


def _sinkhorn(
    a: Any,
    b: Any,
    C: Any,
    eps: Any,
    max_iter: Any,
    tol: Any,
    unroll: bool,
    eps_scaling: Any,
    stacklevel: int,
    warmstart: tuple[Any, Any] | None = None,
) -> SinkhornResult:
    eps = positive_number(eps, "eps")
    if max_iter is not None:
        max_iter = positive_int(max_iter, "max_iter")
    if tol is not None:
        tol = positive_number(tol, "tol")
    C = as_tensor(C, "C")
    if C.ndim < 2:
        raise ValueError(f"C must have shape [..., n, m], got {tuple(C.shape)}")
    a = weights_or_uniform(a, C.shape[-2], "a", C)
    b = weights_or_uniform(b, C.shape[-1], "b", C)
    check_marginal(a, "a")
    check_marginal(b, "b")
    n, m = a.shape[-1], b.shape[-1]
    if C.shape[-2:] != (n, m):
        raise ValueError(
            f"C must have shape [..., len(a), len(b)] = [..., {n}, {m}], got {tuple(C.shape)}"
        )
    batch = broadcast_batch({"a": a.shape[:-1], "b": b.shape[:-1], "C": C.shape[:-2]})
    dtype = torch.promote_types(torch.promote_types(a.dtype, b.dtype), C.dtype)
    a, b, C = a.to(C.device, dtype), b.to(C.device, dtype), C.to(dtype)
    # Per problem; NaN and ±inf reach the extremes, so they also check C is finite.
    low, high = C.detach().amin((-2, -1), keepdim=True), C.detach().amax((-2, -1), keepdim=True)
    if not (bool(torch.isfinite(low).all()) and bool(torch.isfinite(high).all())):
        check_finite(C, "C")
    a, b, C = a.expand(*batch, n), b.expand(*batch, m), C.expand(*batch, n, m)
    spread = (high - low).max().item()
    ratio = spread / eps
    if not math.isfinite(ratio) or ratio > torch.finfo(dtype).max:
        raise ValueError(
            f"eps = {eps:g} is too small for costs spread over {spread:g} in {dtype}: "
            "(max C − min C)/eps overflows"
        )
    q = _scaling_factor(eps_scaling, ratio)
    if warmstart is not None and eps_scaling == "auto":
        q = None
    schedule = []
    if q is not None:
        stage_eps = spread
        while stage_eps > eps:
            schedule.append(stage_eps)
            stage_eps *= q
    schedule.append(eps)
    mass_gap = (a.detach().double().sum(-1) - b.detach().double().sum(-1)).abs().max().item()
    floor = precision_floor(dtype, ratio, mass_gap)
    # By default: aim at 1e-9 and accept the precision floor once the error stops falling.
    target = TOL if tol is None else tol
    accept = max(TOL, floor) if tol is None else tol
    budget = default_budget(ratio) if max_iter is None else max_iter
    stage_budget = min(STAGE_ITER, budget)

    la, lb = _log_weights(a), _log_weights(b)
    problems = math.prod(batch)
    newton_ok = _newton.available(n, m, problems)
    watch = NEWTON_WATCH * (1 + min(n, m) / NEWTON_SIDE) if newton_ok else math.inf
    f = torch.zeros_like(a) if warmstart is None else warm_potentials(warmstart, a, b)[0]
    iterations = 0
    # (C − min C)/ε in one pass; its minimum is 0 in every problem. The shift is a constant
    # to autograd: the plan and u do not depend on it, and g (below) takes it back.
    C_eps = torch.addcmul(low / -eps, C, C.new_tensor(1 / eps))
    zero = C_eps.new_zeros((*C_eps.shape[:-2], 1, 1))

    limit = kernel_limit(dtype)

    def stage(u: Tensor, stage_eps: float, budget: int, target: float, accept: float) -> Steps:
        """Sinkhorn at one ε (in the kernel form when (max C − min C)/ε allows); Newton steps
        when its rate stalls, then Sinkhorn again if Newton stopped above ``target`` at its
        precision."""
        C_stage = C_eps if stage_eps == eps else C_eps * (eps / stage_eps)
        kernel = spread / stage_eps <= limit
        stage_watch = watch * KERNEL_WATCH if kernel else watch
        steps = iterate(
            u, la, lb, C_stage, a, budget, target, accept, stage_watch, zero, _newton.START, kernel
        )
        if not steps.stalled:
            return steps
        polished = _newton.newton(steps.u, la, lb, C_stage, a, b, target)
        used = steps.iterations + polished.iterations
        if polished.error < target or budget <= steps.iterations:
            return Steps(polished.u, polished.v, used, polished.error, polished.errors, False)
        more = iterate(
            polished.u,
            la,
            lb,
            C_stage,
            a,
            budget - steps.iterations,
            target,
            accept,
            C_min=zero,
            kernel=kernel,
        )
        return more._replace(iterations=used + more.iterations)

    with torch.set_grad_enabled(unroll and torch.is_grad_enabled()):
        for stage_eps in schedule[:-1]:
            stage_tol = max(accept, STAGE_TOL)
            steps = stage(f / stage_eps, stage_eps, stage_budget, stage_tol, stage_tol)
            f, iterations = stage_eps * steps.u, iterations + steps.iterations
        steps = stage(f / eps, eps, budget, target, accept)
        u, v, err, iterations = steps.u, steps.v, steps.error, iterations + steps.iterations
    if not unroll:
        last = iterate(u.detach(), la, lb, C_eps, a, 1, accept, kernel=ratio <= limit)
        u, v, err = last.u, last.v, last.error
        iterations += last.iterations
    plan = torch.exp(
        u.unsqueeze(-1) + v.unsqueeze(-2) - C_eps + la.unsqueeze(-1) + lb.unsqueeze(-2)
    )
    cost = (plan * C).sum((-2, -1))
    # The gauge of the unshifted iterations, whose u does not see a constant added to C and
    # whose v takes it (so the gradients need no term through min C either).
    f, g = eps * u, eps * v + low.squeeze(-1)
    # a_i = 0 rows: u_i is finite, so a·u is 0 there.
    objective = (a * f).sum(-1) + (b * g).sum(-1)
    converged = err < accept
    if not converged:
        advice = (
            f"raise max_iter (it was {budget})"
            + ("" if q is not None else ", set eps_scaling=0.5")
            + " or use a larger eps"
        )
        if accept < floor:
            advice += (
                f"; tol = {accept:.1e} is below the {dtype} precision floor {floor:.1e} at "
                "this eps: use float64 or a larger tol"
            )
        warn_not_converged(
            "sinkhorn",
            f"the row-marginal L1 error is {err:.2e} > tol = {accept:.1e} after {iterations} "
            f"iterations (eps = {eps:g}, eps / (max C − min C) = {1 / ratio if ratio else math.inf:.1e}); "
            + advice,
            stacklevel=stacklevel,
        )
    return SinkhornResult(cost, objective, plan, f, g, iterations, err, converged)

r"""The free-support Wasserstein barycenter: the locations X of k weighted points minimising

.. math:: \sum_{i=1}^N w_i\, W_2^2\Big(\sum_l b_l δ_{X_l},\ \sum_r a_{i,r} δ_{Y_{i,r}}\Big),

the weights b fixed (Cuturi & Doucet 2014, Algorithm 2 without its line search; the
fixed-point iteration of Álvarez-Esteban et al. 2016 on discrete measures). Given X, each
exact plan :math:`γ_i` (:func:`reparam.transport.kantorovich` on the squared Euclidean cost)
sends :math:`X_l` to its plan-weighted mean :math:`(γ_i Y_i)_l / b_l`; the objective is
quadratic in X for fixed plans, minimised by

.. math:: X ← \sum_i w_i\, \operatorname{diag}(1/b)\, γ_i Y_i,

and each step does not increase it (the plans are re-optimised at the new X). The
iteration stops when the squared displacement :math:`\lVert X_{\text{new}} - X\rVert_F^2`
is at most ``tol``, POT's ``stopThr`` (``ot.lp.free_support_barycenter``, the same
iteration from the same ``X_init``).

References:
    Cuturi & Doucet (2014), Fast computation of Wasserstein barycenters. ICML.
    Álvarez-Esteban, del Barrio, Cuesta-Albertos & Matrán (2016), A fixed-point approach to
    barycenters in Wasserstein space. J. Math. Anal. Appl. 441(2).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor

from reparam import checks
from reparam.convergence import warn_not_converged
from reparam.transport.checks import as_tensor, check_finite, check_marginal, weights_or_uniform
from reparam.transport.divergence import pairwise_cost
from reparam.transport.kantorovich import kantorovich


class BarycenterResult(NamedTuple):
    """The barycenter's ``locations`` [k, d] (POT's return value), the ``iterations`` made,
    the last squared ``displacement`` and whether it is at most ``tol`` (``converged``; else
    a :class:`~reparam.convergence.ConvergenceWarning` was given)."""

    locations: Tensor
    iterations: int
    displacement: float
    converged: bool


def _cloud(x: Any, name: str, d: int | None) -> Tensor:
    t = as_tensor(x, name).detach().to("cpu", torch.float64)
    if t.ndim != 2 or t.shape[0] == 0 or (d is not None and t.shape[1] != d):
        want = "[k, d]" if d is None else f"[k, {d}]"
        raise ValueError(
            f"{name} must be a non-empty point cloud {want}, got shape {tuple(t.shape)}"
        )
    check_finite(t, name)
    return t


def free_support_barycenter(
    measures_locations: Sequence[Any],
    measures_weights: Sequence[Any] | None,
    X_init: Any,
    b: Any = None,
    weights: Any = None,
    max_iter: int = 100,
    tol: float = 1e-7,
) -> BarycenterResult:
    r"""The free-support Wasserstein barycenter of the N measures with supports
    ``measures_locations`` (N clouds [k_i, d]) and weights ``measures_weights`` (N vectors
    [k_i]; None, or None or empty entries: uniform) from ``X_init`` [k, d], with the
    barycenter's weights ``b`` [k] and the measures' coefficients ``weights`` [N] (uniform
    by default), by the fixed-point iteration of the module docstring (POT's
    ``ot.lp.free_support_barycenter`` with ``numItermax=max_iter``, ``stopThr=tol``).
    Computed in float64 on the CPU; ``locations`` has the dtype and device of ``X_init``.

    >>> Y = [torch.tensor([[-1.0]]), torch.tensor([[1.0]])]
    >>> free_support_barycenter(Y, None, torch.tensor([[-12.0]])).locations  # POT's test
    tensor([[0.]])
    """
    max_iter = checks.positive_int("max_iter", max_iter)
    tol = checks.positive_real("tol", tol)
    if isinstance(measures_locations, Tensor) or not isinstance(measures_locations, Sequence):
        raise TypeError(
            "measures_locations must be a sequence of point clouds [k_i, d], got "
            f"{type(measures_locations).__name__}"
        )
    if len(measures_locations) == 0:
        raise ValueError("measures_locations must hold at least one measure, got none")
    X0 = as_tensor(X_init, "X_init")
    X = _cloud(X0, "X_init", None)
    k, d = X.shape
    clouds = [_cloud(Y, f"measures_locations[{i}]", d) for i, Y in enumerate(measures_locations)]
    N = len(clouds)
    given = [None] * N if measures_weights is None else list(measures_weights)
    if len(given) != N:
        raise ValueError(f"measures_weights must hold {N} weight vectors, got {len(given)}")
    masses = []
    for i, (w, Y) in enumerate(zip(given, clouds, strict=True)):
        name = f"measures_weights[{i}]"
        masses.append(weights_or_uniform(w, Y.shape[0], name, Y).detach().to("cpu", torch.float64))
        if masses[-1].shape != (Y.shape[0],):
            raise ValueError(
                f"{name} must have shape [{Y.shape[0]}], got {tuple(masses[-1].shape)}"
            )
        check_marginal(masses[-1], name)
    b = weights_or_uniform(b, k, "b", X).detach().to("cpu", torch.float64)
    weights = weights_or_uniform(weights, N, "weights", X).detach().to("cpu", torch.float64)
    for w, name, size in ((b, "b", k), (weights, "weights", N)):
        if w.shape != (size,):
            raise ValueError(f"{name} must have shape [{size}], got {tuple(w.shape)}")
        check_marginal(w, name)
    if not bool((b > 0).all()):
        raise ValueError("b must be positive: every barycenter point carries mass")

    displacement, iterations = float("inf"), 0
    while iterations < max_iter and displacement > tol:
        iterations += 1
        moved = torch.zeros_like(X)
        for Y, a, w in zip(clouds, masses, weights, strict=True):
            plan = kantorovich(b, a, pairwise_cost(X, Y, 2)).plan
            moved += w * (plan @ Y) / b.unsqueeze(-1)
        displacement = float(((moved - X) ** 2).sum())
        X = moved
    converged = displacement <= tol
    if not converged:
        warn_not_converged(
            "free_support_barycenter",
            f"the squared displacement is {displacement:.2e} > tol = {tol:.1e} after "
            f"{max_iter} iterations; raise max_iter or tol",
        )
    return BarycenterResult(X.to(X0.device, X0.dtype), iterations, displacement, converged)

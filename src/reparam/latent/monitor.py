r"""The stopping rule of an EM fit and its record: what ``GaussianMixture.fit`` and ``HMM.fit``
expose as ``monitor_``.

Each iteration reports its objective :math:`\ell_i` (the log-likelihood of the parameters
before the M step, so that EM makes it non-decreasing); the fit has converged once the last
change :math:`Δ = \ell_i - \ell_{i-1}` is below ``tol``: :math:`|Δ| < \mathrm{tol}` as
scikit-learn's ``GaussianMixture`` tests it, or :math:`Δ < \mathrm{tol}` as hmmlearn's
``ConvergenceMonitor`` does (``absolute=False``; a decrease also stops it). The record is
hmmlearn's (``history``, ``iter``, ``converged``) but ``converged`` has scikit-learn's
meaning: it is False when the fit stopped at its cap, where hmmlearn's is True. A fit that
stops at its cap says so with :class:`reparam.ConvergenceWarning` (:meth:`warn`), unless
``tol`` is −∞, which asks for exactly ``n_iter`` iterations.

>>> monitor = ConvergenceMonitor(tol=1e-3, n_iter=3, absolute=False)
>>> [monitor.report(value) for value in (-10.0, -9.0, -8.9995)]
[False, False, True]
>>> monitor.iter, monitor.converged
(3, True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from reparam.convergence import warn_not_converged


@dataclass
class ConvergenceMonitor:
    """``history`` of the objective, one value per iteration; ``tol`` and the cap ``n_iter``;
    ``absolute`` chooses |Δ| < tol (scikit-learn) or Δ < tol (hmmlearn). ``quantity`` and
    ``cap`` name the objective and the cap's argument in the warning. ``start`` is the
    objective before the first iteration, when there is one (a warm start continuing a fit):
    the first change is measured from it."""

    tol: float
    n_iter: int
    absolute: bool = True
    quantity: str = "the log-likelihood"
    cap: str = "n_iter"
    history: list[float] = field(default_factory=list)
    start: float = math.nan

    @property
    def iter(self) -> int:
        """The number of iterations run."""
        return len(self.history)

    @property
    def delta(self) -> float:
        """The last change of the objective (NaN before the second iteration, unless
        ``start`` is set)."""
        if not self.history:
            return math.nan
        previous = self.history[-2] if len(self.history) > 1 else self.start
        return self.history[-1] - previous

    @property
    def converged(self) -> bool:
        """Whether the last change is below ``tol`` (False at the cap otherwise)."""
        change = abs(self.delta) if self.absolute else self.delta
        return change < self.tol

    def report(self, value: float) -> bool:
        """Record one iteration's objective; return whether the fit has converged."""
        self.history.append(value)
        return self.converged

    def warn(self, what: str, *, stacklevel: int = 4) -> None:
        """Warn (:class:`~reparam.ConvergenceWarning`) unless converged, saying by how much the
        last iteration moved against ``tol`` and what to change. ``stacklevel`` 4 points at
        the caller of the fit that calls this. ``tol=-inf`` asks for all ``n_iter`` iterations
        (hmmlearn's idiom), so it does not warn."""
        if self.converged or self.tol == -math.inf:
            return
        if not math.isfinite(self.delta):
            detail = (
                f"{self.cap}={self.n_iter} allows no change of {self.quantity} to compare with "
                f"tol={self.tol:g}; increase {self.cap}"
            )
        else:
            detail = (
                f"{self.quantity} changed by {self.delta:.3g} in the last of {self.iter} "
                f"iterations ({self.cap}={self.n_iter}), not below tol={self.tol:g}; increase "
                f"{self.cap} or tol, or check for degenerate data"
            )
        warn_not_converged(what, detail, stacklevel=stacklevel)

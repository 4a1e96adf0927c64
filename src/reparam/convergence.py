"""The warning every iterative solver of reparam gives when it stops before its tolerance.

A solver that hits its iteration cap returns its last iterate (often useful, sometimes far
from the answer) and says so with a :class:`ConvergenceWarning` that states how far from the
tolerance it stopped. Filter it, or turn it into an error, with the standard machinery:

>>> import warnings
>>> with warnings.catch_warnings():
...     warnings.simplefilter("error", ConvergenceWarning)
...     try:
...         warn_not_converged("demo solver", "the residual is 1e-3 > tol = 1e-9")
...     except ConvergenceWarning as e:
...         print(e)
demo solver did not converge: the residual is 1e-3 > tol = 1e-9
"""

from __future__ import annotations

import warnings


class ConvergenceWarning(UserWarning):
    """An iterative method stopped at its iteration cap before reaching its tolerance (the
    counterpart of scikit-learn's ``sklearn.exceptions.ConvergenceWarning``)."""


def warn_not_converged(what: str, detail: str, *, stacklevel: int = 3) -> None:
    """Warn that ``what`` stopped before its tolerance; ``detail`` says by how much and what to
    change (more iterations, a larger tolerance, ε-scaling, …). ``stacklevel`` 3 points at the
    caller of the public function that calls this."""
    warnings.warn(f"{what} did not converge: {detail}", ConvergenceWarning, stacklevel=stacklevel)

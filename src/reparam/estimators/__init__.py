"""Gradient estimators for ∇θ E_q[f(z)], one family per file, all with the same call."""

from __future__ import annotations

from torch.distributions import Distribution

from reparam.estimators.base import Estimator, score_surrogate
from reparam.estimators.baselines import LeaveOneOut, MovingAverage, Optimal
from reparam.estimators.bounds import VIMCO, DReG
from reparam.estimators.enumerate import Enumerate
from reparam.estimators.grep import GeneralizedReparam
from reparam.estimators.pathwise import Pathwise
from reparam.estimators.relaxed import GumbelSoftmax, StraightThrough, gumbel_max
from reparam.estimators.score import ScoreFunction

NAMES = (
    "auto",
    "pathwise",
    "score",
    "grep",
    "gumbel-softmax",
    "straight-through",
    "enumerate",
)


def resolve(name: str, q: Distribution, n: int) -> Estimator:
    """The estimator a name stands for; ``"auto"`` depends on ``q`` and ``n``.

    ``"auto"`` is pathwise when ``q.has_rsample``, else the score function with a
    leave-one-out baseline when n > 1, else with a moving-average baseline.
    """
    if name == "auto":
        if q.has_rsample:
            return Pathwise()
        return ScoreFunction("leave-one-out" if n > 1 else "moving-average")
    factories = {
        "pathwise": Pathwise,
        "score": ScoreFunction,
        "grep": GeneralizedReparam,
        "gumbel-softmax": GumbelSoftmax,
        "straight-through": StraightThrough,
        "enumerate": Enumerate,
    }
    if name not in factories:
        raise ValueError(
            f"unknown estimator {name!r}; choose one of {', '.join(NAMES)}, or pass an "
            f"Estimator object such as ScoreFunction(baseline='optimal')."
        )
    return factories[name]()


__all__ = [
    "NAMES",
    "VIMCO",
    "DReG",
    "Enumerate",
    "Estimator",
    "GeneralizedReparam",
    "GumbelSoftmax",
    "LeaveOneOut",
    "MovingAverage",
    "Optimal",
    "Pathwise",
    "ScoreFunction",
    "StraightThrough",
    "gumbel_max",
    "resolve",
    "score_surrogate",
]

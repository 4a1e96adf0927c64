r"""``"auto"``: the estimator chosen from the distribution, the one place its rules live.

For an expectation (:func:`reparam.expect`, the ELBO), :class:`Auto` uses

- :class:`~reparam.estimators.Pathwise` when ``q.has_rsample`` (Normal, flows, Gamma …);
- else :class:`~reparam.estimators.ScoreFunction` with the leave-one-out baseline when
  n > 1 (unbiased, and free: it reuses the other samples);
- else, at n = 1, the plain score function, **without a baseline**.

For the importance-weighted bound (:func:`reparam.objectives.iwae`), :class:`AutoBound` uses
the pathwise gradient when ``q.has_rsample``, else VIMCO (which needs k ≥ 2).

Both are stateless: ``"auto"`` never creates a moving average, because a baseline that learns
across calls is state that someone must own and checkpoint. The score function at n = 1 is
unbiased but noisy; for a baseline that learns across steps, create
``parse("score+moving-average")`` once and keep it (a model holds it as a submodule, so its
state is in the model's ``state_dict``).
"""

from __future__ import annotations

from torch import Tensor
from torch.distributions import Distribution

from reparam.estimators.base import CostFn, Estimator
from reparam.estimators.baselines import leave_one_out_mean
from reparam.estimators.bounds import VIMCO, BoundEstimator, LogJoint, PathwiseBound
from reparam.estimators.pathwise import Pathwise, pathwise
from reparam.estimators.score import ScoreFunction, score_function


class Auto(Estimator):
    r"""Pathwise when ``q.has_rsample``, else the score function — with the leave-one-out
    baseline when n > 1, without a baseline at n = 1. Stateless.

    Example:
        >>> import torch
        >>> Auto().resolve(torch.distributions.Normal(0.0, 1.0), 1)
        Pathwise()
        >>> Auto().resolve(torch.distributions.Bernoulli(0.5), 4)
        ScoreFunction(baseline=LeaveOneOut())
        >>> Auto().resolve(torch.distributions.Bernoulli(0.5), 1)
        ScoreFunction()
    """

    def resolve(self, q: Distribution, n: int) -> Estimator:
        """The concrete estimator ``"auto"`` stands for at ``q`` and ``n`` (a new object)."""
        if q.has_rsample:
            return Pathwise()
        return ScoreFunction("leave-one-out" if n > 1 else None)

    def forward(self, f: CostFn, q: Distribution, n: int) -> Tensor:
        # what resolve(q, n) would do, without building a module on every call
        if q.has_rsample:
            return pathwise(f, q, n)
        return score_function(f, q, n, leave_one_out if n > 1 else None)


class AutoBound(BoundEstimator):
    r"""The IWAE bound's gradient: pathwise when ``q.has_rsample``, else VIMCO. Stateless.

    Example:
        >>> import torch
        >>> AutoBound().resolve(torch.distributions.Categorical(logits=torch.zeros(3)))
        VIMCO()
    """

    def resolve(self, q: Distribution) -> BoundEstimator:
        """The concrete bound estimator ``"auto"`` stands for at ``q`` (a new object)."""
        return PathwiseBound() if q.has_rsample else VIMCO()

    def iwae(self, log_joint: LogJoint, q: Distribution, k: int) -> Tensor:
        return self.resolve(q).iwae(log_joint, q, k)


def leave_one_out(cost: Tensor, log_prob: Tensor, q: Distribution) -> Tensor:
    """The leave-one-out baseline as a function (n ≥ 2, which :class:`Auto` ensures)."""
    return leave_one_out_mean(cost)

"""The score-function (REINFORCE) estimator."""

from __future__ import annotations

from torch import Tensor
from torch.distributions import Distribution

from reparam.estimators.base import CostFn, Estimator, evaluate, log_prob, score_surrogate
from reparam.estimators.baselines import Baseline, LeaveOneOut, MovingAverage, Optimal

BASELINES = ("moving-average", "leave-one-out", "optimal")


def make_baseline(baseline: str | Baseline | None, decay: float = 0.9) -> Baseline | None:
    """Resolve a baseline name (or pass a callable through)."""
    if baseline is None or callable(baseline):
        return baseline
    if baseline == "moving-average":
        return MovingAverage(decay)
    if baseline == "leave-one-out":
        return LeaveOneOut()
    if baseline == "optimal":
        return Optimal()
    raise ValueError(f"unknown baseline {baseline!r}; choose None or one of {BASELINES}.")


class ScoreFunction(Estimator):
    r"""Score-function (REINFORCE) gradient of :math:`\mathbb{E}_{q_\theta}[f(z)]`.

    .. math::
        \nabla_\theta \mathbb{E}_q[f(z)]
            = \mathbb{E}_q\big[(f(z) - b)\,\nabla_\theta \log q_\theta(z)\big]
              + \mathbb{E}_q[\nabla_\theta f(z)],

    unbiased for any baseline :math:`b` independent of :math:`z`. Works for any ``q`` with
    ``sample`` and ``log_prob``, discrete or continuous, and any ``f``, differentiable or not.
    The returned tensor carries the gradient through the surrogate
    ``mean(f) + u − stop_grad(u)`` with ``u = mean((f − b)·log q)``, whose value is ``mean(f)``.

    Arguments:
        baseline: ``None`` (plain REINFORCE), ``"moving-average"`` (an exponential average of
            earlier calls' costs, see :class:`MovingAverage`), ``"leave-one-out"`` (the mean
            of the other samples, n ≥ 2), ``"optimal"`` (the variance-minimising control-variate
            coefficient, estimated leave-one-out, n ≥ 2) or any callable
            ``(cost, log_prob, q) -> b``.
        decay: the moving average's decay β.

    A baseline object is a submodule: with a moving average the estimator is
    :attr:`~reparam.estimators.base.EstimatorModule.stateful`, and its ``state_dict`` holds
    the average (see :class:`MovingAverage`). A plain callable is kept as it is, and its
    state, if any, is its owner's business.

    References:
        Williams (1992), Simple statistical gradient-following algorithms for connectionist
        reinforcement learning; Mohamed et al. (2020), Monte Carlo Gradient Estimation in
        Machine Learning, §4.

    Example:
        >>> import torch, reparam as rp
        >>> logits = torch.zeros(3, requires_grad=True)
        >>> q = torch.distributions.Categorical(logits=logits)
        >>> rp.expect(lambda z: z.float(), q, n=8, estimator=ScoreFunction("leave-one-out"))
        tensor(...)
    """

    def __init__(self, baseline: str | Baseline | None = None, decay: float = 0.9) -> None:
        super().__init__()
        self.baseline = make_baseline(baseline, decay)

    def forward(self, f: CostFn, q: Distribution, n: int) -> Tensor:
        return score_function(f, q, n, self.baseline)

    def surrogate(self, cost: Tensor, log_prob: Tensor, q: Distribution) -> Tensor:
        """Mean surrogate over costs ``[n, *batch]`` whose samples have density ``log_prob``."""
        return baseline_surrogate(cost, log_prob, q, self.baseline)

    def extra_repr(self) -> str:
        return "" if self.baseline is None else f"baseline={self.baseline!r}"


def baseline_surrogate(
    cost: Tensor, log_prob: Tensor, q: Distribution, baseline: Baseline | None
) -> Tensor:
    """:func:`~reparam.estimators.base.score_surrogate` with the baseline ``baseline`` gives."""
    b = None if baseline is None else baseline(cost.detach(), log_prob, q)
    return score_surrogate(cost, log_prob, b)


def score_function(f: CostFn, q: Distribution, n: int, baseline: Baseline | None) -> Tensor:
    """The estimate of :class:`ScoreFunction` with ``baseline``, as a function."""
    z = q.sample((n,))
    return baseline_surrogate(evaluate(f, z, q, n), log_prob(q, z), q, baseline)

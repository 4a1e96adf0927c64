"""Discrete test problems with exact gradients by enumeration, and the statistics of
replicated gradient estimates, for the tests of the discrete estimators (NVIL, MuProp, DARN,
ARM, DisARM, annealed straight-through)."""

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.distributions import Bernoulli, Distribution, Independent, OneHotCategorical

import reparam as rp

Z = 5.0
WEIGHTS = torch.tensor([1.0, -2.0, 1.5, 0.5], dtype=torch.float64)


def bernoulli_cost(z: Tensor) -> Tensor:
    """A non-linear, smooth cost of 4 binary latents ``[..., 4]`` (any real inputs)."""
    w = WEIGHTS.to(z.dtype)
    return ((z * w).sum(-1) - 0.7) ** 2 + 0.5 * torch.sin(3 * z[..., 0] * z[..., 1]) + z[..., 3]


def categorical_cost(z: Tensor) -> Tensor:
    """A non-linear, smooth cost of 2 one-hot latents of 3 classes, ``[..., 2, 3]``."""
    values = torch.tensor([-1.0, 0.5, 2.0], dtype=z.dtype)
    first, second = (z * values).sum(-1).unbind(-1)
    return (first - 0.3) ** 2 + first * second + torch.exp(0.5 * second)


@dataclass(frozen=True)
class Problem:
    """``q(logits)`` (logits with a leading replica dimension), the cost ``f``, the point
    ``logits`` and all joint values of the codes, ``support`` ``[S, *event]``."""

    name: str
    q: Callable[[Tensor], Distribution]
    f: Callable[[Tensor], Tensor]
    logits: Tensor
    support: Tensor

    def log_prob(self, logits: Tensor) -> Tensor:
        return self.q(logits).log_prob(self.support)

    def expectation(self, logits: Tensor) -> Tensor:
        return (self.log_prob(logits).exp() * self.f(self.support)).sum(0)

    def exact_gradient(self) -> Tensor:
        logits = self.logits.clone().requires_grad_()
        (grad,) = torch.autograd.grad(self.expectation(logits), logits)
        return grad


BERNOULLI = Problem(
    "bernoulli",
    lambda logits: Independent(Bernoulli(logits=logits), 1),
    bernoulli_cost,
    torch.tensor([0.3, -1.2, 2.0, 0.1], dtype=torch.float64),
    torch.tensor(list(itertools.product([0.0, 1.0], repeat=4)), dtype=torch.float64),
)
CATEGORICAL = Problem(
    "categorical",
    lambda logits: Independent(OneHotCategorical(logits=logits), 1),
    categorical_cost,
    torch.tensor([[0.5, -0.4, 0.1], [-1.0, 0.8, 0.2]], dtype=torch.float64),
    F.one_hot(torch.tensor(list(itertools.product(range(3), repeat=2))), 3).double(),
)


def gradients(estimator: rp.estimators.Estimator, problem: Problem, n: int, repeats: int) -> Tensor:
    """``repeats`` independent estimates of the gradient in the logits, ``[repeats, *shape]``,
    from one call of ``expect`` on ``repeats`` replicas of the problem."""
    logits = problem.logits.expand(repeats, *problem.logits.shape).clone().requires_grad_()
    value = rp.expect(problem.f, problem.q(logits), n=n, estimator=estimator)
    (grad,) = torch.autograd.grad(value.sum(), logits)
    return grad


def zscore(grads: Tensor, exact: Tensor) -> float:
    """The largest |mean − exact| over the coordinates, in standard errors of the mean."""
    stderr = grads.std(0) / grads.shape[0] ** 0.5
    return float(((grads.mean(0) - exact).abs() / stderr).max())


def total_variance(grads: Tensor) -> tuple[float, float]:
    """The summed variance of the coordinates, and its standard error from the spread of the
    squared deviations."""
    squared = ((grads - grads.mean(0)) ** 2).sum(tuple(range(1, grads.dim())))
    return float(squared.mean()), float(squared.std() / squared.shape[0] ** 0.5)


def lower_variance(better: Tensor, worse: Tensor) -> bool:
    """Whether ``better``'s total variance is below ``worse``'s by more than 5 standard
    errors of the difference."""
    low, low_se = total_variance(better)
    high, high_se = total_variance(worse)
    return high - low > Z * (low_se**2 + high_se**2) ** 0.5

"""Problems with exact gradients by enumeration for REBAR and RELAX (tests/estimators), and
the steps that train a control variate before it is measured."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.distributions import Bernoulli, Categorical, Distribution, Independent, OneHotCategorical

from reparam.estimators import Estimator
from reparam.expectation import expect

K = 4


def bernoulli_cost(b: Tensor) -> Tensor:
    """Three coupled bits (relaxed bits too): not a sum of per-bit terms."""
    return ((b - 0.45) ** 2).sum(-1) + 2 * b[..., 0] * b[..., 1] - b[..., 2] * b[..., 1]


def categorical_cost(y: Tensor) -> Tensor:
    """Two coupled 4-way codes, one-hot (or relaxed one-hot) ``[..., 2, K]``."""
    v = (y * torch.arange(K, dtype=y.dtype)).sum(-1)
    return ((v - 1.3) ** 2).sum(-1) + v[..., 0] * v[..., 1]


def one_categorical_cost(y: Tensor) -> Tensor:
    """One 4-way code per batch element, ``[..., K]``."""
    return ((y * torch.arange(K, dtype=y.dtype)).sum(-1) - 1.3) ** 2


def enumerate_bernoulli(logits: Tensor) -> Tensor:
    probs, total = torch.sigmoid(logits), 0.0
    for bits in itertools.product([0.0, 1.0], repeat=logits.shape[-1]):
        b = torch.tensor(bits, dtype=logits.dtype)
        total = total + (probs**b * (1 - probs) ** (1 - b)).prod() * bernoulli_cost(b)
    return total


def enumerate_categorical(logits: Tensor) -> Tensor:
    probs, total = logits.softmax(-1), 0.0
    eye = torch.eye(K, dtype=logits.dtype)
    for i, j in itertools.product(range(K), repeat=2):
        y = torch.stack([eye[i], eye[j]])
        total = total + probs[0, i] * probs[1, j] * categorical_cost(y)
    return total


def enumerate_one_categorical(logits: Tensor) -> Tensor:
    values = torch.arange(K, dtype=logits.dtype)
    return (logits.softmax(-1) * (values - 1.3) ** 2).sum(-1).sum()


@dataclass(frozen=True)
class Case:
    """``q(logits)``, the cost, the point, and the exact expectation (summed over the batch)."""

    q: Callable[[Tensor], Distribution]
    f: Callable[[Tensor], Tensor]
    logits: Tensor
    closed_form: Callable[[Tensor], Tensor]

    def exact(self) -> Tensor:
        leaf = self.logits.clone().requires_grad_()
        return torch.autograd.grad(self.closed_form(leaf), leaf)[0]


def _f64(values: list) -> Tensor:
    return torch.tensor(values, dtype=torch.float64)


CASES = {
    "bernoulli-independent": Case(
        lambda logits: Independent(Bernoulli(logits=logits), 1),
        bernoulli_cost,
        _f64([0.3, -1.0, 1.2]),
        enumerate_bernoulli,
    ),
    "one-hot-independent": Case(
        lambda logits: Independent(OneHotCategorical(logits=logits), 1),
        categorical_cost,
        _f64([[0.3, -1.0, 0.5, 2.0], [0.0, 1.0, -0.5, 0.2]]),
        enumerate_categorical,
    ),
    "categorical": Case(
        lambda logits: Categorical(logits=logits),
        one_categorical_cost,
        _f64([0.3, -1.0, 0.5, 2.0]),
        enumerate_one_categorical,
    ),
}


def train_control_variate(
    estimator: Estimator, case: Case, steps: int = 100, n: int = 4, lr: float = 0.03
) -> None:
    """Adam on the control variate's parameters alone, through the variance term that the
    estimator's output carries (the model's logits stay where they are), 16 replicas a step."""
    optimizer = torch.optim.Adam(estimator.parameters(), lr=lr)
    for _ in range(steps):
        logits = case.logits.expand(16, *case.logits.shape).clone().requires_grad_()
        optimizer.zero_grad()
        expect(case.f, case.q(logits), n=n, estimator=estimator).sum().backward()
        optimizer.step()

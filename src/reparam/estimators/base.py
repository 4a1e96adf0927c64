"""The estimator protocol and the pieces every estimator shares."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import ClassVar

import torch
from torch import Tensor, nn
from torch.distributions import Distribution, Independent

from reparam.checks import count

CostFn = Callable[[Tensor], Tensor]


class EstimatorModule(nn.Module, ABC):
    """What every estimator object shares: it is an ``nn.Module``, so whatever state it keeps
    (a moving average's mean and step count) lives in buffers, moves with ``.to(device)``,
    and is saved in the ``state_dict`` of a model that owns it as a submodule."""

    @property
    def stateful(self) -> bool:
        """Whether the estimator carries information from one call to the next (it holds
        buffers). A stateful estimator must be owned by its caller: create it once, keep it,
        checkpoint its ``state_dict``."""
        return next(self.buffers(), None) is not None

    pools_rows: ClassVar[bool] = False
    """Set by a class whose state or output mixes the rows of a batch (a running mean of the
    costs, a coefficient summed over all of q's parameters)."""

    @property
    def couples_rows(self) -> bool:
        """Whether the rows of a batch are not independent problems for this estimator: it, or
        a part of it, pools them (:attr:`pools_rows`), or it learns parameters (a baseline
        network, REBAR's η and τ, RELAX's surrogate, a learned temperature) from the whole
        batch. Replicas of a model trained side by side in one batch
        (:mod:`reparam.models.replicas`) need an estimator that does not couple its rows."""
        pooled = any(getattr(m, "pools_rows", False) for m in self.modules())
        return pooled or next(self.parameters(), None) is not None

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"


class Estimator(EstimatorModule):
    r"""A gradient estimator for :math:`\nabla_\theta \mathbb{E}_{q_\theta(z)}[f(z)]`.

    Calling an estimator with ``(f, q, n)`` returns one tensor of ``q.batch_shape`` whose
    value is the Monte Carlo estimate of the expectation and whose gradient, with respect to
    ``q``'s parameters and anything ``f`` closes over, is the estimator's. Subclasses
    implement :meth:`forward`.

    Estimators are ``nn.Module`` objects: a :attr:`stateful` one (a score function with a moving-
    average baseline) is an object its caller owns — a model holds it as a submodule, so the
    state travels in the model's ``state_dict`` and checkpoints. :func:`reparam.expect` keeps
    no state of its own (see :mod:`reparam.estimators.vocabulary`).
    """

    def __call__(self, f: CostFn, q: Distribution, n: int) -> Tensor:
        return super().__call__(f, q, count("n", n))

    @abstractmethod
    def forward(self, f: CostFn, q: Distribution, n: int) -> Tensor:
        r"""The estimate of :math:`\mathbb{E}_q[f(z)]` from ``n`` samples, shape ``q.batch_shape``."""

    def resolve(self, q: Distribution, n: int) -> Estimator:
        """The concrete estimator used at ``q`` and ``n``: this one, except for ``"auto"``
        (:class:`~reparam.estimators.auto.Auto`), which chooses by ``q``."""
        return self


def zero_with_gradient(x: Tensor) -> Tensor:
    """``x − stop_gradient(x)``: value 0, gradient that of ``x``."""
    return x - x.detach()


def score_surrogate(cost: Tensor, log_prob: Tensor, baseline: Tensor | None = None) -> Tensor:
    r"""Sample mean with value ``mean(cost)`` and gradient ``mean(∇cost + (cost − b) ∇log_prob)``.

    ``cost`` and ``log_prob`` have shape ``[n, *batch]``; the result has shape ``[*batch]``.
    The baseline ``b`` must not depend on the sample it multiplies, or the gradient is biased.
    This is the first-order form of the "magic box" (Foerster et al. 2018, DiCE): the term
    ``x − stop_gradient(x)`` is taken after the mean over samples, so it costs one pass over
    the samples, like a hand-written surrogate loss.
    """
    weight = cost.detach() if baseline is None else cost.detach() - baseline
    return cost.mean(0) + zero_with_gradient((weight * log_prob).mean(0))


def evaluate(f: CostFn, z: Tensor, q: Distribution, n: int) -> Tensor:
    """Call ``f`` on ``n`` samples and check it returned one cost per sample."""
    cost = f(z)
    expected = torch.Size((n, *q.batch_shape))
    if not isinstance(cost, Tensor) or cost.shape != expected:
        got = tuple(cost.shape) if isinstance(cost, Tensor) else type(cost).__name__
        raise ValueError(
            f"f must return one cost per sample, of shape (n, *q.batch_shape) = "
            f"{tuple(expected)}; it returned {got}. Reduce the event dimensions inside f "
            f"(e.g. .sum(-1)) and keep the leading sample dimension."
        )
    return cost


def unwrap_independent(q: Distribution) -> Distribution:
    """The base of (nested) ``Independent`` wrappers: its samples are q's samples, its batch
    dimensions include the ones q reinterprets as event dimensions."""
    while isinstance(q, Independent):
        q = q.base_dist
    return q


def log_prob(q: Distribution, z: Tensor) -> Tensor:
    """``q.log_prob(z)``, also for an empty batch: torch's ``Independent`` sums its event
    dimensions by a ``reshape(..., -1)``, which fails on zero elements, so there the sum is
    taken here."""
    if isinstance(q, Independent) and z.numel() == 0:
        return log_prob(q.base_dist, z).sum(tuple(range(-q.reinterpreted_batch_ndims, 0)))
    return q.log_prob(z)


def require(condition: bool, message: str) -> None:
    """Raise ``ValueError(message)`` unless ``condition``."""
    if not condition:
        raise ValueError(message)

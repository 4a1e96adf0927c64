"""Mean, variance and signal-to-noise ratio of gradient estimators, over vectorized repeats."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.distributions import Distribution

from reparam.checks import integer, non_negative_int, positive_int, tensor
from reparam.estimators import Estimator, resolve
from reparam.estimators.base import CostFn
from reparam.expectation import expect


@dataclass(frozen=True)
class GradientStats:
    r"""Statistics of R independent gradient estimates of one parameter.

    ``mean`` and ``variance`` have the parameter's shape (``variance`` is the unbiased
    variance across repeats of one n-sample estimate). ``stderr`` is the standard error of
    ``mean``; ``snr`` is :math:`|\mathbb E g| / \sqrt{\operatorname{Var} g}` per coordinate;
    ``per_sample_variance`` is ``n · variance``, the variance of one sample's contribution
    for an average of independent samples.
    """

    estimator: str
    parameter: str
    mean: Tensor
    variance: Tensor
    n: int
    repeats: int

    @property
    def stderr(self) -> Tensor:
        return (self.variance / self.repeats).sqrt()

    @property
    def snr(self) -> Tensor:
        return self.mean.abs() / self.variance.sqrt()

    @property
    def per_sample_variance(self) -> Tensor:
        return self.n * self.variance

    def bias_zscore(self, exact: Tensor) -> Tensor:
        """|mean − exact| in standard errors, per coordinate; 0 where the error is at rounding
        level (an exact estimator's zero variance would otherwise divide by zero)."""
        exact = exact.to(self.mean)
        error = (self.mean - exact).abs()
        rounding = 64 * torch.finfo(error.dtype).eps * (exact.abs() + 1)
        return torch.where(error <= rounding, torch.zeros_like(error), error / self.stderr)


def gradient_variance(
    f: CostFn,
    q: Callable[..., Distribution],
    params: Mapping[str, Tensor],
    estimators: Mapping[str, str | Estimator],
    *,
    n: int = 1,
    repeats: int = 1000,
    warmup: int = 0,
    chunk: int = 100_000,
) -> list[GradientStats]:
    r"""Profile gradient estimators of :math:`\nabla_\phi \mathbb E_{q_\phi}[f(z)]` at ``params``.

    Every parameter is replicated ``repeats`` times along a new leading dimension, ``q(**reps)``
    builds one distribution whose batch holds all the replicas, and a single call of
    :func:`reparam.expect` followed by a single backward pass yields ``repeats`` independent
    gradient estimates (each replica draws its own n samples). ``f`` must act elementwise over
    the batch. Repeats run in chunks of at most ``chunk`` replicas to bound memory; a stateful
    estimator is copied afresh for each chunk and first called ``warmup`` times.

    Arguments:
        f: cost function, as for :func:`reparam.expect`.
        q: builds the distribution from keyword tensors named as in ``params``.
        params: the point at which the gradient is taken.
        estimators: label → estimator name or object.
        n: samples per estimate.
        repeats: independent estimates per estimator (≥ 2).
        warmup: calls before measuring, for estimators with state.
        chunk: most replicas in one vectorized call.

    Returns:
        One :class:`GradientStats` per (estimator, parameter), in that order.

    Example:
        >>> import torch
        >>> stats = gradient_variance(
        ...     lambda z: (z - 1) ** 2, lambda loc: torch.distributions.Normal(loc, 1.0),
        ...     {"loc": torch.tensor(1.0)}, {"pathwise": "pathwise"}, repeats=4000)
        >>> round(stats[0].variance.item())  # Var[2ε] = 4
        4
    """
    if integer("repeats", repeats) < 2:
        raise ValueError(f"repeats must be >= 2 to estimate a variance; got {repeats}.")
    positive_int("n", n)
    non_negative_int("warmup", warmup)
    positive_int("chunk", chunk)
    if not callable(f) or not callable(q):
        raise TypeError("f and q must be callables (the cost, and the distribution's builder)")
    if not params:
        raise ValueError("params must hold at least one parameter tensor")
    for name, p in params.items():
        tensor(f"params[{name!r}]", p)
    if not estimators:
        raise ValueError("estimators must name at least one estimator")
    results = []
    for label, estimator in estimators.items():
        means = {name: torch.zeros_like(p) for name, p in params.items()}
        m2 = {name: torch.zeros_like(p) for name, p in params.items()}
        done = 0
        while done < repeats:
            size = min(chunk, repeats - done)
            reps = {
                name: p.detach().unsqueeze(0).expand(size, *p.shape).clone().requires_grad_()
                for name, p in params.items()
            }
            dist = q(**reps)
            chosen = _fresh(estimator, dist, n)
            for _ in range(warmup if chosen.stateful else 0):
                expect(f, q(**reps), n=n, estimator=chosen)
            value = expect(f, dist, n=n, estimator=chosen).sum()
            grads = torch.autograd.grad(value, list(reps.values()), allow_unused=True)
            for name, g in zip(reps, grads, strict=True):
                g = torch.zeros_like(reps[name]) if g is None else g.detach()
                chunk_mean = g.mean(0)
                delta = chunk_mean - means[name]
                total = done + size
                means[name] += delta * size / total
                m2[name] += ((g - chunk_mean) ** 2).sum(0) + delta**2 * done * size / total
            done += size
        for name in params:
            variance = m2[name] / (repeats - 1)
            results.append(GradientStats(label, name, means[name], variance, n, repeats))
    return results


def _fresh(estimator: str | Estimator, q: Distribution, n: int) -> Estimator:
    if isinstance(estimator, str):
        return resolve(estimator, q, n)
    return copy.deepcopy(estimator) if estimator.stateful else estimator

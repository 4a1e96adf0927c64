r"""Variational objectives: the ELBO, the importance-weighted bound, and KL annealing.

Both bounds are written in terms of the model's log joint :math:`\log p(x, z)` (or its
likelihood and prior) and the posterior ``q``, so any model — Gaussian, flow, hierarchical,
categorical — uses them the same way, and the gradient estimator is one argument.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass

from torch import Tensor
from torch.distributions import (
    Categorical,
    Distribution,
    Independent,
    OneHotCategorical,
    kl_divergence,
)

from reparam.checks import count
from reparam.estimators import BoundEstimator, Estimator, GumbelSoftmax, as_estimator
from reparam.estimators.bounds import LogJoint
from reparam.estimators.logweights import log_mean_exp, require_no_nan
from reparam.expectation import expect


def iwae_bound(log_w: Tensor, dim: int = 0) -> Tensor:
    r"""The importance-weighted bound from log-weights :math:`\log w_i = \log p(x,z_i) - \log q(z_i)`:

    .. math:: \mathcal L_k = \log \frac1k \sum_{i=1}^k w_i,

    by ``logsumexp`` along ``dim``, stable for log-weights of any magnitude. A log-weight of
    :math:`-\infty` is a sample of zero weight (gradient 0); a bound whose k log-weights are
    all :math:`-\infty` is :math:`-\infty`, with gradient 0, and leaves the other bounds'
    gradients as they are. NaN log-weights, ``dim`` outside ``log_w``'s dimensions and zero
    samples along ``dim`` are a ValueError.

    References:
        Burda, Grosse & Salakhutdinov (2016), Importance Weighted Autoencoders.

    Example:
        >>> import torch
        >>> iwae_bound(torch.tensor([[-1e4], [-1e4 + 1.0]]))
        tensor([-9999.3799])
    """
    if not isinstance(log_w, Tensor) or not log_w.is_floating_point():
        raise ValueError(
            f"log_w must be a floating-point tensor of log-weights, got "
            f"{getattr(log_w, 'dtype', type(log_w).__name__)}"
        )
    if isinstance(dim, bool) or not isinstance(dim, numbers.Integral):
        raise ValueError(f"dim must be an integer, got {dim!r}")
    if not -log_w.dim() <= dim < log_w.dim():
        raise ValueError(
            f"dim must index a dimension of log_w (shape {tuple(log_w.shape)}), got dim={dim}"
        )
    if log_w.shape[dim] == 0:
        raise ValueError(
            f"log_w holds no samples along dim={dim} (shape {tuple(log_w.shape)}); the bound "
            f"needs k >= 1 log-weights"
        )
    return require_no_nan(log_mean_exp(log_w, dim), "log_w")


def iwae(
    log_joint: LogJoint, q: Distribution, k: int, estimator: str | BoundEstimator = "auto"
) -> Tensor:
    r"""The IWAE bound :math:`\mathcal L_k` of one batch, with the chosen gradient.

    Arguments:
        log_joint: samples ``[k, *batch, *event]`` to :math:`\log p(x, z)`, ``[k, *batch]``.
        q: the posterior; its batch shape is the data batch.
        k: importance samples.
        estimator: a :class:`~reparam.estimators.BoundEstimator` object, or one of the specs
            ``reparam.estimators.names("iwae")``: ``"pathwise"``
            (:class:`~reparam.estimators.PathwiseBound`, Burda et al. 2016), ``"dreg"``
            (:class:`~reparam.estimators.DReG`, Tucker et al. 2019, Gaussian q), ``"vimco"``
            (:class:`~reparam.estimators.VIMCO`, Mnih & Rezende 2016, for discrete q), or
            ``"auto"``: pathwise when ``q.has_rsample``, else VIMCO. The estimator's
            :meth:`~reparam.estimators.BoundEstimator.iwae` computes the bound, so any
            subclass works here.

    Returns:
        :math:`\mathcal L_k` per data point, shape ``q.batch_shape``.

    Example:
        >>> import torch
        >>> q = torch.distributions.Normal(torch.zeros(3), 1.0)
        >>> iwae(torch.distributions.Normal(0.0, 1.0).log_prob, q, k=4, estimator="dreg")
        tensor([0., 0., 0.])
    """
    k = count("k", k)
    return as_estimator(estimator, objective="iwae").iwae(log_joint, q, k)  # type: ignore[union-attr]


def elbo(
    log_likelihood: Callable[[Tensor], Tensor],
    q: Distribution,
    prior: Distribution,
    *,
    k: int = 1,
    estimator: str | Estimator = "auto",
    beta: float = 1.0,
) -> Tensor:
    r"""The evidence lower bound with a KL weight β, estimated from k samples of q.

    .. math::
        \mathcal L_\beta = \mathbb E_q[\log p(x \mid z)] - \beta\,\mathrm{KL}(q \,\|\, p(z))

    The KL term is analytic where torch knows it (Gaussian, categorical; see
    :func:`analytic_kl`); otherwise (flows, hierarchical posteriors) it is estimated inside
    the expectation as
    :math:`\mathbb E_q[\log q(z) - \log p(z)]`. The expectation goes through
    :func:`reparam.expect`, so any per-sample estimator applies (pathwise, score with a
    baseline, Gumbel-softmax, straight-through — the relaxed ones need the analytic KL, which
    the categorical latents have). ``"st-gumbel-relaxed"`` (``GumbelSoftmax(score="relaxed")``)
    scores the relaxed sample under the Concrete relaxations of q and the prior instead.

    Arguments:
        log_likelihood: samples ``[k, *batch, *event]`` to :math:`\log p(x\mid z)`, ``[k, *batch]``.
        q: the posterior; its batch shape is the data batch.
        prior: :math:`p(z)`, broadcastable against ``q``.
        k: samples.
        estimator: as for :func:`reparam.expect`.
        beta: the KL weight (β-VAE; :class:`KLAnnealing` schedules it).

    Returns:
        :math:`\mathcal L_\beta` per data point, shape ``q.batch_shape``.

    Raises ValueError for ``k`` that is not an integer >= 1 and for ``beta`` that is not a
    finite number >= 0.
    """
    k = count("k", k)
    beta = require_weight(beta, "beta")
    estimator = as_estimator(estimator)
    # the densities the KL scores: GumbelSoftmax(score="relaxed") scores the relaxed sample
    q_scored, prior_scored = q, prior
    if isinstance(estimator, GumbelSoftmax) and estimator.score == "relaxed":
        q_scored, prior_scored = estimator.relax(q), estimator.relax(prior)
    try:
        kl = analytic_kl(q_scored, prior_scored)
    except NotImplementedError:
        return expect(
            lambda z: log_likelihood(z) + beta * (prior_scored.log_prob(z) - q_scored.log_prob(z)),
            q,
            n=k,
            estimator=estimator,
        )
    return expect(log_likelihood, q, n=k, estimator=estimator) - beta * kl


def analytic_kl(q: Distribution, prior: Distribution) -> Tensor:
    r""":math:`\mathrm{KL}(q \,\|\, p)` by torch's registry, with two repairs: a pair of
    ``Independent`` wrappers sums its bases' KL here (torch's ``reshape(..., -1)`` fails on an
    empty batch), and a categorical pair takes :math:`0 \log 0 = 0` with gradient 0 (torch's
    gradient is NaN for a category of probability 0, a logit of ``-inf``). Raises
    ``NotImplementedError`` where torch has no closed form.

    Example:
        >>> import torch
        >>> q = torch.distributions.Categorical(logits=torch.tensor([0.0, -float("inf")]))
        >>> analytic_kl(q, torch.distributions.Categorical(logits=torch.zeros(2)))
        tensor(0.6931)
    """
    if (
        isinstance(q, Independent)
        and isinstance(prior, Independent)
        and q.reinterpreted_batch_ndims == prior.reinterpreted_batch_ndims
    ):
        kl = analytic_kl(q.base_dist, prior.base_dist)
        return kl.sum(tuple(range(-q.reinterpreted_batch_ndims, 0)))
    categorical = Categorical | OneHotCategorical
    if isinstance(q, categorical) and type(q) is type(prior):
        probs = q.probs
        # the double where: log q − log p is -inf (or NaN) where q = 0, and must not reach p·(…)
        log_ratio = (q.logits - prior.logits).masked_fill(probs == 0, 0.0)  # type: ignore[attr-defined]
        return (probs * log_ratio).sum(-1)
    return kl_divergence(q, prior)


ANNEALING_SHAPES = ("linear", "sigmoid")


@dataclass(frozen=True)
class KLAnnealing:
    r"""A KL weight :math:`\beta_t` that rises from 0 to β over T = ``warmup`` steps.

    .. math::
        \text{linear:}\quad \beta_t = \beta\,\min(1, t / T), \qquad
        \text{sigmoid:}\quad \beta_t = \frac{\beta}{1 + e^{-10\,(t/T - 1/2)}}

    The sigmoid is Bowman et al.'s logistic schedule, centred at T/2: it is 0.7 % of β at
    t = 0, half at T/2, 99.3 % at T and keeps rising towards β after. ``warmup=0`` gives the
    constant β for either shape (β = 1: the plain ELBO; β > 1: the β-VAE of Higgins et al.
    2017).

    References: Bowman et al. (2016), Generating Sentences from a Continuous Space;
    Sønderby et al. (2016), Ladder VAEs.

    Example:
        >>> KLAnnealing(warmup=100)(50), KLAnnealing(warmup=100, shape="sigmoid")(50)
        (0.5, 0.5)
        >>> round(KLAnnealing(warmup=100, shape="sigmoid")(100), 4)
        0.9933
    """

    warmup: int = 0
    beta: float = 1.0
    shape: str = "linear"

    def __post_init__(self) -> None:
        count("warmup", self.warmup, 0)
        require_weight(self.beta, "beta")
        if self.shape not in ANNEALING_SHAPES:
            raise ValueError(
                f"shape must be one of {', '.join(ANNEALING_SHAPES)}, got {self.shape!r}"
            )

    def __call__(self, step: int) -> float:
        step = count("step", step, 0)
        if self.warmup == 0:
            return self.beta
        if self.shape == "sigmoid":
            return self.beta / (1.0 + math.exp(-10.0 * (step / self.warmup - 0.5)))
        return self.beta * min(1.0, step / self.warmup)


def require_weight(value: object, name: str) -> float:
    """``value`` as a float if it is a finite real number >= 0, else a ValueError naming
    ``name`` (a bool is not a weight)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(value)
        or value < 0
    ):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)

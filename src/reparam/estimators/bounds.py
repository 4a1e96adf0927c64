r"""Gradient estimators for the importance-weighted bound, whose k samples are coupled.

The IWAE bound :math:`\mathcal L_k = \mathbb E\big[\log \frac1k \sum_i w_i\big]`,
:math:`w_i = p(x, z_i)/q(z_i)`, is not an average of per-sample costs, so it has estimators of
its own. Each takes ``log_joint`` (samples ``[k, *batch, *event]`` to :math:`\log p(x, z)` of
shape ``[k, *batch]``), the posterior ``q`` and k, and returns a tensor of ``q.batch_shape``
whose value is the bound's estimate and whose gradient is the estimator's.

Every one is a :class:`BoundEstimator`: :func:`reparam.objectives.iwae` calls its
:meth:`~BoundEstimator.iwae`, so a new multi-sample estimator is a subclass, not a new branch.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Callable

import torch
from torch import Tensor
from torch.distributions import Distribution, Independent, Normal

from reparam.checks import count
from reparam.estimators.base import (
    EstimatorModule,
    log_prob,
    require,
    zero_with_gradient,
)
from reparam.estimators.logweights import (
    log_mean_exp,
    log_sum_exp_but_one,
    mean_but_one,
    normalized_weights,
    require_no_nan,
)

LogJoint = Callable[[Tensor], Tensor]


def checked_bound(log_w: Tensor) -> Tensor:
    """The bound of log-weights ``[k, *batch]`` that ``log_joint`` gave, or a ValueError if
    one of them is NaN."""
    return require_no_nan(log_mean_exp(log_w), "log_joint(z) - q.log_prob(z)")


def check_log_weights(log_p: Tensor, q: Distribution, k: int) -> Tensor:
    """``log_p`` if it has shape ``(k, *q.batch_shape)``, else a ValueError."""
    expected = torch.Size((k, *q.batch_shape))
    require(
        log_p.shape == expected,
        f"log_joint must return log p(x, z) of shape (k, *q.batch_shape) = {tuple(expected)}; "
        f"got {tuple(log_p.shape)}.",
    )
    return log_p


class BoundEstimator(EstimatorModule):
    r"""A gradient estimator of the importance-weighted bound :math:`\mathcal L_k`.

    Subclasses implement :meth:`iwae`; calling the object, ``estimator(log_joint, q, k)``,
    is the same. Like :class:`~reparam.estimators.Estimator` it is an ``nn.Module``, so a
    stateful one (none yet) keeps its state in buffers that its owner checkpoints.
    """

    @abstractmethod
    def iwae(self, log_joint: LogJoint, q: Distribution, k: int) -> Tensor:
        r""":math:`\mathcal L_k` per data point, shape ``q.batch_shape``, with this gradient.

        Raises ValueError for k that is not an integer >= 1 (>= 2 for VIMCO) and for NaN
        log-weights; log-weights of :math:`-\infty` (:math:`p(x, z_i) = 0`) are samples of
        zero weight, and a data point whose k samples all have zero weight has the bound
        :math:`-\infty` with gradient 0.
        """

    def forward(self, log_joint: LogJoint, q: Distribution, k: int) -> Tensor:
        return self.iwae(log_joint, q, k)


def pathwise_bound(log_joint: LogJoint, q: Distribution, k: int) -> Tensor:
    r"""The IWAE bound through ``q.rsample``: the plain reparameterized gradient
    :math:`\sum_i \tilde w_i \nabla \log w_i` (Burda, Grosse & Salakhutdinov 2016)."""
    require(
        q.has_rsample,
        f"the pathwise IWAE gradient needs q with rsample; {type(q).__name__} has none: use "
        f"estimator='vimco'.",
    )
    k = count("k", k)
    z = q.rsample((k,))
    return checked_bound(check_log_weights(log_joint(z), q, k) - log_prob(q, z))


class PathwiseBound(BoundEstimator):
    r"""The reparameterized gradient of :math:`\mathcal L_k` (Burda, Grosse &
    Salakhutdinov 2016): :func:`pathwise_bound`; needs ``q.rsample``.

    Example:
        >>> import torch
        >>> q = torch.distributions.Normal(torch.zeros(3, requires_grad=True), 1.0)
        >>> PathwiseBound()(torch.distributions.Normal(0.0, 1.0).log_prob, q, 4).shape
        torch.Size([3])
    """

    def iwae(self, log_joint: LogJoint, q: Distribution, k: int) -> Tensor:
        return pathwise_bound(log_joint, q, k)


class DReG(BoundEstimator):
    r"""Doubly reparameterized gradient of the IWAE bound (Tucker, Lawson, Gu & Maddison 2019).

    The encoder's gradient drops the score term :math:`\partial_\phi \log q_\phi(z)` at fixed
    z, whose expectation is zero, and reweights the pathwise term by the squared normalized
    weights; the decoder keeps the IWAE gradient:

    .. math::
        \nabla_\phi \mathcal L_k = \mathbb E\Big[\sum_i \tilde w_i^2\,
            \frac{\partial \log w_i}{\partial z_i}\frac{\partial z_i}{\partial \phi}\Big],
        \qquad \nabla_\theta \mathcal L_k = \mathbb E\Big[\sum_i \tilde w_i\,
            \nabla_\theta \log p_\theta(x, z_i)\Big],
        \qquad \tilde w_i = \frac{w_i}{\sum_j w_j}.

    Unbiased, and unlike the plain estimator its encoder signal-to-noise ratio grows with k.
    Implemented with ``log q`` evaluated at parameters with stopped gradients and a gradient
    hook that scales each sample's ``∂/∂z_i`` by :math:`\tilde w_i`, in one backward pass.
    Needs a Gaussian posterior (``Normal`` or ``Independent(Normal)``).

    Example:
        >>> import torch
        >>> from reparam.objectives import iwae
        >>> mu = torch.zeros(3, 2, requires_grad=True)
        >>> q = torch.distributions.Independent(torch.distributions.Normal(mu, 1.0), 1)
        >>> prior = torch.distributions.Independent(torch.distributions.Normal(0.0, torch.ones(2)), 1)
        >>> iwae(prior.log_prob, q, k=5, estimator=DReG()).shape
        torch.Size([3])
    """

    def iwae(self, log_joint: LogJoint, q: Distribution, k: int) -> Tensor:
        k = count("k", k)
        frozen = stop_gradient_normal(q)
        z = q.rsample((k,))
        tapped = z.view_as(z)
        log_w = check_log_weights(log_joint(tapped), q, k) - log_prob(frozen, tapped)
        bound = checked_bound(log_w.detach())
        weights = normalized_weights(log_w.detach())
        if tapped.requires_grad:
            tapped.register_hook(
                lambda grad: grad * weights.view(*weights.shape, *[1] * len(q.event_shape))
            )
        # a sample of zero weight (log w = -inf) adds 0, not 0 * -inf, to the surrogate
        surrogate = (weights * log_w.masked_fill(weights == 0, 0.0)).sum(0)
        return bound + zero_with_gradient(surrogate)


def stop_gradient_normal(q: Distribution) -> Distribution:
    """``q`` with its loc and scale detached (a Normal, or an Independent of one)."""
    if isinstance(q, Independent):
        return Independent(stop_gradient_normal(q.base_dist), q.reinterpreted_batch_ndims)
    require(
        isinstance(q, Normal),
        f"DReG needs a Gaussian posterior (Normal or Independent(Normal)); got "
        f"{type(q).__name__}. Use estimator='pathwise' for other reparameterizable q.",
    )
    return Normal(q.loc.detach(), q.scale.detach())


class VIMCO(BoundEstimator):
    r"""VIMCO: the multi-sample score-function gradient of the IWAE bound (Mnih & Rezende 2016).

    For latents without ``rsample`` (discrete). Each sample's learning signal is the bound
    minus the bound with its own log-weight replaced by the mean of the others' (a geometric-
    mean leave-one-out baseline), so it is unbiased and needs no learned baseline:

    .. math::
        \nabla \mathcal L_k = \mathbb E\Big[\sum_i \big(\hat{\mathcal L} - \hat{\mathcal L}_{-i}\big)
            \nabla \log q(z_i) + \sum_i \tilde w_i \nabla \log w_i\Big],\qquad
        \hat{\mathcal L}_{-i} = \log\frac1k\Big(\sum_{j\neq i} w_j
            + \exp\big(\tfrac{1}{k-1}\textstyle\sum_{j\neq i}\log w_j\big)\Big).

    The k baselines take O(k) memory (:func:`leave_one_out_bounds`). Samples of zero weight
    (:math:`\log p(x, z_i) = -\infty`) are exact: with one of them the bound is the others'
    log-mean-exp plus :math:`\log\frac{k-1}{k}`, the zero-weight sample's baseline is the
    others' (finite), and every other sample's leave-one-out geometric mean, which includes
    the zero weight, is 0. Where all the others of
    sample i have zero weight, :math:`\hat{\mathcal L}_{-i} = -\infty` carries no
    information, and sample i gets no baseline (the signal :math:`\hat{\mathcal L}`, still
    unbiased: the choice depends on the other samples only). A data point whose k samples all
    have zero weight has the bound :math:`-\infty` and gradient 0.

    Needs k ≥ 2.

    Example:
        >>> import torch
        >>> from reparam.objectives import iwae
        >>> logits = torch.zeros(3, 4, requires_grad=True)
        >>> q = torch.distributions.OneHotCategorical(logits=logits)
        >>> iwae(lambda z: (z * torch.arange(4.0)).sum(-1), q, k=5, estimator=VIMCO()).shape
        torch.Size([3])
    """

    def iwae(self, log_joint: LogJoint, q: Distribution, k: int) -> Tensor:
        k = count("k", k, 2, ": VIMCO's leave-one-out signals need k >= 2 samples")
        z = q.sample((k,))
        log_q = log_prob(q, z)
        log_w = check_log_weights(log_joint(z), q, k) - log_q
        bound = checked_bound(log_w)
        signal = learning_signals(log_w.detach(), bound.detach())
        return bound + zero_with_gradient((signal * log_q).sum(0))

    @staticmethod
    def leave_one_out_bounds(log_w: Tensor) -> Tensor:
        r""":math:`\hat{\mathcal L}_{-i}` for every i: :func:`leave_one_out_bounds`."""
        return leave_one_out_bounds(log_w)


def leave_one_out_bounds(log_w: Tensor) -> Tensor:
    r"""VIMCO's baselines :math:`\hat{\mathcal L}_{-i}` for log-weights ``[k, *batch]``, of
    the same shape: the bound with :math:`\log w_i` replaced by the mean of the others',

    .. math::
        \hat{\mathcal L}_{-i} = \operatorname{logaddexp}\Big(
            \log\sum_{j\neq i} w_j,\ \tfrac{1}{k-1}\textstyle\sum_{j\neq i}\log w_j\Big)
            - \log k,

    in O(k) memory: the sums over all but one come from the sum over all
    (:func:`~reparam.estimators.logweights.log_sum_exp_but_one`), not from k sums of k − 1
    terms. Values only (detached). A log-weight of :math:`-\infty` is a zero weight.

    Example:
        >>> leave_one_out_bounds(torch.tensor([0.0, 0.0, -float("inf")]))
        tensor([-1.0986, -1.0986,  0.0000])
    """
    log_w = log_w.detach()
    k = log_w.shape[0]
    return torch.logaddexp(log_sum_exp_but_one(log_w), mean_but_one(log_w)) - math.log(k)


def learning_signals(log_w: Tensor, bound: Tensor) -> Tensor:
    r"""VIMCO's per-sample signals :math:`\hat{\mathcal L} - \hat{\mathcal L}_{-i}`, finite:
    no baseline (0) where :math:`\hat{\mathcal L}_{-i} = -\infty` (every other sample of
    zero weight), and signal 0 where the bound itself is :math:`-\infty`."""
    baseline = leave_one_out_bounds(log_w)
    signal = bound - baseline.masked_fill(torch.isneginf(baseline), 0.0)
    return signal.masked_fill(torch.isneginf(bound), 0.0)

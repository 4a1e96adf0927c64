r"""The first-order Taylor expansion of ``f`` as a control variate: MuProp (unbiased) and
DARN (biased), which differ in the point of the expansion and in the correction term.

Both expand ``f`` around a point :math:`\bar z` of the codes' space,

.. math::
    \tilde f(z) = f(\bar z) + f'(\bar z)^\top (z - \bar z),

and use :math:`\tilde f` as the score function's baseline,
:math:`\big(f(z) - \tilde f(z)\big)\nabla_\theta \log q_\theta(z)`. That baseline depends on
the sample, so its expected contribution,
:math:`\mathbb{E}_q[\tilde f(z)\,\nabla_\theta\log q_\theta(z)]
= \nabla_\theta\mathbb{E}_q[\tilde f(z)] = f'(\bar z)^\top \nabla_\theta\,\mathbb{E}_q[z]`,
is not zero. MuProp adds it back (analytically: :math:`\mathbb{E}_q[z]` is the
probabilities), DARN does not.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.distributions import Bernoulli, Distribution

from reparam.estimators.base import (
    CostFn,
    Estimator,
    evaluate,
    require,
    score_surrogate,
    zero_with_gradient,
)
from reparam.estimators.codes import code_base, code_event_dims, code_mean, sample_codes

POINTS = ("mean", "uniform")


class TaylorControlVariate(Estimator):
    r"""The score function with the first-order Taylor expansion of ``f`` as its baseline.

    .. math::
        \hat g = \frac1n\sum_i \Big[\nabla_\theta f(z_i)
            + \big(f(z_i) - \tilde f(z_i)\big)\nabla_\theta\log q_\theta(z_i)\Big]
            + c\, f'(\bar z)^\top \nabla_\theta\,\mathbb{E}_q[z],
        \qquad \tilde f(z) = f(\bar z) + f'(\bar z)^\top (z - \bar z),

    with :math:`\bar z` held constant (a stop-gradient) and :math:`c = 1` with the correction
    term, 0 without. With it, the estimator is unbiased for any :math:`\bar z`; without it,
    it is biased by :math:`-f'(\bar z)^\top \nabla_\theta \mathbb{E}_q[z]`.
    :class:`MuProp` and :class:`DARN` are its two published forms.

    ``f`` receives exact codes: 0/1 values for Bernoulli, one-hot vectors ``[n, *batch, K]``
    for Categorical (in place of its integer samples) and OneHotCategorical, with
    ``Independent`` wrappers looked through. It is also called once on :math:`\bar z`, a
    tensor ``[1, *batch, *event]`` of values *between* the codes (probabilities), and
    differentiated there by autograd, so ``f`` must accept relaxed inputs and treat each batch
    element apart. An ``f`` that autograd cannot differentiate in ``z`` gets slope 0, and the
    baseline is the constant :math:`f(\bar z)`. The value returned is the Monte Carlo estimate
    of :math:`\mathbb{E}_q[f(z)]`. Without gradients (``torch.no_grad()``) the expansion is
    skipped. Cost: one extra forward and backward pass of ``f`` on one point per batch
    element.

    Arguments:
        point: :math:`\bar z`: ``"mean"`` — the mean-field point :math:`\mathbb{E}_q[z]`, the
            probabilities (MuProp); ``"uniform"`` — ½ for Bernoulli, 1/K for categoricals
            (DARN).
        correction: add the analytic expectation of the baseline's score term back.

    References:
        Gu, Levine, Sutskever & Mnih (2016), MuProp: Unbiased Backpropagation for Stochastic
        Neural Networks; Gregor, Danihelka, Mnih, Blundell & Wierstra (2014), Deep
        AutoRegressive Networks; Jang, Gu & Poole (2017), §3 and Table 1.

    Example:
        >>> import torch, reparam as rp
        >>> q = torch.distributions.Bernoulli(logits=torch.zeros(3, requires_grad=True))
        >>> cost = lambda z: (z - 0.3) ** 2
        >>> rp.expect(cost, q, n=4, estimator=TaylorControlVariate("mean")).shape
        torch.Size([3])
    """

    def __init__(self, point: str = "mean", correction: bool = True) -> None:
        require(point in POINTS, f"point must be one of {', '.join(POINTS)}; got {point!r}.")
        super().__init__()
        self.point = point
        self.correction = correction

    def extra_repr(self) -> str:
        return f"point={self.point!r}, correction={self.correction}"

    def forward(self, f: CostFn, q: Distribution, n: int) -> Tensor:
        name = type(self).__name__
        z, scored = sample_codes(q, n, name)
        cost = evaluate(f, z, q, n)
        if not torch.is_grad_enabled():
            return cost.mean(0)
        mean = code_mean(q, name)
        point = self.expansion_point(q, mean.detach())
        value, slope = value_and_slope(f, point, q)
        event = code_event_dims(q, name)
        baseline = value + sum_event((z - point) * slope, event)
        estimate = score_surrogate(cost, scored, baseline)
        if self.correction:
            estimate = estimate + zero_with_gradient(sum_event(slope * mean, event))
        return estimate

    def expansion_point(self, q: Distribution, mean: Tensor) -> Tensor:
        r""":math:`\bar z`, ``[*batch, *event]``: the detached ``mean`` of the codes, or the
        uniform point."""
        if self.point == "mean":
            return mean
        classes = 2 if isinstance(code_base(q, type(self).__name__), Bernoulli) else mean.shape[-1]
        return torch.full_like(mean, 1.0 / classes)


def sum_event(x: Tensor, event: tuple[int, ...]) -> Tensor:
    """``x`` summed over the dimensions ``event`` (none: ``x`` itself; torch's ``sum(())``
    would sum them all)."""
    return x.sum(event) if event else x


def value_and_slope(f: CostFn, point: Tensor, q: Distribution) -> tuple[Tensor, Tensor]:
    r""":math:`f(\bar z)` ``[*batch]`` and :math:`f'(\bar z)` ``[*batch, *event]``, both
    detached, from one call of ``f`` on ``point`` with a leading sample dimension of 1."""
    with torch.enable_grad():
        at = point.unsqueeze(0).clone().requires_grad_()
        value = evaluate(f, at, q, 1)
        if value.requires_grad:
            (slope,) = torch.autograd.grad(value.sum(), at, allow_unused=True)
        else:
            slope = None
    slope = torch.zeros_like(at) if slope is None else slope
    return value.detach()[0], slope.detach()[0]


class MuProp(TaylorControlVariate):
    r"""MuProp: the Taylor expansion of ``f`` around the mean-field point as a control
    variate, its expectation added back. Unbiased.

    .. math::
        \hat g = \frac1n\sum_i \Big[\nabla_\theta f(z_i)
            + \big(f(z_i) - f(\bar z) - f'(\bar z)^\top (z_i - \bar z)\big)
              \nabla_\theta\log q_\theta(z_i)\Big]
            + f'(\bar z)^\top \nabla_\theta \bar z,
        \qquad \bar z = \mathbb{E}_q[z]

    (:math:`\bar z` constant inside the bracket). The last term is the baseline's expected
    score term, :math:`\nabla_\theta\mathbb{E}_q[f(\bar z) + f'(\bar z)^\top(z - \bar z)]`,
    whose value :math:`f(\bar z) + f'(\bar z)^\top(\mathbb{E}[z] - \bar z) = f(\bar z)` is
    known; it enters as a pathwise term of value 0. For Bernoulli, :math:`\bar z` is the
    probabilities; for Categorical and OneHotCategorical, the probability vectors. ``f`` must
    accept relaxed (non-binary) inputs, is called once more on :math:`\bar z`, and receives
    one-hot vectors for a Categorical q (see :class:`TaylorControlVariate`). The variance falls
    where ``f`` is close to linear in ``z`` over the codes.

    References:
        Gu, Levine, Sutskever & Mnih (2016), MuProp: Unbiased Backpropagation for Stochastic
        Neural Networks, ICLR.

    Example:
        >>> import torch, reparam as rp
        >>> logits = torch.zeros(2, 3, requires_grad=True)
        >>> q = torch.distributions.OneHotCategorical(logits=logits)
        >>> cost = lambda z: ((z * torch.arange(3.0)).sum(-1) - 1.5) ** 2
        >>> rp.expect(cost, q, n=8, estimator=MuProp()).sum().backward()
        >>> logits.grad.shape
        torch.Size([2, 3])
    """

    def __init__(self) -> None:
        super().__init__("mean", correction=True)

    def extra_repr(self) -> str:
        return ""


class DARN(TaylorControlVariate):
    r"""DARN's estimator: the Taylor expansion of ``f`` around the uniform point as a
    baseline, **without** the correction term. **Biased.**

    .. math::
        \hat g = \frac1n\sum_i \Big[\nabla_\theta f(z_i)
            + \big(f(z_i) - f(\bar z) - f'(\bar z)^\top (z_i - \bar z)\big)
              \nabla_\theta\log q_\theta(z_i)\Big],
        \qquad \bar z = \tfrac12 \text{ (Bernoulli)},\ \tfrac1K \text{ (categorical)},

    whose expectation is :math:`\nabla_\theta\mathbb{E}_q[f] - f'(\bar z)^\top \nabla_\theta
    \mathbb{E}_q[z]`: the bias is the Taylor baseline's expected score term, which MuProp adds
    back. For an ``f`` linear in ``z`` the baseline is ``f`` itself and the gradient is 0. It is
    here as the column of Jang et al.'s Table 1; for an unbiased estimator with the same
    baseline use :class:`MuProp`. ``f`` must accept relaxed inputs (see
    :class:`TaylorControlVariate`).

    References:
        Gregor, Danihelka, Mnih, Blundell & Wierstra (2014), Deep AutoRegressive Networks,
        ICML; as used by Jang, Gu & Poole (2017), Categorical Reparameterization with
        Gumbel-Softmax, Table 1.

    Example:
        >>> import torch, reparam as rp
        >>> q = torch.distributions.Bernoulli(logits=torch.zeros(3, requires_grad=True))
        >>> rp.expect(lambda z: (z - 0.3) ** 2, q, n=4, estimator=DARN()).shape
        torch.Size([3])
    """

    def __init__(self) -> None:
        super().__init__("uniform", correction=False)

    def extra_repr(self) -> str:
        return ""

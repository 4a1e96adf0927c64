r"""The concrete relaxation of a Bernoulli or categorical sample, its conditional
reparameterisation :math:`\tilde z \mid b`, and the control-variate estimator that REBAR and
RELAX share.

A discrete sample is a deterministic function of continuous noise, :math:`b = H(z)`:

- Bernoulli, logits :math:`\theta`: :math:`z = \theta + \log u - \log(1-u)`, :math:`u \sim U(0,1)`
  (logistic noise), :math:`b = [z > 0]`, relaxed to :math:`\sigma(z/\tau)`;
- categorical, normalized logits :math:`\theta_k`: :math:`z_k = \theta_k + g_k`, Gumbel
  :math:`g_k`, :math:`b = \arg\max_k z_k`, relaxed to :math:`\mathrm{softmax}(z/\tau)`.

Given :math:`b`, a second draw :math:`\tilde z \sim p(z \mid b)`, reparameterised in
:math:`\theta` with :math:`b` held fixed (Tucker et al. 2017, Appendix B), with fresh noise
:math:`v`:

- Bernoulli: :math:`\tilde z = \theta + \log\tilde u - \log(1-\tilde u)`, where
  :math:`\tilde u = 1 - p\,(1-v)` if :math:`b = 1` and :math:`\tilde u = v\,(1-p)` if
  :math:`b = 0`, :math:`p = \sigma(\theta)` (so :math:`\tilde z > 0` exactly when :math:`b=1`);
- categorical, with :math:`E_k = -\log v_k`: :math:`\tilde z_b = -\log E_b` and
  :math:`\tilde z_k = -\log(E_k e^{-\theta_k} + E_b)` for :math:`k \ne b`.

:math:`z` and :math:`\tilde z` have the same marginal law, and :math:`\tilde z` carries the same
:math:`b` as :math:`z`. For any control variate :math:`c(z)`,

.. math::
    \nabla_\theta \mathbb{E}[f(b)]
      = \mathbb{E}\big[(f(b) - c(\tilde z))\,\nabla_\theta \log p(b)
        + \nabla_\theta c(z) - \nabla_\theta c(\tilde z)\big],

the estimator of :class:`ConditionalRelaxation`, unbiased whatever :math:`c` is.

References:
    Tucker, Mnih, Maddison, Lawson & Sohl-Dickstein (2017), REBAR: Low-variance, unbiased
    gradient estimates for discrete latent variable models, §3 and Appendix B; Grathwohl,
    Choi, Wu, Roeder & Duvenaud (2018), Backpropagation through the Void, §3.3 and App. B.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.distributions import Bernoulli, Distribution

from reparam.checks import positive_real, real
from reparam.estimators.base import (
    CostFn,
    Estimator,
    evaluate,
    zero_with_gradient,
)
from reparam.estimators.codes import code_base
from reparam.estimators.relaxed import gumbel_noise


def log1mexp(x: Tensor) -> Tensor:
    r""":math:`\log(1 - e^x)` for :math:`x \le 0`, accurate at both ends (Mächler 2012)."""
    return torch.where(x > -math.log(2.0), torch.log(-torch.expm1(x)), torch.log1p(-torch.exp(x)))


def uniform(shape: torch.Size, like: Tensor) -> Tensor:
    """Uniform noise in the open interval (0, 1): both logarithms of it stay finite."""
    info = torch.finfo(like.dtype)
    return torch.rand(shape, dtype=like.dtype, device=like.device).clamp_(info.tiny, 1 - info.eps)


def bernoulli_relaxation(logits: Tensor, n: int) -> tuple[Tensor, Tensor]:
    r"""``(b, z)``: :math:`n` Bernoulli samples as floats and their logistic variables
    :math:`z = \theta + \log u - \log(1-u)`, shape ``[n, *logits.shape]``.

    Example:
        >>> b, z = bernoulli_relaxation(torch.zeros(3), 2)
        >>> bool(torch.equal(b, (z > 0).float()))
        True
    """
    u = uniform(torch.Size((n, *logits.shape)), logits)
    z = logits + torch.log(u) - torch.log1p(-u)
    return (z > 0).to(logits.dtype), z


def conditional_bernoulli(logits: Tensor, b: Tensor) -> Tensor:
    r""":math:`\tilde z \sim p(z \mid b)`, reparameterised in the logits with :math:`b` fixed
    (see the module's docstring), computed in log space so that it stays finite for large
    logits.

    Example:
        >>> logits = torch.tensor([-2.0, 0.0, 3.0])
        >>> b = torch.tensor([[1.0, 0.0, 1.0]])
        >>> bool(torch.equal(conditional_bernoulli(logits, b) > 0, b > 0))
        True
    """
    v = uniform(b.shape, logits)
    log_p, log_not_p = F.logsigmoid(logits), F.logsigmoid(-logits)
    log_v, log_not_v = torch.log(v), torch.log1p(-v)
    one = b > 0
    # b = 1: u = 1 - p (1 - v); b = 0: u = v (1 - p)
    log_u = torch.where(one, log1mexp(log_p + log_not_v), log_v + log_not_p)
    log_not_u = torch.where(one, log_p + log_not_v, log1mexp(log_v + log_not_p))
    return logits + log_u - log_not_u


def categorical_relaxation(logits: Tensor, n: int) -> tuple[Tensor, Tensor]:
    r"""``(b, z)``: :math:`n` one-hot categorical samples and their Gumbel variables
    :math:`z = \theta + g`, shape ``[n, *logits.shape]`` (``logits`` normalized). An impossible
    category (logit ``-inf``) is never drawn; its ``z`` is kept finite (its logit taken as 0)
    and masked where the relaxation is taken (:meth:`Latent.relax`).

    Example:
        >>> b, z = categorical_relaxation(torch.tensor([0.0, -torch.inf]), 3)
        >>> b
        tensor([[1., 0.],
                [1., 0.],
                [1., 0.]])
    """
    impossible = torch.isneginf(logits)
    z = logits.masked_fill(impossible, 0.0)
    z = z + gumbel_noise(torch.Size((n, *logits.shape)), logits)
    drawn = z.masked_fill(impossible, -math.inf).argmax(-1)
    return F.one_hot(drawn, logits.shape[-1]).to(logits.dtype), z


def conditional_categorical(logits: Tensor, b: Tensor) -> Tensor:
    r""":math:`\tilde z \sim p(z \mid b)` for one-hot ``b``, reparameterised in the normalized
    ``logits`` with :math:`b` fixed: :math:`\tilde z_b = -\log E_b`,
    :math:`\tilde z_k = -\log(E_k e^{-\theta_k} + E_b)`, :math:`E = -\log v` exponential.

    Example:
        >>> logits = torch.tensor([0.2, 0.5, 0.3]).log()
        >>> b = torch.tensor([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
        >>> bool(torch.equal(conditional_categorical(logits, b).argmax(-1), b.argmax(-1)))
        True
    """
    log_e = torch.log(-torch.log(uniform(b.shape, logits)))
    log_e_b = (log_e * b).sum(-1, keepdim=True)
    others = -torch.logaddexp(log_e - logits, log_e_b)
    return torch.where(b > 0, -log_e_b, others)


@dataclass(frozen=True)
class Latent:
    """A discrete ``q`` seen through its base: its logits (normalized for a categorical), its
    kind, and how many of the base's batch dimensions ``q``'s ``Independent`` wrappers
    reinterpret as event dimensions."""

    logits: Tensor
    categorical: bool
    reinterpreted: int

    @property
    def event_ndim(self) -> int:
        """Event dimensions of a sample in ``f``'s layout (one-hot vectors have one more)."""
        return self.reinterpreted + int(self.categorical)

    def sample(self, n: int) -> tuple[Tensor, Tensor, Tensor]:
        """``(b, z, z̃)``: hard samples in ``f``'s layout, their relaxation variables, and
        the conditional ones."""
        if self.categorical:
            b, z = categorical_relaxation(self.logits, n)
            return b, z, conditional_categorical(self.finite, b)
        b, z = bernoulli_relaxation(self.logits, n)
        return b, z, conditional_bernoulli(self.logits, b)

    @property
    def finite(self) -> Tensor:
        """The logits with an impossible category's ``-inf`` at 0 (its gradient is 0), for
        arithmetic whose result there is masked or multiplied by 0."""
        return self.logits.masked_fill(torch.isneginf(self.logits), 0.0)

    def relax(self, z: Tensor, temperature: Tensor) -> Tensor:
        r""":math:`\sigma(z/\tau)` (Bernoulli) or :math:`\mathrm{softmax}(z/\tau)` (categorical;
        impossible categories exactly 0, with gradient 0)."""
        if not self.categorical:
            return torch.sigmoid(z / temperature)
        impossible = torch.isneginf(self.logits)
        return torch.softmax((z / temperature).masked_fill(impossible, -math.inf), -1)

    def score(self, b: Tensor) -> Tensor:
        r""":math:`\nabla_\theta \log p(b)` per sample, with respect to the logits: ``b − σ(θ)``,
        or ``b − softmax(θ)`` (the gradient with respect to unnormalized logits)."""
        if self.categorical:
            return b - self.logits.softmax(-1)
        return b - torch.sigmoid(self.logits)

    def tangent(self, gradient: Tensor) -> Tensor:
        """A gradient with respect to the normalized logits, projected onto the directions
        that change the distribution (the normalization's Jacobian, transposed): adding a
        constant to every logit changes nothing, so its component along that direction is
        noise."""
        if not self.categorical:
            return gradient
        return gradient - self.logits.softmax(-1) * gradient.sum(-1, keepdim=True)

    def per_element(self, x: Tensor) -> Tensor:
        """Sum ``[*, *base_batch(, K)]`` over the dimensions that ``q`` does not batch."""
        dims = tuple(range(-self.event_ndim, 0))
        return x.sum(dims) if dims else x

    def broadcast(self, signal: Tensor) -> Tensor:
        """A per-sample weight ``[n, *q.batch]`` laid out against ``[n, *base_batch(, K)]``."""
        return signal.reshape(*signal.shape, *[1] * self.event_ndim)


def discrete_latent(q: Distribution, estimator: str) -> Latent:
    """The :class:`Latent` of a Bernoulli, Categorical or OneHotCategorical ``q``, or of an
    ``Independent`` wrapper of one; a ``ValueError`` naming ``estimator`` otherwise."""
    base = code_base(q, estimator)
    categorical = not isinstance(base, Bernoulli)
    return Latent(base.logits, categorical, len(base.batch_shape) - len(q.batch_shape))


class ConditionalRelaxation(Estimator):
    r"""The estimator REBAR and RELAX share, for Bernoulli and categorical latents:

    .. math::
        \hat g = \big(f(b) - c(\tilde z)\big)\,\nabla_\theta \log p(b)
                 + \nabla_\theta c(z) - \nabla_\theta c(\tilde z),

    averaged over ``n`` samples, with :math:`z`, :math:`\tilde z \mid b` as in the module's
    docstring; unbiased for any control variate :math:`c` (a subclass's :meth:`control`).
    :math:`\theta` is the logits tensor of ``q`` (of its base, through ``Independent``): the
    estimate :math:`\hat g` is computed as a tensor, by ``torch.autograd.grad`` of the
    control-variate terms with respect to the logits, and handed to autograd as the gradient
    of the logits, so it flows on to whatever made them (an encoder). ``f``'s own parameters
    (a decoder) get :math:`\nabla f(b)` only, as from the plain Monte Carlo value.

    **How the control variate learns.** Its parameters (:math:`\eta`, :math:`\log\tau`, a
    network's weights) are trained by the gradient of the estimator's variance,
    :math:`\nabla_\phi \operatorname{Var}\hat g = \nabla_\phi \mathbb{E}\lVert\hat g\rVert^2`
    (the mean of :math:`\hat g` does not depend on :math:`\phi`), estimated by
    :math:`\nabla_\phi \lVert\hat g\rVert^2` with :math:`\hat g` computed with
    ``create_graph=True``. The returned tensor carries that gradient in a term of value 0,
    ``u − stop_grad(u)`` with :math:`u = \sum_\phi \langle \nabla_\phi\lVert\hat g\rVert^2,
    \phi\rangle` spread evenly over the batch elements, so the ``loss.backward()`` and
    ``optimizer.step()`` that train the model train the control variate too (with the model's
    optimizer; give them a parameter group of their own for another learning rate). The term
    reaches the control variate's parameters and nothing else: the θ-gradient is the same
    with it and without it. It is left out, with the second-order pass it costs, when the
    estimator is in ``eval()`` mode (a model's ``eval()`` reaches it) or its parameters are
    frozen (``requires_grad_(False)``).
    With ``loss = expect(...).sum()`` the control variate descends exactly
    :math:`\nabla_\phi \lVert\hat g\rVert^2`; ``.mean()`` scales it by one over the batch.

    ``f`` must accept relaxed inputs: probabilities in (0, 1) in place of Bernoulli bits, and
    relaxed one-hot vectors ``[n, *batch, K]`` in place of categorical samples (for a
    ``Categorical`` q too, whose exact samples ``f`` also receives one-hot). The value
    returned is the Monte Carlo estimate :math:`\frac1n\sum_i f(b_i)`.

    Arguments:
        temperature: the initial τ > 0 of the relaxation, learned as ``log_temperature``.
        scale: the initial scale η of the control variate, learned as ``scale``.
    """

    def __init__(self, temperature: float = 0.5, scale: float = 1.0) -> None:
        super().__init__()
        self.log_temperature = nn.Parameter(
            torch.tensor(math.log(positive_real("temperature", temperature)))
        )
        self.scale = nn.Parameter(torch.tensor(real("scale", scale)))

    @property
    def stateful(self) -> bool:
        """True: the learned η, τ (and surrogate) carry over from call to call."""
        return True

    @property
    def temperature(self) -> Tensor:
        """τ = exp(``log_temperature``)."""
        return self.log_temperature.exp()

    @abstractmethod
    def control(self, f: CostFn, relaxed: Tensor, latent: Latent) -> Tensor:
        """The control variate :math:`c` at relaxed samples ``[n, *batch, *event]``, one value
        per sample, ``[n, *batch]``."""

    def forward(self, f: CostFn, q: Distribution, n: int) -> Tensor:
        latent = discrete_latent(q, type(self).__name__)
        b, z, z_tilde = latent.sample(n)
        cost = evaluate(f, b, q, n)
        logits = latent.logits
        if not (torch.is_grad_enabled() and logits.requires_grad):
            return cost.mean(0)
        learned = [p for p in self.parameters() if p.requires_grad] if self.training else []
        gradient = self.gradient(f, latent, b, z, z_tilde, cost, create_graph=bool(learned))
        estimate = cost.mean(0) + zero_with_gradient(
            latent.per_element(gradient.detach() * latent.finite)
        )
        if not learned:
            return estimate
        variance = torch.autograd.grad((gradient**2).sum(), learned, allow_unused=True)
        descent = sum(
            (g.detach() * p).sum() for g, p in zip(variance, learned, strict=True) if g is not None
        )
        return estimate + zero_with_gradient(torch.as_tensor(descent).to(cost)) / max(
            1, cost[0].numel()
        )

    def gradient(
        self,
        f: CostFn,
        latent: Latent,
        b: Tensor,
        z: Tensor,
        z_tilde: Tensor,
        cost: Tensor,
        *,
        create_graph: bool,
    ) -> Tensor:
        r""":math:`\hat g` with respect to the logits, averaged over the samples (dim 0)."""
        tau = self.temperature
        control_tilde = self.control(f, latent.relax(z_tilde, tau), latent)
        # The score term is assembled here, not differentiated in θ: its weight may keep c(z̃)'s
        # graph, which the variance's gradient follows to η, τ and the surrogate.
        weight = cost.detach() - control_tilde
        score = (latent.broadcast(weight) * latent.score(b).detach()).mean(0)
        difference = (self.control(f, latent.relax(z, tau), latent) - control_tilde).mean(0)
        logits = latent.logits
        pathwise = None
        if difference.requires_grad:
            (pathwise,) = torch.autograd.grad(
                difference.sum(), logits, create_graph=create_graph, allow_unused=True
            )
        total = score if pathwise is None else score + latent.tangent(pathwise)
        return total

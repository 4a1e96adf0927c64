r"""NVIL: the score function with an input-dependent learned baseline, a running-mean
baseline and variance normalisation of the learning signal (Mnih & Gregor 2014)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.distributions import Bernoulli, Categorical, Distribution, OneHotCategorical

from reparam.checks import positive_int
from reparam.estimators.base import (
    CostFn,
    Estimator,
    evaluate,
    log_prob,
    require,
    unwrap_independent,
    zero_with_gradient,
)

Context = Tensor | Callable[[Distribution], Tensor]


def default_context(q: Distribution) -> Tensor:
    """The baseline network's input for ``q``: the probabilities of a Bernoulli, Categorical or
    OneHotCategorical ``q`` (inside ``Independent`` wrappers), flattened over everything after
    ``q.batch_shape``, ``[*batch, d]``. In an amortised model they are the encoder's output, a
    function of the data point x."""
    base = unwrap_independent(q)
    require(
        isinstance(base, Bernoulli | Categorical | OneHotCategorical),
        f"NVIL's default context is the probabilities of a Bernoulli, Categorical or "
        f"OneHotCategorical q; for a {type(q).__name__} pass context= (a tensor [*batch, d] "
        f"or a callable q -> tensor), e.g. the data x.",
    )
    probs = base.probs
    batch = q.batch_shape
    return probs.reshape(*batch, math.prod(probs.shape[len(batch) :]))


def baseline_network(hidden: int) -> nn.Module:
    """The default input-dependent baseline: ``LazyLinear(hidden) → tanh → Linear(hidden, 1)``,
    its input size taken at the first call (Mnih & Gregor's one hidden layer of 100 tanh
    units)."""
    return nn.Sequential(nn.LazyLinear(hidden), nn.Tanh(), nn.Linear(hidden, 1))


class NVIL(Estimator):
    r"""Neural variational inference and learning: the score function with a learned,
    input-dependent baseline, a running-mean baseline and variance normalisation.

    .. math::
        \hat g = \frac1n\sum_i \Big[\nabla_\theta f(z_i)
            + s_{t}\,\big(f(z_i) - b_\psi(x) - c_{t}\big)\nabla_\theta\log q_\theta(z_i)\Big],
        \qquad s_{t} = \frac{1}{\max(1, \sigma_{t})},

    where :math:`b_\psi(x)` is a small network of a *context* x (below), :math:`c_t` and
    :math:`\sigma_t^2` are exponential moving averages (decay α, bias-corrected) of the mean
    and variance of the residual :math:`r = f - b_\psi(x)` over the samples and the batch
    of **earlier** calls, and t counts the calls. Nothing in the bracket depends on the sample
    it multiplies, so:

    - with ``normalise=False`` the estimator is **unbiased**;
    - with ``normalise=True`` (the paper's), its score term is scaled by the positive constant
      :math:`s_t`, known before the call (:attr:`scale`): for an ``f`` that depends on θ only
      through the samples, :math:`\mathbb{E}[\hat g] = s_t\,\nabla_\theta\mathbb{E}_q[f]`, the
      exact gradient's direction, rescaled by the same number for every parameter. A
      pathwise gradient of ``f`` (a decoder's) is not scaled.

    The network is trained to minimise :math:`\tfrac12 s_t (f - b_\psi(x) - c_t)^2`, the
    squared error of the whole baseline :math:`b_\psi + c_t` scaled as the learning signal
    (the paper's update), averaged over the samples: the returned tensor carries that term with
    value 0, and only ψ gets its gradient (``f`` and the context are detached), so one
    ``loss.backward(); optimizer.step()`` over a model that owns the estimator trains both.
    The value returned is the Monte Carlo estimate of :math:`\mathbb{E}_q[f(z)]`.

    **The context.** :math:`b_\psi` must not see the sample z; it may see anything else. By
    default it receives the detached probabilities of q flattened over its event dimensions,
    ``[*batch, d]``: in an amortised posterior q(z | x) those are a function of x, which is
    what the paper's :math:`b_\psi(x)` needs, without the estimator knowing x. Pass
    ``context`` to choose: a tensor ``[*batch, d]`` (a trainer may assign
    ``estimator.context = x`` before each call, as it anneals a temperature) or a callable
    ``q -> [*batch, d]``. Distributions other than Bernoulli and categorical need one.

    State: the buffers ``average`` and ``square`` (float64 scalars: the moving averages of r
    and r²) and ``steps`` (int64), and the network's parameters, all in the ``state_dict`` of a
    model that owns the estimator. The default network is lazy (``nn.LazyLinear``): its input
    size is set by the first call, so call the estimator once before building an optimiser
    that inspects shapes, or before loading a checkpoint into a fresh estimator the
    optimiser has not seen (``load_state_dict`` sets the size too). A call whose mean residual
    is not finite (an empty batch) leaves the moving averages as they were. Every other call
    moves them, with or without gradients, as :class:`~reparam.estimators.MovingAverage` does.

    Works on any ``q`` with ``sample`` and ``log_prob`` (``f`` receives what ``q.sample``
    returns: integers for ``Categorical``).

    Arguments:
        network: the baseline network, a module mapping ``[*batch, d]`` to ``[*batch]`` or
            ``[*batch, 1]``; ``None``: :func:`baseline_network` (``hidden`` units).
        input_dependent: use a learned baseline at all (``False``: only the running mean).
        hidden: the default network's hidden width.
        running_mean: subtract :math:`c_t` (``False``: :math:`c_t = 0`).
        normalise: divide the learning signal by :math:`\max(1, \sigma_t)`.
        decay: α of the moving averages, in [0, 1) (the paper's 0.8).
        context: the network's input (above); ``None``: q's probabilities.

    References:
        Mnih & Gregor (2014), Neural Variational Inference and Learning in Belief Networks,
        ICML, §3 and Algorithm 1.

    Example:
        >>> import torch, reparam as rp
        >>> nvil = NVIL(hidden=8)  # stateful: create it once and own it
        >>> logits = torch.zeros(5, 3, requires_grad=True)
        >>> q = torch.distributions.Independent(torch.distributions.Bernoulli(logits=logits), 1)
        >>> loss = rp.expect(lambda z: (z.sum(-1) - 1) ** 2, q, n=4, estimator=nvil).sum()
        >>> loss.backward()  # gradients for the logits and for nvil's network
        >>> int(nvil.steps), nvil.network[0].weight.grad.shape
        (1, torch.Size([8, 3]))
    """

    pools_rows = True

    average: Tensor
    square: Tensor
    steps: Tensor

    def __init__(
        self,
        network: nn.Module | None = None,
        *,
        input_dependent: bool = True,
        hidden: int = 100,
        running_mean: bool = True,
        normalise: bool = True,
        decay: float = 0.8,
        context: Context | None = None,
    ) -> None:
        require(0.0 <= decay < 1.0, f"decay must lie in [0, 1); got {decay}.")
        require(
            input_dependent or network is None,
            "network was given with input_dependent=False; drop one of them.",
        )
        super().__init__()
        self.network = (
            (network if network is not None else baseline_network(positive_int("hidden", hidden)))
            if input_dependent
            else None
        )
        self.running_mean = running_mean
        self.normalise = normalise
        self.decay = decay
        self.context = context
        self.register_buffer("average", torch.zeros((), dtype=torch.float64))
        self.register_buffer("square", torch.zeros((), dtype=torch.float64))
        self.register_buffer("steps", torch.zeros((), dtype=torch.int64))

    def extra_repr(self) -> str:
        options = [f"decay={self.decay}"]
        if self.network is None:
            options.append("input_dependent=False")
        if not self.running_mean:
            options.append("running_mean=False")
        if not self.normalise:
            options.append("normalise=False")
        return ", ".join(options)

    @property
    def centre(self) -> Tensor:
        """:math:`c_t`, the running mean of the residual ``f − b_ψ`` over earlier calls (0
        before the first call, or with ``running_mean=False``), float64."""
        if not self.running_mean:
            return torch.zeros_like(self.average)
        return self.average / self._correction()

    @property
    def scale(self) -> Tensor:
        r""":math:`s_t = 1/\max(1, \sigma_t)`, the factor of the next call's score term (1 with
        ``normalise=False`` or before the first call), float64."""
        if not self.normalise:
            return torch.ones_like(self.average)
        correction = self._correction()
        mean = self.average / correction
        variance = (self.square / correction - mean**2).clamp(min=0.0)
        return 1.0 / variance.sqrt().clamp(min=1.0)

    def _correction(self) -> Tensor:
        decay = torch.full_like(self.average, self.decay)
        return torch.where(self.steps > 0, 1.0 - decay**self.steps, 1.0)

    def learned_baseline(self, q: Distribution) -> Tensor | None:
        r""":math:`b_\psi` of ``q``'s context, ``[*batch]``, differentiable in ψ only (``None``
        without an input-dependent baseline)."""
        if self.network is None:
            return None
        context = self.context
        if context is None:
            context = default_context(q)
        elif callable(context) and not isinstance(context, Tensor):
            context = context(q)
        batch = q.batch_shape
        require(
            isinstance(context, Tensor) and context.shape[:-1] == batch and context.dim() > 0,
            f"NVIL's context must be a tensor [*q.batch_shape, d] = [{', '.join(map(str, batch))}"
            f", d]; got {tuple(context.shape) if isinstance(context, Tensor) else context!r}.",
        )
        like = next(self.network.parameters(), None)
        context = context.detach()
        if like is not None:
            context = context.to(dtype=like.dtype, device=like.device)
        out = self.network(context)
        if out.shape == (*batch, 1):
            out = out.squeeze(-1)
        require(
            out.shape == batch,
            f"NVIL's network must map [*batch, d] to [*batch] or [*batch, 1]; it returned "
            f"{tuple(out.shape)} for batch {tuple(batch)}.",
        )
        return out

    def forward(self, f: CostFn, q: Distribution, n: int) -> Tensor:
        z = q.sample((n,))
        cost = evaluate(f, z, q, n)
        scored = log_prob(q, z)
        learned = self.learned_baseline(q)
        centre, scale = self.centre.to(cost.dtype), self.scale.to(cost.dtype)
        residual = cost.detach()
        if learned is not None:
            learned = learned.to(cost.dtype)
            residual = residual - learned.detach()
        signal = (residual - centre) * scale
        estimate = cost.mean(0) + zero_with_gradient((signal * scored).mean(0))
        if learned is not None:
            error = cost.detach() - centre - learned
            estimate = estimate + zero_with_gradient((0.5 * scale * error**2).mean(0))
        self._update(residual)
        return estimate

    def _update(self, residual: Tensor) -> None:
        """Move the averages of r and r² by this call's, unless its mean is not finite."""
        with torch.no_grad():
            mean = residual.mean().to(self.average)
            square = (residual**2).mean().to(self.average)
            finite = torch.isfinite(mean) & torch.isfinite(square)
            keep, new = self.decay, 1.0 - self.decay
            self.average.copy_(torch.where(finite, keep * self.average + new * mean, self.average))
            self.square.copy_(torch.where(finite, keep * self.square + new * square, self.square))
            self.steps.add_(finite.to(self.steps.dtype))

"""Gumbel-max sampling, the Gumbel-softmax relaxation and straight-through estimators, and the
straight-through Gumbel-softmax distribution whose ``log_prob`` scores the relaxed sample."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.distributions import (
    Bernoulli,
    Categorical,
    Distribution,
    Independent,
    OneHotCategorical,
    RelaxedBernoulli,
    RelaxedOneHotCategorical,
)

from reparam.estimators.base import CostFn, Estimator, evaluate, require, unwrap_independent

SCORES = ("discrete", "relaxed")


def gumbel_noise(shape: torch.Size | tuple[int, ...], like: Tensor) -> Tensor:
    r"""Standard Gumbel noise :math:`g = -\log(-\log u)`, always finite.

    ``u`` is kept in ``[tiny, 1 − eps/2]`` so that neither logarithm reaches ±inf: torch's own
    sampler can draw an exponential of exactly 0, whose ``-log`` is ``+inf``, and ``+inf`` plus a
    ``-inf`` logit is NaN.
    """
    info = torch.finfo(like.dtype)
    u = torch.rand(shape, dtype=like.dtype, device=like.device).clamp_(info.tiny, 1.0 - info.eps)
    return u.log_().neg_().log_().neg_()


def relaxable_logits(q: Distribution, estimator: str) -> tuple[Tensor, bool]:
    """The logits of a Bernoulli, Categorical or OneHotCategorical ``q`` (possibly wrapped in
    ``Independent``; normalized, ``[*batch, K]``, for the categoricals) and whether it is a
    Bernoulli."""
    base = unwrap_independent(q)
    if isinstance(base, Bernoulli):
        return base.logits, True
    require(
        isinstance(base, Categorical | OneHotCategorical),
        f"{estimator} needs a Bernoulli, Categorical or OneHotCategorical q (or an Independent "
        f"of one); got {type(q).__name__}. Use 'pathwise' for continuous q with rsample, or "
        f"'score'.",
    )
    return base.logits, False


def relaxed_bernoulli(
    logits: Tensor, temperature: float | Tensor, sample_shape: torch.Size
) -> Tensor:
    r"""Binary Concrete samples :math:`y = \sigma((\ell + \log u - \log(1 - u))/\tau)`,
    :math:`u \sim U(0, 1)`, shape ``sample_shape + logits.shape``: the second class of a
    two-class Gumbel-softmax sample with logits :math:`(0, \ell)` (the difference of two
    Gumbel variables is logistic), drawn with half the noise.

    ``u`` stays inside (0, 1), so the noise is finite; a logit of ±inf (a unit that is
    surely 0 or 1) gives exactly 0 or 1 with gradient 0, also for a learned τ.

    References:
        Maddison, Mnih & Teh (2017), The Concrete Distribution, §3.3.

    Example:
        >>> y = relaxed_bernoulli(torch.tensor([-1e4, 0.0, float("inf")]), 0.5, torch.Size([2]))
        >>> y.shape, y[:, 0].tolist(), y[:, 2].tolist()
        (torch.Size([2, 3]), [0.0, 0.0], [1.0, 1.0])
    """
    info = torch.finfo(logits.dtype)
    shape = torch.Size(sample_shape) + logits.shape
    u = torch.rand(shape, dtype=logits.dtype, device=logits.device)
    u = u.clamp_(info.tiny, 1.0 - info.eps)
    noise = u.log() - torch.log1p(-u)
    certain = torch.isinf(logits)
    soft = torch.sigmoid((logits.masked_fill(certain, 0.0) + noise) / temperature)
    return torch.where(certain, (logits > 0).to(soft), soft)


def gumbel_max(logits: Tensor, sample_shape: torch.Size | tuple[int, ...] = ()) -> Tensor:
    r"""Exact categorical samples :math:`\arg\max_i(\log\pi_i + g_i)`, :math:`g_i \sim` Gumbel(0, 1).

    Returns integer indices of shape ``sample_shape + logits.shape[:-1]``.

    References:
        Gumbel (1954); Maddison, Tarlow & Minka (2014), A* Sampling.

    Example:
        >>> gumbel_max(torch.tensor([0.0, 1.0, -1.0]), (4,)).shape
        torch.Size([4])
    """
    shape = torch.Size(sample_shape) + logits.shape
    return (logits + gumbel_noise(shape, logits)).argmax(-1)


def relaxed_one_hot(
    logits: Tensor, temperature: float | Tensor, sample_shape: torch.Size
) -> Tensor:
    r"""Gumbel-softmax samples :math:`y = \mathrm{softmax}((\log\pi + g)/\tau)`, shape
    ``sample_shape + logits.shape``.

    The noise is always finite (see :func:`gumbel_noise`) and the softmax subtracts its
    maximum, so logits of ±1e4 and temperatures down to 1e-6 give finite values and
    gradients. A category of probability 0 (logit ``-inf``) gets exactly 0 and gradient 0:
    its ``-inf`` bypasses the division by τ, whose derivative there,
    :math:`-(\log\pi_i + g_i)/\tau^2 = +\infty`, would make a learned τ's gradient NaN.
    """
    shape = torch.Size(sample_shape) + logits.shape
    impossible = torch.isneginf(logits)
    perturbed = logits.masked_fill(impossible, 0.0) + gumbel_noise(shape, logits)
    return torch.softmax((perturbed / temperature).masked_fill(impossible, -math.inf), -1)


def straight_through(hard: Tensor, soft: Tensor) -> Tensor:
    """Value of ``hard``, gradient of ``soft``."""
    return hard + (soft - soft.detach())


def quantize(soft: Tensor, bernoulli: bool = False) -> Tensor:
    """``one_hot(argmax soft)`` (for Bernoulli units ``soft > ½``) in value, the gradient of
    ``soft``, carrying ``soft`` as its ``_unquantize`` attribute (Pyro's name), which the
    straight-through distributions' ``log_prob`` scores."""
    if bernoulli:
        rounded = (soft > 0.5).to(soft)
    else:
        rounded = F.one_hot(soft.argmax(-1), soft.shape[-1]).to(soft)
    hard = straight_through(rounded, soft)
    hard._unquantize = soft  # type: ignore[attr-defined]
    return hard


class RelaxedOneHotCategoricalStraightThrough(RelaxedOneHotCategorical):
    r"""The Gumbel-softmax (Concrete) distribution with straight-through samples, as Pyro's
    ``RelaxedOneHotCategoricalStraightThrough``:

    - ``rsample`` returns the one-hot vector ``one_hot(argmax y)`` of a relaxed sample
      :math:`y = \mathrm{softmax}((\log\pi + g)/\tau)`, whose gradient is that of ``y``;
    - ``log_prob`` of such a sample is the Concrete density of ``y``, the *relaxed* sample
      (a one-hot vector has density 0 or is off the support): the sample carries ``y`` as
      its ``_unquantize`` attribute. Any other value is scored as it is.

    So an ELBO built from such a posterior and prior,
    :math:`\log p(x \mid z) + \log p_\tau(y) - \log q_\tau(y)`, feeds the decoder the
    discrete code and scores the relaxed one. The
    attribute lives on the sample tensor: an operation that makes a new tensor (a view, an
    ``unsqueeze``) loses it, so score the sample as ``rsample`` returned it. Sampling is
    :func:`relaxed_one_hot`'s (finite for extreme logits and temperatures).

    References:
        Maddison, Mnih & Teh (2017), The Concrete Distribution; Jang, Gu & Poole (2017),
        Categorical Reparameterization with Gumbel-Softmax; Pyro's
        ``pyro.distributions.RelaxedOneHotCategoricalStraightThrough``.

    Example:
        >>> q = RelaxedOneHotCategoricalStraightThrough(torch.tensor(0.5), logits=torch.zeros(3))
        >>> z = q.rsample((2,))
        >>> z.sum(-1), bool(torch.isfinite(q.log_prob(z)).all())
        (tensor([1., 1.]), True)
    """

    def rsample(self, sample_shape: torch.Size | tuple[int, ...] = ()) -> Tensor:
        return quantize(relaxed_one_hot(self.logits, self.temperature, torch.Size(sample_shape)))

    def log_prob(self, value: Tensor) -> Tensor:
        return super().log_prob(getattr(value, "_unquantize", value))


class RelaxedBernoulliStraightThrough(RelaxedBernoulli):
    r"""The binary Concrete distribution with straight-through samples, as Pyro's
    ``RelaxedBernoulliStraightThrough``: ``rsample`` returns :math:`\mathbb 1[y > \frac12]`
    with the gradient of the relaxed :math:`y` (:func:`relaxed_bernoulli`), and ``log_prob``
    scores the relaxed ``y`` the sample carries (see
    :class:`RelaxedOneHotCategoricalStraightThrough`).

    Example:
        >>> q = RelaxedBernoulliStraightThrough(torch.tensor(0.5), logits=torch.zeros(3))
        >>> z = q.rsample((2,))
        >>> sorted(set(z.flatten().tolist())) <= [0.0, 1.0], bool(torch.isfinite(q.log_prob(z)).all())
        (True, True)
    """

    def rsample(self, sample_shape: torch.Size | tuple[int, ...] = ()) -> Tensor:
        soft = relaxed_bernoulli(self.logits, self.temperature, torch.Size(sample_shape))
        return quantize(soft, bernoulli=True)

    def log_prob(self, value: Tensor) -> Tensor:
        return super().log_prob(getattr(value, "_unquantize", value))


def relaxed(q: Distribution, temperature: float | Tensor, hard: bool) -> Distribution:
    """The Concrete relaxation of a Bernoulli, Categorical or OneHotCategorical ``q`` at
    ``temperature`` (straight-through if ``hard``), with ``q``'s ``Independent`` wrappers
    kept; unchecked, as its samples are the estimator's."""
    if isinstance(q, Independent):
        return Independent(
            relaxed(q.base_dist, temperature, hard),
            q.reinterpreted_batch_ndims,
            validate_args=False,
        )
    logits, bernoulli = relaxable_logits(q, "a relaxed score")
    if bernoulli:
        kind = RelaxedBernoulliStraightThrough if hard else RelaxedBernoulli
    else:
        kind = RelaxedOneHotCategoricalStraightThrough if hard else RelaxedOneHotCategorical
    tau = torch.as_tensor(temperature, dtype=logits.dtype, device=logits.device)
    return kind(tau, logits=logits, validate_args=False)


class GumbelSoftmax(Estimator):
    r"""Gumbel-softmax (Concrete) relaxation of a categorical or Bernoulli latent.

    .. math::
        y_i = \frac{\exp((\log\pi_i + g_i)/\tau)}{\sum_j \exp((\log\pi_j + g_j)/\tau)},
        \qquad g_i \sim \mathrm{Gumbel}(0, 1)

    ``f`` receives relaxed one-hot vectors ``[n, *batch, K]`` (for a ``Categorical`` q too, in
    place of its integer samples). For a ``Bernoulli`` q it receives binary Concrete values
    :math:`y = \sigma((\ell + \log u - \log(1-u))/\tau) \in (0, 1)` of q's shape — the
    two-class relaxation with logits :math:`(0, \ell)` (:func:`relaxed_bernoulli`). The
    returned value is the relaxed objective
    :math:`\mathbb{E}_g[f(y)]`; the gradient is pathwise through ``y``. Biased for τ > 0, the
    bias vanishing and the variance growing as τ → 0.

    With ``hard=True`` (straight-through Gumbel), ``f`` receives the exact one-hot sample
    ``one_hot(argmax y)`` (for Bernoulli units :math:`\mathbb 1[y > \frac12]`), so the value is the unbiased Monte Carlo estimate of
    :math:`\mathbb{E}_q[f(z)]`, and the gradient is that of the relaxed ``y``; the sample
    carries ``y`` (see :class:`RelaxedOneHotCategoricalStraightThrough`).

    ``score`` says which density the ELBO's KL term scores (:func:`reparam.objectives.elbo`):
    ``"discrete"`` (default) — the categorical q and prior, by their analytic KL; ``"relaxed"``
    — their Concrete relaxations at this temperature, at the relaxed sample ``y`` (one-sample
    :math:`\log q_\tau(y) - \log p_\tau(y)`, pathwise), which with ``hard=True`` is the
    objective of Pyro's ``RelaxedOneHotCategoricalStraightThrough``:

    .. math::
        \mathbb{E}_g\bigl[\log p(x \mid \mathrm{one\_hot}(\arg\max y))
            + \log p_\tau(y) - \log q_\tau(y)\bigr].

    :meth:`relax` gives those relaxations, for an ``f`` of ``expect`` that scores samples itself.

    Arguments:
        temperature: τ > 0, a float or a tensor. It is a plain attribute, so a trainer
            anneals it by assigning ``estimator.temperature = tau`` before a step; an
            ``nn.Parameter`` is registered as a parameter and can be learned.
        hard: straight-through one-hot forward values (``"st-gumbel"`` in the vocabulary).
        score: ``"discrete"`` or ``"relaxed"`` (with ``hard=True``: ``"st-gumbel-relaxed"``).

    References:
        Jang, Gu & Poole (2017), Categorical Reparameterization with Gumbel-Softmax;
        Maddison, Mnih & Teh (2017), The Concrete Distribution.

    Example:
        >>> import torch, reparam as rp
        >>> q = torch.distributions.OneHotCategorical(logits=torch.zeros(4, requires_grad=True))
        >>> value = rp.expect(lambda y: y[..., 0], q, n=16, estimator=GumbelSoftmax(0.5))
    """

    def __init__(
        self, temperature: float | Tensor = 1.0, hard: bool = False, score: str = "discrete"
    ) -> None:
        tau = torch.as_tensor(temperature).detach()
        require(
            bool(torch.all((tau > 0) & torch.isfinite(tau))),
            f"the temperature must be positive and finite; got {temperature}.",
        )
        require(score in SCORES, f"score must be one of {', '.join(SCORES)}; got {score!r}.")
        super().__init__()
        self.temperature = temperature
        self.hard = hard
        self.score = score

    def extra_repr(self) -> str:
        scored = "" if self.score == "discrete" else f", score={self.score!r}"
        return f"temperature={self.temperature!r}, hard={self.hard}{scored}"

    def relax(self, q: Distribution) -> Distribution:
        """The Concrete relaxation of the categorical or Bernoulli ``q`` at this temperature,
        whose ``log_prob`` scores this estimator's samples at their relaxed value."""
        return relaxed(q, self.temperature, self.hard)

    def forward(self, f: CostFn, q: Distribution, n: int) -> Tensor:
        logits, bernoulli = relaxable_logits(q, "gumbel-softmax")
        draw = relaxed_bernoulli if bernoulli else relaxed_one_hot
        y = draw(logits, self.temperature, torch.Size((n,)))
        return evaluate(f, quantize(y, bernoulli) if self.hard else y, q, n).mean(0)


class StraightThrough(Estimator):
    r"""Straight-through gradient for Bernoulli and categorical latents, optionally with
    slope annealing.

    The forward value uses exact samples :math:`z \sim q`, so the value is the plain Monte
    Carlo estimate; the backward pass treats :math:`\partial z/\partial p` as the identity,
    :math:`z \approx p + (z - p)` with :math:`z - p` held constant. Biased, low variance.
    For Categorical and OneHotCategorical, ``f`` receives one-hot vectors ``[n, *batch, K]``.
    ``Independent`` wrappers are looked through, so a vector of latents (a VAE's 20
    categorical codes, say) gets one cost per sample of the whole vector.

    **Slope annealing** (Chung, Ahn & Bengio 2017): the backward surrogate is
    :math:`p_s = \sigma(s\,a)` (Bernoulli) or :math:`\mathrm{softmax}(s\,a)` (categorical),
    for logits :math:`a` and a slope :math:`s \ge 1` that grows over training, so the
    gradient :math:`\partial p_s/\partial a = s\,\sigma'(s a)` approaches the step
    function's. The samples are still drawn from q, whatever s is. The schedule is

    .. math:: s_t = \min(s_{\max},\ 1 + r\,t),

    with t the number of earlier calls made in training mode (``module.train()``, the default;
    ``model.eval()`` holds it). t is the buffer ``steps`` (int64), so a model that owns the
    estimator checkpoints it and a resumed run continues the schedule exactly. Without
    ``slope_annealing`` the slope is 1: today's straight-through, with no state.

    Arguments:
        slope_annealing: r, the slope's growth per training call (``None``: no annealing).
        max_slope: :math:`s_{\max}` (Chung et al. cap it at 5).

    References:
        Bengio, Léonard & Courville (2013), Estimating or Propagating Gradients Through
        Stochastic Neurons for Conditional Computation; Chung, Ahn & Bengio (2017),
        Hierarchical Multiscale Recurrent Neural Networks, §3.3 (slope annealing); Jang, Gu
        & Poole (2017), Table 1 ("annealed ST").

    Example:
        >>> import torch, reparam as rp
        >>> q = torch.distributions.Bernoulli(logits=torch.zeros(3, requires_grad=True))
        >>> rp.expect(lambda z: z, q, n=4, estimator=StraightThrough()).shape
        torch.Size([3])
        >>> annealed = StraightThrough(slope_annealing=0.5, max_slope=2.0)
        >>> for _ in range(3):
        ...     _ = rp.expect(lambda z: z, q, n=4, estimator=annealed)
        >>> int(annealed.steps), float(annealed.slope)  # s = min(2, 1 + 0.5 t)
        (3, 2.0)
    """

    steps: Tensor

    def __init__(self, slope_annealing: float | None = None, max_slope: float = 5.0) -> None:
        if slope_annealing is not None:
            require(
                math.isfinite(slope_annealing) and slope_annealing > 0,
                f"slope_annealing must be a positive finite rate (or None); got {slope_annealing}.",
            )
            require(
                math.isfinite(max_slope) and max_slope >= 1,
                f"max_slope must be a finite number >= 1; got {max_slope}.",
            )
        super().__init__()
        self.slope_annealing = slope_annealing
        self.max_slope = max_slope
        if slope_annealing is not None:
            self.register_buffer("steps", torch.zeros((), dtype=torch.int64))

    def extra_repr(self) -> str:
        if self.slope_annealing is None:
            return ""
        return f"slope_annealing={self.slope_annealing}, max_slope={self.max_slope}"

    @property
    def slope(self) -> Tensor:
        """The slope s of the next call, a float64 scalar (1 without annealing)."""
        if self.slope_annealing is None:
            return torch.ones((), dtype=torch.float64)
        grown = 1.0 + self.slope_annealing * self.steps.to(torch.float64)
        return grown.clamp(max=self.max_slope)

    def forward(self, f: CostFn, q: Distribution, n: int) -> Tensor:
        logits, bernoulli = relaxable_logits(q, "straight-through")
        annealed = self.slope_annealing is not None
        if bernoulli:
            base = unwrap_independent(q)
            hard = base.sample((n,))
            probs = torch.sigmoid(self._sloped(logits)) if annealed else base.probs
        else:
            probs = (self._sloped(logits) if annealed else logits).softmax(-1)
            hard = F.one_hot(gumbel_max(logits, (n,)), logits.shape[-1]).to(probs)
        if annealed and self.training:
            self.steps.add_(1)
        return evaluate(f, straight_through(hard, probs), q, n).mean(0)

    def _sloped(self, logits: Tensor) -> Tensor:
        return logits * self.slope.to(logits)

"""``expect``: the one entry point for gradients of expectations."""

from __future__ import annotations

from torch import Tensor
from torch.distributions import Distribution

from reparam.checks import count
from reparam.estimators import Estimator, as_estimator
from reparam.estimators.base import CostFn


def expect(
    f: CostFn, q: Distribution, *, n: int = 1, estimator: str | Estimator = "auto"
) -> Tensor:
    r"""Monte Carlo estimate of :math:`\mathbb{E}_{q(z)}[f(z)]` that differentiates by ``estimator``.

    Draws ``n`` samples on a new leading dimension, ``z`` of shape
    ``(n, *q.batch_shape, *q.event_shape)``, calls ``f(z)``, which must return one cost per
    sample (shape ``(n, *q.batch_shape)``), and returns a tensor of ``q.batch_shape``. Its value
    is :math:`\frac1n\sum_i f(z_i)` (for the relaxed estimators, the relaxed objective; for
    ``"enumerate"``, the exact sum); its gradient, with respect to q's parameters and to
    anything ``f`` closes over, is the estimator's. Value and gradient travel in one tensor,
    through a surrogate whose extra terms are zero in value (the first-order "magic box"
    :math:`u - \lfloor u\rfloor`, with :math:`\lfloor\cdot\rfloor` the stop-gradient), so
    results compose with ordinary autograd, optimizers and each other.

    .. math::
        \nabla_\theta\,\mathtt{expect}(f, q_\theta) \approx \nabla_\theta\,\mathbb{E}_{q_\theta}[f(z)]

    Arguments:
        f: cost function, samples ``[n, *batch, *event]`` to costs ``[n, *batch]``.
        q: any ``torch.distributions.Distribution``.
        n: number of samples, an integer ≥ 1 (a bool is refused); ``"enumerate"`` ignores it.
        estimator: an :class:`~reparam.estimators.Estimator` object, or a spec of the
            vocabulary (``reparam.estimators.names("elbo")``: ``"auto"``, ``"pathwise"``,
            ``"score"``, ``"score+leave-one-out"``, ``"grep"``, ``"gumbel-softmax"``, ...).
            ``"auto"`` is pathwise when ``q.has_rsample``, else the score function with a
            leave-one-out baseline when n > 1 and without a baseline at n = 1
            (:mod:`reparam.estimators.auto`).

    ``expect`` holds no state: a spec is parsed into a new estimator on every call, and the
    stateful spec ``"score+moving-average"`` is refused here. An estimator that learns across
    calls is an object its caller creates once and keeps — ``est =
    reparam.estimators.parse("score+moving-average")`` — ideally as a submodule of the model,
    whose ``state_dict`` (and so every checkpoint) then carries the baseline.

    An empty batch (a ``q`` whose batch shape holds a 0) gives an empty result, with every
    estimator, and leaves a stateful estimator's state as it was. A category of probability 0
    (a logit of ``-inf``) gets gradient 0, never NaN.

    References:
        Mohamed, Rosca, Figurnov & Mnih (2020), Monte Carlo Gradient Estimation in Machine
        Learning, JMLR; Foerster et al. (2018), DiCE.

    Example:
        >>> import torch, reparam as rp
        >>> mu = torch.tensor(0.0, requires_grad=True)
        >>> loss = rp.expect(lambda z: (z - 3) ** 2, torch.distributions.Normal(mu, 1.0), n=16)
        >>> loss.backward()  # mu.grad estimates d/dmu E[(z - 3)^2] = 2 (mu - 3) = -6
    """
    n = count(
        "n",
        n,
        hint=" (the number of samples). For an exact expectation without sampling use "
        "estimator='enumerate' (finite support).",
    )
    if not isinstance(q, Distribution):
        raise ValueError(f"q must be a torch.distributions.Distribution; got {type(q).__name__}.")
    return as_estimator(estimator, objective="elbo")(f, q, n)

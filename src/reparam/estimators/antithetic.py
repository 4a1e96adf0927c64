r"""ARM and DisARM: unbiased gradients for Bernoulli latents from antithetic pairs.

One uniform :math:`u \sim U(0, 1)^D` gives two codes of the same Bernoulli(σ(α)) law,

.. math:: b = \mathbb{1}[u < \sigma(\alpha)], \qquad \tilde b = \mathbb{1}[1 - u < \sigma(\alpha)],

negatively correlated, and the gradient in the logits α is a difference of the two costs.
``n`` samples are ``n/2`` such pairs (``n`` even), so ``f`` is called once on ``n`` codes, as
by the other estimators, and the value returned is their mean, the Monte Carlo estimate of
:math:`\mathbb{E}_q[f(z)]`. The gradient :math:`\hat g_\alpha` enters through the logits as
the zero-valued term :math:`\hat g_\alpha^\top\alpha - \lfloor\hat g_\alpha^\top\alpha\rfloor`,
so it reaches whatever computes α (an encoder), and ``f``'s own parameters get the pathwise
gradient of the mean cost.
"""

from __future__ import annotations

from abc import abstractmethod

import torch
from torch import Tensor
from torch.distributions import Bernoulli, Distribution

from reparam.estimators.base import (
    CostFn,
    Estimator,
    evaluate,
    require,
    unwrap_independent,
    zero_with_gradient,
)


def bernoulli_logits(q: Distribution, estimator: str) -> Tensor:
    """The logits ``[*batch, *event]`` of a Bernoulli ``q`` (or an ``Independent`` of one), or
    a ``ValueError`` naming the estimators that take other latents."""
    base = unwrap_independent(q)
    require(
        isinstance(base, Bernoulli),
        f"{estimator} is for Bernoulli latents (or an Independent of them); got "
        f"{type(q).__name__}"
        + (f" of {type(base).__name__}" if base is not q else "")
        + ". For Categorical or OneHotCategorical use 'muprop', 'nvil', 'relax' or "
        "'score+leave-one-out' (ARM's categorical form, ARSM, is not implemented).",
    )
    return base.logits


class Antithetic(Estimator):
    r"""The estimators built on antithetic Bernoulli pairs: a subclass gives
    :meth:`pair_gradient`, the per-pair gradient in the logits."""

    def forward(self, f: CostFn, q: Distribution, n: int) -> Tensor:
        name = type(self).__name__
        require(
            n % 2 == 0,
            f"{name} draws n/2 antithetic pairs and needs an even n; got n={n} (use n={n + 1}).",
        )
        logits = bernoulli_logits(q, name)
        pairs = n // 2
        u = torch.rand((pairs, *logits.shape), dtype=logits.dtype, device=logits.device)
        alpha = logits.detach()
        b = (u < torch.sigmoid(alpha)).to(alpha.dtype)
        antithetic = (u > torch.sigmoid(-alpha)).to(alpha.dtype)
        cost = evaluate(f, torch.cat([b, antithetic]), q, n)
        first, second = cost.detach().split(pairs)
        event = logits.dim() - len(q.batch_shape)
        difference = (first - second).reshape(*first.shape, *[1] * event)
        grad = self.pair_gradient(difference, u, b, antithetic, alpha).mean(0)
        through = (grad * logits).sum(tuple(range(-event, 0))) if event else grad * logits
        return cost.mean(0) + zero_with_gradient(through)

    @abstractmethod
    def pair_gradient(
        self, difference: Tensor, u: Tensor, b: Tensor, antithetic: Tensor, alpha: Tensor
    ) -> Tensor:
        r"""The gradient in the logits from each pair, ``[n/2, *batch, *event]``, given
        :math:`f(b) - f(\tilde b)` (broadcast over the event dimensions), u, b, b̃ and α."""


class ARM(Antithetic):
    r"""ARM, the augment-REINFORCE-merge estimator for Bernoulli latents. Unbiased.

    .. math::
        \hat g_{\alpha} = \big(f(\tilde b) - f(b)\big)\,\big(u - \tfrac12\big),
        \qquad b = \mathbb{1}[u < \sigma(\alpha)],\ \tilde b = \mathbb{1}[u > \sigma(-\alpha)],

    per coordinate of the logits α, averaged over ``n/2`` pairs (``n`` must be even).
    Works on Bernoulli and ``Independent(Bernoulli)``, batched over samples and data; ``f``
    receives 0/1 codes only (it need not be differentiable or accept relaxed inputs). A
    Categorical or OneHotCategorical q is refused: ARM's categorical form, ARSM (Yin, Yue &
    Zhou 2019), is out of scope here.

    References:
        Yin & Zhou (2019), ARM: Augment-REINFORCE-Merge Gradient for Stochastic Binary
        Networks, ICLR.

    Example:
        >>> import torch, reparam as rp
        >>> q = torch.distributions.Bernoulli(logits=torch.zeros(3, requires_grad=True))
        >>> rp.expect(lambda z: (z - 0.3) ** 2, q, n=4, estimator=ARM()).shape
        torch.Size([3])
    """

    def pair_gradient(
        self, difference: Tensor, u: Tensor, b: Tensor, antithetic: Tensor, alpha: Tensor
    ) -> Tensor:
        return -difference * (u - 0.5)


class DisARM(Antithetic):
    r"""DisARM, ARM with the augmentation integrated out. Unbiased, and never of higher
    variance than ARM for one pair.

    .. math::
        \hat g_{\alpha} = \tfrac12\,\big(f(b) - f(\tilde b)\big)\,
            (-1)^{\tilde b}\,\mathbb{1}[b \ne \tilde b]\,\sigma(|\alpha|),
        \qquad b = \mathbb{1}[u < \sigma(\alpha)],\ \tilde b = \mathbb{1}[1 - u < \sigma(\alpha)],

    per coordinate of the logits α, averaged over ``n/2`` pairs (``n`` must be even): a
    coordinate whose two codes agree gets no signal. Works on Bernoulli and
    ``Independent(Bernoulli)``, batched over samples and data; ``f`` receives 0/1 codes only.
    Categorical q is refused (as for :class:`ARM`).

    References:
        Dong, Mnih & Tucker (2020), DisARM: An Antithetic Gradient Estimator for Binary
        Latent Variables, NeurIPS.

    Example:
        >>> import torch, reparam as rp
        >>> logits = torch.zeros(5, 3, requires_grad=True)
        >>> q = torch.distributions.Independent(torch.distributions.Bernoulli(logits=logits), 1)
        >>> rp.expect(lambda z: z.sum(-1) ** 2, q, n=2, estimator=DisARM()).shape
        torch.Size([5])
    """

    def pair_gradient(
        self, difference: Tensor, u: Tensor, b: Tensor, antithetic: Tensor, alpha: Tensor
    ) -> Tensor:
        sign = 1.0 - 2.0 * antithetic
        return 0.5 * difference * sign * (b != antithetic) * torch.sigmoid(alpha.abs())

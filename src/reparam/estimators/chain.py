r"""Expectations over a chain of stochastic layers, each layer's gradient seeing only the costs
downstream of it: nested :func:`reparam.expect`.

For a chain :math:`q(z_1)\,q(z_2 \mid z_1) \cdots q(z_L \mid z_{L-1})` with a cost
:math:`c_l(z_1, \dots, z_l)` at each layer,

.. math::
    \mathbb E\Big[\sum_l c_l\Big]
      = \mathbb E_{z_1}\Big[c_1(z_1) + \mathbb E_{z_2 \mid z_1}\big[c_2(z_1, z_2)
        + \mathbb E_{z_3 \mid z_2}[\cdots]\big]\Big],

and :func:`expect_chain` computes exactly this nesting: the cost that layer :math:`l`'s
estimator sees is :math:`c_l` plus the inner expectation, so a score-function term of layer
:math:`l` is weighted by the costs from layer :math:`l` down only. The upstream costs
:math:`c_1, \dots, c_{l-1}` are constants given :math:`z_{<l}`; multiplying
:math:`\nabla \log q(z_l \mid z_{l-1})` by them, as the flat score function of the joint
does, adds variance and no information (Schulman et al. 2015, stochastic computation graphs).
Every per-sample estimator of the vocabulary applies at every layer; relaxed and
straight-through estimators pass their relaxed samples down, so the inner layers' gradients
flow through them by autograd.

:class:`DiscreteChain` is the same chain as one ``Distribution`` of the joint
:math:`(z_1, \dots, z_L)` (``sample`` and ``log_prob``), for the estimators that need the
joint: VIMCO's multi-sample bound, or the flat score function.

Sample shapes: layer :math:`l`'s samples carry one new leading dimension for each layer at or
above it, ``z_l`` of shape ``[n_l, ..., n_1, *batch, *event]``; a cost must broadcast its
arguments (``z_1 [n_1, B, d]`` against ``z_2 [n_2, n_1, B, d]`` broadcasts as it is) and
return ``[n_l, ..., n_1, *batch]``.

References:
    Schulman, Heess, Weber & Abbeel (2015), Gradient Estimation Using Stochastic Computation
    Graphs; Foerster et al. (2018), DiCE; Jang, Gu & Poole (2017), §4.1 (the two-layer
    sigmoid belief network).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar

import torch
from torch import Tensor
from torch.distributions import Distribution, constraints

from reparam.checks import count
from reparam.estimators.base import Estimator
from reparam.estimators.vocabulary import as_estimator

Link = Callable[[Tensor], Distribution]
Cost = Callable[..., Tensor] | None


def per_layer(name: str, value: object, layers: int) -> list:
    """``value`` repeated for each of ``layers`` layers, or a sequence of that length."""
    if isinstance(value, list | tuple):
        if len(value) != layers:
            raise ValueError(f"{name} names {len(value)} layers; the chain has {layers}.")
        return list(value)
    return [value] * layers


def expect_chain(
    root: Distribution,
    links: Sequence[Link],
    costs: Sequence[Cost],
    *,
    n: int | Sequence[int] = 1,
    estimator: str | Estimator | Sequence[str | Estimator] = "auto",
) -> Tensor:
    r""":math:`\mathbb E[\sum_l c_l(z_1, \dots, z_l)]` over the chain ``root``, ``links``, with
    each layer's gradient from its own estimator and its downstream costs only.

    .. math::
        V_l(z_{<l}) = \mathbb E_{q(z_l \mid z_{l-1})}\big[c_l(z_{\le l})
            + V_{l+1}(z_{\le l})\big], \qquad \text{result} = V_1

    Arguments:
        root: :math:`q(z_1)`; its batch shape is the result's.
        links: ``links[l](z)`` is :math:`q(z_{l+2} \mid z_{l+1} = z)` given the previous
            layer's samples (as the estimator drew them: one-hot, relaxed, straight-through).
        costs: one per layer (``len(links) + 1``): ``costs[l](z_1, ..., z_{l+1})`` returns the
            cost of layer ``l + 1``, or ``None`` for none.
        n: samples drawn per layer (and per sample of the layer above); one int for all.
        estimator: a spec or an :class:`~reparam.estimators.Estimator` per layer (one for
            all). A stateful estimator (a learned baseline, REBAR's η) should be one object
            a layer, owned by the caller, since its state is fitted to that layer.

    Returns:
        the estimate, shape ``root.batch_shape``; its gradient is each layer's estimator's,
        with the layer's score terms weighted by the costs downstream of it.

    Example:
        >>> import torch
        >>> from torch.distributions import Bernoulli
        >>> a = torch.zeros(3, requires_grad=True)
        >>> value = expect_chain(
        ...     Bernoulli(logits=a),
        ...     [lambda z1: Bernoulli(logits=2 * z1 - 1)],
        ...     [lambda z1: z1, lambda z1, z2: (z2 - z1) ** 2],
        ...     n=4,
        ...     estimator="score+leave-one-out",
        ... )
        >>> value.shape
        torch.Size([3])
    """
    layers = len(links) + 1
    if len(costs) != layers:
        raise ValueError(
            f"costs must hold one entry (a function or None) per layer: the chain has {layers} "
            f"layers (root + {len(links)} links); got {len(costs)}."
        )
    counts = [count("n", k) for k in per_layer("n", n, layers)]
    estimators = [as_estimator(e) for e in per_layer("estimator", estimator, layers)]

    def value(level: int, q: Distribution, above: tuple[Tensor, ...]) -> Tensor:
        def cost(z: Tensor) -> Tensor:
            samples = (*above, z)
            total = costs[level](*samples) if costs[level] is not None else None
            if level + 1 < layers:
                inner = value(level + 1, links[level](z), samples)
                total = inner if total is None else total + inner
            if total is None:
                return torch.zeros(z.shape[: 1 + len(q.batch_shape)], device=z.device)
            return total

        return estimators[level](cost, q, counts[level])

    return value(0, root, ())


class DiscreteChain(Distribution):
    r"""The joint :math:`q(z_1) \prod_{l>1} q(z_l \mid z_{l-1})` of a chain of layers, one
    sample the tuple of layers concatenated along the last dimension.

    ``sizes`` are the layers' flattened event sizes (the last dimension of each layer's
    samples after ``flatten``); ``shapes`` their event shapes. ``log_prob`` sums the layers'
    conditional log-probabilities. No gradient flows through the samples (``sample``), which
    suits the score-function family: VIMCO on the joint, or the flat score function.

    Example:
        >>> import torch
        >>> from torch.distributions import Bernoulli, Independent
        >>> root = Independent(Bernoulli(logits=torch.zeros(2, 3)), 1)
        >>> link = lambda z: Independent(Bernoulli(logits=z), 1)
        >>> q = DiscreteChain(root, [link], [(3,), (3,)])
        >>> z = q.sample((5,))
        >>> z.shape, q.log_prob(z).shape
        (torch.Size([5, 2, 6]), torch.Size([5, 2]))
    """

    arg_constraints: ClassVar[dict] = {}
    support = constraints.independent(constraints.real, 1)

    def __init__(
        self, root: Distribution, links: Sequence[Link], shapes: Sequence[tuple[int, ...]]
    ) -> None:
        if len(shapes) != len(links) + 1:
            raise ValueError(f"shapes must give {len(links) + 1} event shapes; got {len(shapes)}.")
        self.root, self.links, self.shapes = root, list(links), [tuple(s) for s in shapes]
        self.sizes = [int(torch.Size(s).numel()) for s in self.shapes]
        super().__init__(root.batch_shape, torch.Size((sum(self.sizes),)), validate_args=False)

    def layers(self, value: Tensor) -> list[Tensor]:
        """The layers of joint samples ``value``, each in its event shape."""
        parts = value.split(self.sizes, -1)
        return [p.reshape(*p.shape[:-1], *s) for p, s in zip(parts, self.shapes, strict=True)]

    def sample(self, sample_shape: torch.Size | tuple[int, ...] = ()) -> Tensor:
        with torch.no_grad():
            z = self.root.sample(sample_shape)
            parts = [z]
            for link in self.links:
                z = link(z).sample()
                parts.append(z)
        lead = len(sample_shape) + len(self.batch_shape)
        floats = [p.dtype for p in parts if p.is_floating_point()]
        dtype = floats[0] if floats else torch.get_default_dtype()
        return torch.cat([p.flatten(lead).to(dtype) for p in parts], -1)

    def log_prob(self, value: Tensor) -> Tensor:
        parts = self.layers(value)
        total = self.root.log_prob(parts[0])
        for link, previous, current in zip(self.links, parts[:-1], parts[1:], strict=True):
            total = total + link(previous).log_prob(current)
        return total

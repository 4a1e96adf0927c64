r"""The sigmoid belief network of Jang, Gu & Poole (2017), §4.1: structured output prediction,
the bottom half of a binarized digit from its top half, through stochastic layers."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.distributions import Distribution

from reparam.checks import count, positive_int
from reparam.estimators import BoundEstimator, Estimator
from reparam.estimators.chain import DiscreteChain, expect_chain
from reparam.models.discrete_layers import check_kind, code_layer, code_values
from reparam.objectives import iwae


class SigmoidBeliefNet(nn.Module):
    r""":math:`p(y \mid x) = \sum_{z} p(z_1 \mid x) \prod_{l>1} p(z_l \mid z_{l-1})\,
    p(y \mid z_L)`, every factor an affine map followed by sigmoids (Bernoulli units) or
    softmaxes (one-hot groups).

    The paper's models are 392–200–200–392 (``kind="bernoulli"``, ``units=200``) and
    392–(20×10)–(20×10)–392 (``kind="categorical"``, ``units=20`` groups of ``classes=10``):
    ``x`` the top half of a binarized MNIST digit, ``y`` the bottom half. Training minimises
    :math:`\mathbb E_{z \sim p(z \mid x)}[-\log p(y \mid z_L)]` (:meth:`loss`, through
    :func:`~reparam.estimators.chain.expect_chain`, so that each layer's score term sees only
    the costs below it; here the one cost sits at the bottom) or the multi-sample bound
    :math:`-\log \frac1k \sum_i p(y \mid z^{(i)})` (:meth:`bound`, for VIMCO); the evaluation is
    :meth:`nll` with m = 1000.

    References:
        Neal (1992), Connectionist learning of belief networks; Jang, Gu & Poole (2017),
        Categorical Reparameterization with Gumbel-Softmax, §4.1 and Table 1; Raiko et al.
        (2015), Techniques for learning binary stochastic feedforward neural networks.

    Example:
        >>> model = SigmoidBeliefNet(8, 8, units=5)
        >>> x, y = torch.ones(3, 8), torch.zeros(3, 8)
        >>> model.loss(x, y, "score").shape, model.nll(x, y, m=10).shape
        (torch.Size([3]), torch.Size([3]))
    """

    def __init__(
        self,
        x_dim: int = 392,
        y_dim: int = 392,
        kind: str = "bernoulli",
        units: int = 200,
        classes: int = 10,
        layers: int = 2,
    ) -> None:
        super().__init__()
        for name, value in (("x_dim", x_dim), ("y_dim", y_dim), ("units", units)):
            positive_int(name, value)
        positive_int("layers", layers)
        self.kind, self.units = check_kind(kind), units
        self.classes = positive_int("classes", classes) if kind == "categorical" else 1
        self.x_dim, self.y_dim = x_dim, y_dim
        code = units * self.classes
        self.maps = nn.ModuleList(nn.Linear(x_dim if i == 0 else code, code) for i in range(layers))
        self.out = nn.Linear(code, y_dim)

    @property
    def shape(self) -> tuple[int, ...]:
        """One layer's event shape."""
        return (self.units, self.classes) if self.kind == "categorical" else (self.units,)

    def layer(self, index: int, inputs: Tensor) -> Distribution:
        """:math:`p(z_{l} \\mid \\cdot)` of layer ``index`` given its input vector."""
        logits = self.maps[index](inputs)
        if self.kind == "categorical":
            logits = logits.unflatten(-1, (self.units, self.classes))
        return code_layer(logits, self.kind)

    def links(self) -> list:
        """The chain's links: layer ``l``'s samples to layer ``l + 1``'s distribution."""
        return [
            (lambda z, i=i: self.layer(i, code_values(z, self.kind)))
            for i in range(1, len(self.maps))
        ]

    def log_likelihood(self, y: Tensor, z: Tensor) -> Tensor:
        r""":math:`\log p(y \mid z_L)`: the last layer's samples ``[*, B, *event]`` to ``[*, B]``."""
        logits = self.out(code_values(z, self.kind))
        return -F.binary_cross_entropy_with_logits(
            logits, y.expand_as(logits), reduction="none"
        ).sum(-1)

    def loss(
        self,
        x: Tensor,
        y: Tensor,
        estimator: str | Estimator | Sequence[str | Estimator] = "score",
        n: int = 1,
    ) -> Tensor:
        r""":math:`\mathbb E[-\log p(y \mid z_L)]` of each row, ``[B]``, ``n`` samples a layer,
        with ``estimator``'s gradient at each layer (one spec or object for all, or one a
        layer; a stateful one should be one object a layer)."""
        costs = [None] * (len(self.maps) - 1) + [lambda *z: -self.log_likelihood(y, z[-1])]
        return expect_chain(self.layer(0, x), self.links(), costs, n=n, estimator=estimator)

    def joint(self, x: Tensor) -> DiscreteChain:
        """:math:`p(z_1, \\dots, z_L \\mid x)` as one distribution."""
        return DiscreteChain(self.layer(0, x), self.links(), [self.shape] * len(self.maps))

    def bound(
        self, x: Tensor, y: Tensor, k: int, estimator: str | BoundEstimator = "vimco"
    ) -> Tensor:
        r""":math:`-\log \frac1k \sum_i p(y \mid z^{(i)})`, ``[B]``, with a bound estimator
        (VIMCO) over the joint of the layers. The samples come from the model's own
        :math:`p(z \mid x)`, so the importance weights are :math:`p(y \mid z)`: the bound's
        "joint" is :math:`\log p(y \mid z) + \log p(z \mid x)`, whose second term cancels
        the bound's :math:`-\log q(z)` (in value and in gradient)."""
        q = self.joint(x)

        def log_joint(z: Tensor) -> Tensor:
            return self.log_likelihood(y, q.layers(z)[-1]) + q.log_prob(z)

        return -iwae(log_joint, q, k, estimator)

    @torch.no_grad()
    def nll(self, x: Tensor, y: Tensor, m: int = 1000, chunk: int = 100) -> Tensor:
        r""":math:`-\log \frac1m \sum_{i=1}^m p(y \mid z^{(i)})`, :math:`z^{(i)} \sim p(z \mid x)`,
        of each row, drawing ``chunk`` samples at a time (memory grows with ``chunk``)."""
        m, chunk = count("m", m), count("chunk", chunk)
        q = self.joint(x)
        total = x.new_full(x.shape[:-1], -math.inf)
        for start in range(0, m, chunk):
            z = q.sample((min(chunk, m - start),))
            log_p = self.log_likelihood(y, q.layers(z)[-1])
            total = torch.logaddexp(total, torch.logsumexp(log_p, 0))
        return math.log(m) - total

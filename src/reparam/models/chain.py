"""A chain of conditionally Gaussian latent layers as one distribution."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar

import torch
from torch import Tensor
from torch.distributions import Distribution, constraints

from reparam.models.networks import diagonal_normal

Link = Callable[[Tensor], tuple[Tensor, ...]]


class GaussianChain(Distribution):
    r""":math:`q(z_1, \dots, z_L) = q(z_1) \prod_{l>1} \mathcal N(z_l \mid \mu_l(z_{l-1}), \sigma_l(z_{l-1}))`.

    ``root`` is the first layer's distribution (an ``Independent(Normal)``); each link maps the
    previous layer's sample to the next layer's ``(loc, scale, ...)``. Samples are the layers
    concatenated along the last dimension, in chain order, or reversed with ``reverse=True``
    (a generative chain runs top-down but lays its latents out bottom-up, like the posterior).
    The IWAE paper's two-stochastic-layer posterior and prior are such chains.
    """

    arg_constraints: ClassVar[dict] = {}
    support = constraints.independent(constraints.real, 1)
    has_rsample = True

    def __init__(
        self, root: Distribution, links: Sequence[Link], sizes: Sequence[int], reverse: bool = False
    ) -> None:
        self.root, self.links, self.sizes, self.reverse = root, list(links), list(sizes), reverse
        super().__init__(root.batch_shape, torch.Size((sum(sizes),)), validate_args=False)

    def rsample(self, sample_shape: torch.Size | tuple[int, ...] = ()) -> Tensor:
        z = self.root.rsample(sample_shape)
        parts = [z]
        for link in self.links:
            loc, scale = link(z)[:2]
            z = loc + scale * torch.randn_like(loc)
            parts.append(z)
        return torch.cat(parts[::-1] if self.reverse else parts, -1)

    def log_prob(self, value: Tensor) -> Tensor:
        sizes = self.sizes[::-1] if self.reverse else self.sizes
        parts = list(value.split(sizes, -1))
        parts = parts[::-1] if self.reverse else parts
        total = self.root.log_prob(parts[0])
        for link, previous, current in zip(self.links, parts[:-1], parts[1:], strict=True):
            loc, scale = link(previous)[:2]
            total = total + diagonal_normal(loc, scale).log_prob(current)
        return total

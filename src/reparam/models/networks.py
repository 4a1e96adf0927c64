"""Building blocks: tanh MLPs and diagonal-Gaussian heads."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.distributions import Independent, Normal


def diagonal_normal(loc: Tensor, scale: Tensor) -> Independent:
    """:math:`\\mathcal N(\text{loc}, \\operatorname{diag}(\text{scale}^2))` over the last
    dimension. Argument checks are off: the models build these on every step, and the
    checks cost a device synchronisation each."""
    return Independent(Normal(loc, scale, validate_args=False), 1, validate_args=False)


def mlp(
    sizes: Sequence[int], activation: type[nn.Module] = nn.Tanh, last: bool = True
) -> nn.Sequential:
    """Linear layers between consecutive ``sizes``, each followed by ``activation`` (the last
    one too when ``last``)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(a, b))
        if last or i < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


class GaussianHead(nn.Module):
    r"""``x → tanh MLP → (loc, scale, h)``: a diagonal Gaussian over ``out_dim`` and the last
    hidden layer ``h`` (flows take their amortized parameters from it).

    The scale is :math:`\exp(\cdot)` of a linear output, as in the IWAE paper.
    """

    def __init__(self, in_dim: int, hidden: Sequence[int], out_dim: int) -> None:
        super().__init__()
        self.body = mlp([in_dim, *hidden])
        self.loc = nn.Linear(hidden[-1], out_dim)
        self.log_scale = nn.Linear(hidden[-1], out_dim)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        h = self.body(x)
        return self.loc(h), torch.exp(self.log_scale(h)), h

"""Building blocks: tanh MLPs and diagonal-Gaussian heads."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn
from torch.distributions import Independent, Normal

from reparam.checks import positive_int


def diagonal_normal(loc: Tensor, scale: Tensor) -> Independent:
    """:math:`\\mathcal N(\text{loc}, \\operatorname{diag}(\text{scale}^2))` over the last
    dimension. Argument checks are off: the models build these on every step, and the
    checks cost a device synchronisation each."""
    return Independent(Normal(loc, scale, validate_args=False), 1, validate_args=False)


def mlp(
    sizes: Sequence[int],
    activation: Callable[[], nn.Module] = nn.Tanh,
    last: bool | nn.Module = True,
    dropout: float | None = None,
) -> nn.Sequential:
    """The one MLP builder: linear layers between consecutive ``sizes``, each hidden one
    followed by ``activation()`` (and ``nn.Dropout(dropout)`` when given). ``last`` says what
    follows the output layer: ``True`` the activation too, ``False`` nothing, a module (such
    as ``nn.Sigmoid()``) that module.

    Example:
        >>> mlp([4, 8, 2], nn.ReLU, last=False, dropout=0.5)
        Sequential(
          (0): Linear(in_features=4, out_features=8, bias=True)
          (1): ReLU()
          (2): Dropout(p=0.5, inplace=False)
          (3): Linear(in_features=8, out_features=2, bias=True)
        )
    """
    if len(sizes) < 2:
        raise ValueError(
            f"sizes must list at least two widths (inputs, outputs), got {list(sizes)}"
        )
    for size in sizes:
        positive_int(f"every entry of sizes {list(sizes)}", size)
    if dropout is not None and not (isinstance(dropout, int | float) and 0 <= dropout < 1):
        raise ValueError(f"dropout must be a probability in [0, 1), got {dropout!r}")
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(activation())
            if dropout is not None:
                layers.append(nn.Dropout(dropout))
        elif last is True:
            layers.append(activation())
        elif isinstance(last, nn.Module):
            layers.append(last)
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

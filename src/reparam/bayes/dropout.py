r"""Variational dropout (Kingma, Salimans & Welling 2015): Gaussian dropout whose rates α are
learned by variational inference under the log-uniform prior p(log|w|) ∝ const.

Gaussian dropout multiplies by ξ ~ N(1, α) (α = p / (1 − p) matches Bernoulli dropout at
rate p). With weights θ and the local reparameterization trick, the pre-activations of
inputs a are Gaussian with mean aθᵀ and variance

- type A (noise per input unit, shared by that unit's outgoing weights; α per input unit):
  :math:`\operatorname{Var}(b_{mj}) = \sum_i α_i a_{mi}^2 θ_{ji}^2`;
- type B (independent noise per weight; α per weight):
  :math:`\operatorname{Var}(b_{mj}) = \sum_i α_{ji} a_{mi}^2 θ_{ji}^2`.

The KL from the (improper) log-uniform prior depends on α alone; the paper's fit, accurate
for α ≤ 1 (to which α is clipped, as in the paper), is

.. math:: -\mathrm{KL} ≈ C + \tfrac12 \log α + c_1 α + c_2 α^2 + c_3 α^3,
          \quad c_1 = 1.16145124,\ c_2 = -1.50204118,\ c_3 = 0.58629921,

reported here without the constant C, so the KL is defined up to an additive constant (its
gradient is exact). For type A each input's α is counted once per outgoing weight, the KL of
the weights' marginals.

References:
    Kingma, Salimans & Welling (2015), Variational dropout and the local reparameterization
    trick, NeurIPS, section 3.3 and appendix.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from reparam.bayes.layers import Bayesian, example_scale, std_from_variance
from reparam.checks import last_dim, positive_int

C1, C2, C3 = 1.16145124, -1.50204118, 0.58629921
KINDS = ("A", "B")


def variational_dropout_kl(log_alpha: Tensor) -> Tensor:
    r"""Kingma et al.'s approximation of :math:`\mathrm{KL}(q(w\mid θ, α)\,\|\,p(w))` under the
    log-uniform prior, elementwise, up to a constant, with α clipped at 1.

    >>> variational_dropout_kl(torch.tensor([0.0]))  # α = 1
    tensor([-0.2457])
    """
    log_alpha = log_alpha.clamp(max=0.0)
    alpha = log_alpha.exp()
    return -(0.5 * log_alpha + C1 * alpha + C2 * alpha**2 + C3 * alpha**3)


class VariationalDropoutLinear(Bayesian):
    r"""A fully connected layer with learned Gaussian dropout rates, trained through the local
    reparameterization trick (see the module docstring).

    Arguments:
        in_features, out_features, bias: as ``nn.Linear``.
        kind: ``"A"`` (α per input unit) or ``"B"`` (α per weight).
        init_alpha: the starting α in (0, 1]; 1 is dropout at p = 1/2.

    >>> layer = VariationalDropoutLinear(4, 3, kind="B")
    >>> layer(torch.randn(2, 4)).shape, layer.log_alpha.shape
    (torch.Size([2, 3]), torch.Size([3, 4]))
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        *,
        kind: str = "A",
        init_alpha: float = 1.0,
    ) -> None:
        super().__init__()
        positive_int("in_features", in_features)
        positive_int("out_features", out_features)
        if kind not in KINDS:
            raise ValueError(f"unknown variational dropout kind {kind!r}; choose from A or B")
        if isinstance(init_alpha, bool) or not isinstance(init_alpha, int | float):
            raise TypeError(f"init_alpha must be a number in (0, 1], got {init_alpha!r}")
        if not 0 < init_alpha <= 1:
            raise ValueError(
                f"init_alpha must lie in (0, 1] (the KL fit's range), got {init_alpha}"
            )
        self.kind = kind
        self.linear = nn.Linear(in_features, out_features, bias)
        shape = (in_features,) if kind == "A" else (out_features, in_features)
        self.log_alpha = nn.Parameter(torch.full(shape, math.log(init_alpha)))

    @property
    def alpha(self) -> Tensor:
        """The dropout variances, clipped at 1."""
        return self.log_alpha.clamp(max=0.0).exp()

    def forward(self, x: Tensor) -> Tensor:
        last_dim("x", x, self.linear.in_features, "the layer's in_features")
        weight = self.linear.weight
        mean = self.linear(x)
        # each example divided by a power of two, so that x² neither overflows nor underflows
        scale = example_scale(x, -1)
        scaled = x / scale
        if self.kind == "A":
            var = F.linear(scaled * scaled * self.alpha, weight**2)
        else:
            var = F.linear(scaled * scaled, self.alpha * weight**2)
        return mean + std_from_variance(var, scale) * torch.randn_like(mean)

    def kl(self) -> Tensor:
        kl = variational_dropout_kl(self.log_alpha).sum()
        return kl * self.linear.out_features if self.kind == "A" else kl

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}"

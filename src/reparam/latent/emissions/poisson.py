r"""Poisson emissions (hmmlearn's ``PoissonHMM``): each of D counts is Poisson with a rate of
the state, :math:`\log b_k(x) = \sum_d \big(x_d \log λ_{kd} - λ_{kd} - \log x_d!\big)`;
observations are non-negative integer counts [B, T, D].

Letter ``"l"`` (hmmlearn's): the rates, whose M step is the γ-weighted mean
:math:`λ_k = \sum_{n,t} γ_t(k) x_t / \sum_{n,t} γ_t(k)` (hmmlearn's update with its default
prior, ``lambdas_prior = lambdas_weight = 0``). The initialisation (``init_params``) draws
every rate from a gamma distribution matching the mean and variance of all counts, as
hmmlearn.

>>> p = Poisson(1, dim=2, dtype=torch.float64)
>>> p.set_params(lambdas=[[2.0, 0.5]])
>>> round(p.log_prob(torch.tensor([[[1.0, 0.0]]], dtype=torch.float64)).exp().item(), 6)  # 2e⁻² · e^-0.5
0.16417
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from reparam.latent.emissions.base import Emissions, keep_unvisited, numpy_generator, refuse


class Poisson(Emissions):
    """Rates ``lambdas_`` [K, D] (parameter ``log_lambdas``)."""

    family = "poisson"
    letters = "l"
    attributes = ("lambdas_", "log_lambdas")

    def __init__(
        self, n_states: int, dim: int, dtype: torch.dtype, generator: torch.Generator | None = None
    ) -> None:
        super().__init__(n_states)
        self.dim = dim
        rates = torch.rand(n_states, dim, generator=generator, dtype=dtype) + 0.5
        self.log_lambdas = nn.Parameter(rates.log())

    @property
    def lambdas_(self) -> Tensor:
        """The rates [K, D] (detached), hmmlearn's attribute."""
        return self.log_lambdas.detach().exp()

    def prepare(self, x: Tensor, mask: Tensor) -> Tensor:
        if x.shape[-1] != self.dim:
            raise ValueError(f"x must have {self.dim} features, got {x.shape[-1]}")
        if x.is_complex() or x.dtype == torch.bool:
            raise ValueError(f"poisson x must hold counts, got dtype {x.dtype}")
        x = x.to(self.log_lambdas.dtype).masked_fill(~mask[..., None], 0.0)
        whole = (x >= 0) & (x == x.round()) & torch.isfinite(x)
        refuse(~whole.all(-1), x, "hold non-negative integer counts")
        return x

    def log_prob(self, x: Tensor) -> Tensor:
        # a rate of 0 has log-rate −∞: the dtype's minimum keeps 0 · it at 0
        log_rate = self.log_lambdas.clamp_min(torch.finfo(x.dtype).min)
        norm = torch.lgamma(x + 1).sum(-1)
        return x @ log_rate.T - self.log_lambdas.exp().sum(-1) - norm[..., None]

    @torch.no_grad()
    def m_step(self, x: Tensor, gamma: Tensor, letters: str) -> None:
        if "l" not in letters:
            return
        weight = gamma.sum((0, 1))
        sums = torch.einsum("btk,btd->kd", gamma, x)
        new = (sums / weight.clamp_min(torch.finfo(x.dtype).tiny)[:, None]).log()
        self.log_lambdas.copy_(keep_unvisited(weight, new, self.log_lambdas))

    def n_parameters(self) -> dict[str, int]:
        return {"l": self.n_states * self.dim}

    def parameters_for(self, letters: str) -> list[nn.Parameter]:
        return [self.log_lambdas] if "l" in letters else []

    @torch.no_grad()
    def sample(self, states: Tensor, generator: torch.Generator | None) -> Tensor:
        rates = self.lambdas_[states.reshape(-1)]
        return torch.poisson(rates, generator=generator).reshape((*states.shape, self.dim))

    @torch.no_grad()
    def initialize(self, x: Tensor, letters: str, generator: torch.Generator | None) -> None:
        if "l" not in letters:
            return
        mean, var = x.mean().item(), x.var(unbiased=False).item()
        shape = (self.n_states, self.dim)
        if mean > 0 and var > 0:
            draws = numpy_generator(generator).gamma(mean**2 / var, var / mean, size=shape)
            rates = torch.as_tensor(draws, dtype=x.dtype)
        else:  # constant counts: every rate is their value
            rates = torch.full(shape, max(mean, math.ulp(0.0)), dtype=x.dtype)
        self.log_lambdas.copy_(rates.log())

    @torch.no_grad()
    def set_params(self, lambdas: Tensor | Sequence | None = None) -> None:
        if lambdas is not None:
            shape = (self.n_states, self.dim)
            lambdas = torch.as_tensor(lambdas, dtype=self.log_lambdas.dtype)
            if lambdas.shape != shape:
                raise ValueError(
                    f"lambdas must have shape {list(shape)}, got {list(lambdas.shape)}"
                )
            if not torch.isfinite(lambdas).all() or (lambdas < 0).any():
                raise ValueError(f"lambdas must be finite and non-negative, got {lambdas.tolist()}")
            self.log_lambdas.copy_(lambdas.log())

r"""Categorical emissions (hmmlearn's ``CategoricalHMM``): state k emits symbol m with probability
:math:`B_{km}`; observations are integer symbols [B, T].

Letter ``"e"`` (hmmlearn's): the emission matrix, whose M step (Rabiner 1989, eq. 40c) is the
γ-weighted symbol count :math:`B_{km} ∝ \sum_{n,t} γ_t(k)\,[x_t = m]`; a state with no
expected visits keeps its row and a zero entry stays zero. The initialisation
(``init_params``) draws each row as hmmlearn does: uniform numbers, normalised.

>>> c = Categorical(2, n_symbols=3, dtype=torch.float64)
>>> c.set_params(emissionprob=[[0.5, 0.4, 0.1], [0.1, 0.3, 0.6]])
>>> c.log_prob(torch.tensor([[2]])).detach().exp()
tensor([[[0.1000, 0.6000]]], dtype=torch.float64)
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from reparam.latent.emissions.base import Emissions, keep_unvisited, probabilities, refuse


class Categorical(Emissions):
    """``n_symbols`` symbols; ``B_logits`` [K, M] (``log_softmax`` gives ``log_emission``)."""

    family = "categorical"
    letters = "e"
    event_dims = 0
    attributes = ("B_logits", "log_emission", "emissionprob_")

    def __init__(
        self,
        n_states: int,
        n_symbols: int,
        dtype: torch.dtype,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__(n_states)
        self.n_symbols = n_symbols
        self.B_logits = nn.Parameter(
            torch.rand(n_states, n_symbols, generator=generator, dtype=dtype)
        )

    @property
    def log_emission(self) -> Tensor:
        """The log emission matrix [K, M]."""
        return torch.log_softmax(self.B_logits, dim=-1)

    @property
    def emissionprob_(self) -> Tensor:
        """The emission matrix [K, M] (detached), hmmlearn's attribute."""
        return self.log_emission.detach().exp()

    def prepare(self, x: Tensor, mask: Tensor) -> Tensor:
        if x.is_floating_point() or x.is_complex() or x.dtype == torch.bool:
            raise ValueError(f"categorical x must hold integers, got dtype {x.dtype}")
        x = x.long().masked_fill(~mask, 0)
        refuse((x < 0) | (x >= self.n_symbols), x, f"hold symbols in [0, {self.n_symbols})")
        return x

    def log_prob(self, x: Tensor) -> Tensor:
        return self.log_emission.T[x]

    def counts(self, x: Tensor, gamma: Tensor) -> Tensor:
        """The γ-weighted symbol counts Σ_{n,t} γ_t(k) [x_t = m], [K, M]."""
        K = self.n_states
        flat = gamma.new_zeros(self.n_symbols, K)
        return flat.index_add_(0, x.reshape(-1), gamma.reshape(-1, K)).T

    @torch.no_grad()
    def m_step(self, x: Tensor, gamma: Tensor, letters: str) -> None:
        if "e" not in letters:
            return
        obs = self.counts(x, gamma)
        weight = obs.sum(1)
        new = (obs / weight.clamp_min(torch.finfo(obs.dtype).tiny)[:, None]).log()
        self.B_logits.copy_(keep_unvisited(weight, new, self.log_emission))

    def n_parameters(self) -> dict[str, int]:
        return {"e": self.n_states * (self.n_symbols - 1)}

    def parameters_for(self, letters: str) -> list[nn.Parameter]:
        return [self.B_logits] if "e" in letters else []

    @torch.no_grad()
    def sample(self, states: Tensor, generator: torch.Generator | None) -> Tensor:
        probs = self.log_emission.exp()[states.reshape(-1)]
        return torch.multinomial(probs, 1, generator=generator).reshape(states.shape)

    @torch.no_grad()
    def initialize(self, x: Tensor, letters: str, generator: torch.Generator | None) -> None:
        if "e" in letters:
            rows = torch.rand(self.B_logits.shape, generator=generator, dtype=self.B_logits.dtype)
            self.B_logits.copy_((rows / rows.sum(1, keepdim=True)).log())

    @torch.no_grad()
    def set_params(self, emissionprob: Tensor | Sequence | None = None) -> None:
        if emissionprob is not None:
            shape = (self.n_states, self.n_symbols)
            self.B_logits.copy_(probabilities(emissionprob, shape, "emissionprob").log())

r"""Multinomial emissions (hmmlearn's ``MultinomialHMM``): at each step state k distributes
``n_trials`` draws over M symbols with probabilities :math:`B_{km}`; observations are counts
[B, T, M],

.. math:: \log b_k(x) = \log n! - \sum_m \log x_m! + \sum_m x_m \log B_{km},
          \qquad n = \sum_m x_m.

``n_trials`` fixes n at every step (checked); ``None`` lets each step have its own total, as
hmmlearn's ``n_trials=None`` (sampling then needs a fixed one). Letter ``"e"``: the M step
:math:`B_{km} ∝ \sum_{n,t} γ_t(k)\, x_{tm}` (Rabiner 1989, eq. 40c with counts); with one trial
this is the categorical model on one-hot rows.

>>> m = Multinomial(1, n_symbols=2, n_trials=3, dtype=torch.float64)
>>> m.set_params(emissionprob=[[0.5, 0.5]])
>>> m.log_prob(torch.tensor([[[1.0, 2.0]]], dtype=torch.float64)).detach().exp()  # 3 · 0.5³
tensor([[[0.3750]]], dtype=torch.float64)
"""

from __future__ import annotations

import torch
from torch import Tensor

from reparam.latent.emissions.base import refuse
from reparam.latent.emissions.categorical import Categorical


class Multinomial(Categorical):
    """Counts of ``n_symbols`` symbols from ``n_trials`` draws a step (``None``: any total)."""

    family = "multinomial"
    event_dims = 1

    def __init__(
        self,
        n_states: int,
        n_symbols: int,
        n_trials: int | None,
        dtype: torch.dtype,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__(n_states, n_symbols, dtype, generator)
        self.n_trials = n_trials

    def prepare(self, x: Tensor, mask: Tensor) -> Tensor:
        if x.shape[-1] != self.n_symbols:
            raise ValueError(f"x must count {self.n_symbols} symbols a step, got {x.shape[-1]}")
        if x.is_floating_point() or x.is_complex() or x.dtype == torch.bool:
            raise ValueError(f"multinomial x must hold integer counts, got dtype {x.dtype}")
        x = x.masked_fill(~mask[..., None], 0)
        bad = (x < 0).any(-1)
        want = "hold non-negative counts"
        if self.n_trials is not None:
            bad = bad | (mask & (x.sum(-1) != self.n_trials))
            want += f" summing to n_trials={self.n_trials}"
        refuse(bad, x, want)
        return x.to(self.B_logits.dtype)

    def log_prob(self, x: Tensor) -> Tensor:
        # a probability of 0 becomes the dtype's minimum: 0 · it is 0, a count times it −∞
        log_p = self.log_emission.clamp_min(torch.finfo(x.dtype).min)
        norm = torch.lgamma(x.sum(-1) + 1) - torch.lgamma(x + 1).sum(-1)
        return x @ log_p.T + norm[..., None]

    def counts(self, x: Tensor, gamma: Tensor) -> Tensor:
        return torch.einsum("btk,btm->km", gamma, x)

    @torch.no_grad()
    def sample(self, states: Tensor, generator: torch.Generator | None) -> Tensor:
        if self.n_trials is None:
            raise ValueError("sampling multinomial emissions needs n_trials (an integer ≥ 1)")
        probs = self.log_emission.exp()[states.reshape(-1)]
        draws = torch.multinomial(probs, self.n_trials, replacement=True, generator=generator)
        counts = torch.nn.functional.one_hot(draws, self.n_symbols).sum(-2)
        return counts.reshape((*states.shape, self.n_symbols))

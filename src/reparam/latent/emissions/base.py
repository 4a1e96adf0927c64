r"""What an emission family of an HMM supplies to Baum–Welch, and the checks its parameters share.

An HMM with K states factors as :math:`p(x, z) = π_{z_1} \prod_t A_{z_{t-1} z_t} \prod_t
b_{z_t}(x_t)`; the Markov chain (π, A) is the same for every family, so an :class:`Emissions`
module holds only the densities :math:`b_k` and everything Baum–Welch asks of them:

- ``prepare(x, mask)``: check the observations and fill the padded steps with a harmless value;
- ``log_prob(x)``: :math:`\log b_k(x_t)` [B, T, K], differentiable in the parameters;
- ``m_step(x, gamma, letters)``: maximise :math:`\sum_{n,t,k} γ_t(k) \log b_k(x_t)` over the
  parameters whose hmmlearn letters are in ``letters`` (γ is 0 at padded steps);
- ``n_parameters()``: the free scalars of each letter (hmmlearn's
  ``_get_n_fit_scalars_per_param``), for AIC and BIC;
- ``sample(states, generator)``: one observation per state;
- ``initialize(x, letters, generator)``: hmmlearn's initialisation from the valid steps ``x``.

The parameters are unconstrained tensors (logits, log-rates, log-variances, log-Cholesky
factors), so ``HMM.fit_gradient`` can use any torch optimizer, and ``project()`` restores what
a gradient step may break (a variance floor).

>>> probabilities([[0.5, 0.5], [1.0, 0.0]], (2, 2), "A").tolist()
[[0.5, 0.5], [1.0, 0.0]]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn


def probabilities(value: Tensor | Sequence, shape: tuple[int, ...], name: str) -> Tensor:
    """Check a table of probabilities whose last axis sums to one; return it in float64."""
    value = torch.as_tensor(value, dtype=torch.float64)
    if value.shape != shape:
        raise ValueError(f"{name} must have shape {list(shape)}, got {list(value.shape)}")
    if not torch.isfinite(value).all() or (value < 0).any():
        raise ValueError(f"{name} must be finite and non-negative, got {value.tolist()}")
    sums = value.sum(-1)
    if not torch.allclose(sums, torch.ones_like(sums), atol=1e-6, rtol=0):
        raise ValueError(f"{name} must sum to one along its last axis, got sums {sums.tolist()}")
    return value


def numpy_generator(generator: torch.Generator | None) -> np.random.Generator:
    """A NumPy generator seeded from ``generator`` (for the draws torch has no seeded sampler
    for: Dirichlet and gamma)."""
    seed = torch.randint(2**62, (1,), generator=generator).item()
    return np.random.default_rng(seed)


def refuse(bad: Tensor, x: Tensor, requirement: str) -> None:
    """A ``ValueError`` naming the first step where ``bad`` [B, T] holds: "x must
    {requirement}, got {value} at sequence n, step t"."""
    if bad.any():
        n, t = bad.nonzero()[0].tolist()
        raise ValueError(f"x must {requirement}, got {x[n, t].tolist()} at sequence {n}, step {t}")


def keep_unvisited(weight: Tensor, new: Tensor, old: Tensor) -> Tensor:
    """``new`` where a component has expected visits (``weight`` > 0), else ``old``: 0/0 is
    left out, a generalised EM step that cannot lower the likelihood."""
    shape = weight.shape + (1,) * (new.dim() - weight.dim())
    return torch.where(weight.reshape(shape) > 0, new, old)


class Emissions(nn.Module):
    """The emission densities of a K-state HMM (see the module docstring for the contract).

    ``letters`` are hmmlearn's letters of the family's parameters (``params`` /
    ``init_params``); ``event_dims`` is 0 for symbols [B, T], 1 for vectors [B, T, D];
    ``attributes`` are the read-only views :class:`~reparam.latent.HMM` passes through.
    """

    family: str = ""
    letters: str = ""
    event_dims: int = 1
    attributes: tuple[str, ...] = ()

    def __init__(self, n_states: int) -> None:
        super().__init__()
        self.n_states = n_states

    def prepare(self, x: Tensor, mask: Tensor) -> Tensor:
        raise NotImplementedError

    def log_prob(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def m_step(self, x: Tensor, gamma: Tensor, letters: str) -> None:
        raise NotImplementedError

    def n_parameters(self) -> dict[str, int]:
        raise NotImplementedError

    def sample(self, states: Tensor, generator: torch.Generator | None) -> Tensor:
        raise NotImplementedError

    def initialize(self, x: Tensor, letters: str, generator: torch.Generator | None) -> None:
        raise NotImplementedError

    def set_params(self, **values: object) -> None:
        raise NotImplementedError

    def parameters_for(self, letters: str) -> list[nn.Parameter]:
        """The tensors of the parameters whose letters are in ``letters``."""
        raise NotImplementedError

    def check_fit(self, x: Tensor) -> None:
        """Refuse data a fit cannot handle in the dtype (default: anything goes)."""

    def project(self) -> None:
        """Restore the constraints a gradient step may break (default: none)."""

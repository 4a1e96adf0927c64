r"""Gaussian emissions, :math:`b_k(x) = \mathcal N(x \mid μ_k, Σ_k)`, with hmmlearn's
``GaussianHMM`` covariance kinds (``"spherical"``, ``"diag"``, ``"full"``, ``"tied"``: see
:mod:`reparam.latent.emissions.covariance`).

Letters (hmmlearn's): ``"m"`` the means, ``"c"`` the covariances. The M step (Rabiner 1989,
eqs. 53; PRML eq. 13.20–13.21) is :math:`μ_k = \sum_{n,t} γ_t(k) x_t / \sum_{n,t} γ_t(k)` and
the covariance of :mod:`~reparam.latent.emissions.covariance` about the new means (about the
kept means when ``"m"`` is not fitted). The initialisation (``init_params``) is hmmlearn's:
k-means centres for the means, the data's covariance plus ``variance_floor`` · I for every
state's covariance.

References:
    Rabiner (1989), A tutorial on hidden Markov models and selected applications in speech
    recognition.

>>> g = Gaussian(2, dim=1, covariance="spherical", variance_floor=1e-6, dtype=torch.float64)
>>> g.set_params(means=[[0.0], [3.0]], covars=[1.0, 4.0])
>>> x = torch.tensor([[[0.0]]], dtype=torch.float64)
>>> g.log_prob(x).detach().exp().round(decimals=4)  # N(0 | 0, 1), N(0 | 3, 4)
tensor([[[0.3989, 0.0648]]], dtype=torch.float64)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from reparam.latent.emissions.base import Emissions, keep_unvisited, refuse
from reparam.latent.emissions.covariance import Covariance
from reparam.latent.emissions.initial import data_covariance, kmeans


class Gaussian(Emissions):
    """Gaussian emissions of K states in ``dim`` dimensions (``means`` [K, D]).

    ``covars`` has hmmlearn's compressed shape (spherical [K], diag [K, D], full
    [K, D, D], tied [D, D]); ``covars_`` are hmmlearn's full matrices [K, D, D];
    ``variances`` are the spherical [K] or diagonal [K, D] variances."""

    family = "gaussian"
    letters = "mc"
    attributes = ("means", "means_", "covars", "covars_", "variances", "log_variances")

    def __init__(
        self,
        n_states: int,
        dim: int,
        covariance: str,
        variance_floor: float,
        dtype: torch.dtype,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__(n_states)
        self.dim, self.covariance, self.variance_floor = dim, covariance, variance_floor
        self.means = nn.Parameter(torch.randn((*self.shape, dim), generator=generator, dtype=dtype))
        self.cov = Covariance(covariance, self.shape, dim, dtype)

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of the components: [K]."""
        return (self.n_states,)

    # ---- views

    @property
    def means_(self) -> Tensor:
        return self.means.detach()

    @property
    def covars(self) -> Tensor:
        return self.cov.values

    @property
    def covars_(self) -> Tensor:
        return self.cov.matrices

    @property
    def variances(self) -> Tensor:
        if not self.cov.diagonal:
            raise AttributeError(
                f"variances are defined for covariance 'diag' or 'spherical', not "
                f"{self.covariance!r}; use covars"
            )
        return self.cov.log_variances.exp()

    @property
    def log_variances(self) -> Tensor:
        if not self.cov.diagonal:
            raise AttributeError(f"covariance={self.covariance!r} has no log_variances")
        return self.cov.log_variances

    # ---- data

    def prepare(self, x: Tensor, mask: Tensor) -> Tensor:
        if x.shape[-1] != self.dim:
            raise ValueError(f"x must have {self.dim} features, got {x.shape[-1]}")
        if not (x.is_floating_point() or x.dtype in (torch.int32, torch.int64)):
            raise ValueError(f"{self.family} x must hold real numbers, got dtype {x.dtype}")
        x = x.to(self.means.dtype).masked_fill(~mask[..., None], 0.0)
        refuse(~torch.isfinite(x).all(-1), x, "be finite at the valid steps")
        return x

    def check_fit(self, x: Tensor) -> None:
        """The M step sums squared distances of every step: refuse data whose squares
        overflow the dtype."""
        reach = float(x.abs().max() + self.means.detach().abs().max())
        dtype = self.means.dtype
        if reach > math.sqrt(torch.finfo(dtype).max / (4 * x.shape[0] * x.shape[1] * self.dim)):
            raise ValueError(
                f"x spreads too widely for {dtype} (max |x| = {float(x.abs().max()):.3g}): "
                "its squared distances overflow; rescale x or use dtype=torch.float64"
            )

    # ---- the model

    def component_log_prob(self, x: Tensor) -> Tensor:
        """log N(x_t | μ_c, Σ_c) [B, T, *shape]."""
        return self.cov.log_prob(x, self.means)

    def log_prob(self, x: Tensor) -> Tensor:
        return self.component_log_prob(x)

    def responsibilities(self, x: Tensor, gamma: Tensor) -> Tensor:
        """The posterior weight of each component at each step [B, T, *shape]: γ."""
        return gamma

    @torch.no_grad()
    def m_step(self, x: Tensor, gamma: Tensor, letters: str) -> None:
        if not any(letter in letters for letter in self.letters):
            return
        X = x.reshape(-1, self.dim)
        w = self.responsibilities(x, gamma).reshape((X.shape[0], *self.shape))
        weight = w.sum(0)
        if "m" in letters:
            tiny = torch.finfo(X.dtype).tiny
            sums = (w.reshape(X.shape[0], -1).T @ X).reshape((*self.shape, self.dim))
            mean = sums / weight.clamp_min(tiny)[..., None]
            self.means.copy_(keep_unvisited(weight, mean, self.means))
        if "c" in letters:
            self.cov.m_step(X, w, self.means, self.variance_floor)
        self._fit_weights(weight, letters)

    def _fit_weights(self, weight: Tensor, letters: str) -> None:
        """Mixtures fit their weights from the components' expected counts; one Gaussian a
        state has none."""

    def n_parameters(self) -> dict[str, int]:
        return {"m": math.prod(self.shape) * self.dim, "c": self.cov.n_parameters()}

    def parameters_for(self, letters: str) -> list[nn.Parameter]:
        chosen = []
        if "m" in letters:
            chosen.append(self.means)
        if "c" in letters:
            chosen.extend(self.cov.parameters())
        return chosen

    @torch.no_grad()
    def sample(self, states: Tensor, generator: torch.Generator | None) -> Tensor:
        flat = states.reshape(-1)
        index = self._sample_components(flat, generator)
        noise = torch.randn(flat.shape[0], self.dim, generator=generator, dtype=self.means.dtype)
        obs = self.means[index] + self.cov.transform(noise, index)
        return obs.reshape((*states.shape, self.dim))

    def _sample_components(
        self, states: Tensor, generator: torch.Generator | None
    ) -> tuple[Tensor, ...]:
        return (states,)

    @torch.no_grad()
    def initialize(self, x: Tensor, letters: str, generator: torch.Generator | None) -> None:
        if "m" in letters:
            self.means.copy_(kmeans(x, self.n_states, generator)[0])
        if "c" in letters:
            self.cov.initialize(data_covariance(x, self.variance_floor))

    @torch.no_grad()
    def set_params(
        self,
        means: Tensor | Sequence | None = None,
        covars: Tensor | Sequence | None = None,
        variances: Tensor | Sequence | None = None,
    ) -> None:
        if means is not None:
            shape = (*self.shape, self.dim)
            means = torch.as_tensor(means, dtype=self.means.dtype)
            if means.shape != shape or not torch.isfinite(means).all():
                raise ValueError(
                    f"means must be finite with shape {list(shape)}, got shape "
                    f"{list(means.shape)}"
                    + ("" if means.shape != shape else f" holding {means.tolist()}")
                )
            self.means.copy_(means)
        if variances is not None:
            if not self.cov.diagonal:
                raise ValueError(
                    f"variances apply to covariance 'diag' or 'spherical', not "
                    f"{self.covariance!r}; give covars"
                )
            self.cov.set(variances, "variances")
        if covars is not None:
            self.cov.set(covars, "covars")

    def project(self) -> None:
        self.cov.project(self.variance_floor)

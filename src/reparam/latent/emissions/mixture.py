r"""Gaussian-mixture emissions (hmmlearn's ``GMMHMM``): each state k emits from a mixture of
``n_mix`` Gaussians, :math:`b_k(x) = \sum_m w_{km} \mathcal N(x \mid μ_{km}, Σ_{km})`.

Letters (hmmlearn's): ``"w"`` the mixture weights, ``"m"`` the means, ``"c"`` the covariances
(spherical [K, M], diag [K, M, D], full [K, M, D, D], or tied [K, D, D]: one matrix shared by
the components of a state, as in hmmlearn). Baum–Welch's E step splits γ_t(k) over the
components (Juang, Levinson & Sondhi 1986; Rabiner 1989, eq. 54),

.. math:: γ_t(k, m) = γ_t(k)\, \frac{w_{km} \mathcal N(x_t \mid μ_{km}, Σ_{km})}{b_k(x_t)},

and the M step is each component's weighted Gaussian fit with
:math:`w_{km} = \sum_t γ_t(k, m) / \sum_t γ_t(k)` (Rabiner 1989, eqs. 52–54). The covariance
is taken about the new means, the exact M step; hmmlearn takes it about the means before the
step (its covariances exceed ours by :math:`(μ^{new} - μ^{old})(μ^{new} - μ^{old})^\top`, and
equal ours when ``"m"`` is not fitted). hmmlearn's default priors reduce its M step to this
maximum-likelihood one for ``"diag"``, ``"full"`` and ``"tied"``; for ``"spherical"`` they do
not (its default ``covars_prior`` divides by D(N + 1) − M rather than D·N).

Initialisation (``init_params``), as hmmlearn: k-means splits the data into K clusters, and
k-means within each cluster gives its M means (a cluster with fewer than M points draws them
from a Gaussian about the mean centre with the data's covariance); uniform weights; the
data's covariance for every component.

References:
    Juang, Levinson & Sondhi (1986), Maximum likelihood estimation for multivariate mixture
    observations of Markov chains. IEEE Trans. Inf. Theory 32(2).
    Rabiner (1989), A tutorial on hidden Markov models and selected applications in speech
    recognition.

>>> g = GaussianMixture(1, n_mix=2, dim=1, covariance="diag", variance_floor=1e-6,
...                     dtype=torch.float64)
>>> g.set_params(weights=[[0.5, 0.5]], means=[[[-1.0], [1.0]]], covars=[[[1.0], [1.0]]])
>>> round(g.log_prob(torch.zeros(1, 1, 1, dtype=torch.float64)).exp().item(), 4)  # N(1 | 0, 1)
0.242
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from reparam.latent.emissions.base import keep_unvisited, probabilities
from reparam.latent.emissions.gaussian import Gaussian
from reparam.latent.emissions.initial import data_covariance, kmeans


class GaussianMixture(Gaussian):
    """Mixtures of ``n_mix`` Gaussians in ``dim`` dimensions, one a state: ``weights``
    [K, M], ``means`` [K, M, D], ``covars`` in hmmlearn's ``GMMHMM`` shapes (``covars_``
    is the same tensor, as hmmlearn's attribute)."""

    family = "gmm"
    letters = "mcw"
    attributes = ("means", "means_", "covars", "covars_", "weights", "weights_")

    def __init__(self, n_states: int, n_mix: int, **gaussian: Any) -> None:
        """``n_mix`` components a state; the other arguments are :class:`Gaussian`'s."""
        self.n_mix = n_mix
        super().__init__(n_states, **gaussian)
        dtype = self.means.dtype
        self.weight_logits = nn.Parameter(torch.zeros(n_states, n_mix, dtype=dtype))

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of the components: [K, M]."""
        return (self.n_states, self.n_mix)

    @property
    def weights(self) -> Tensor:
        """The mixture weights [K, M]."""
        return torch.softmax(self.weight_logits, -1)

    @property
    def weights_(self) -> Tensor:
        return self.weights.detach()

    @property
    def covars_(self) -> Tensor:
        return self.cov.values

    def _joint(self, x: Tensor) -> Tensor:
        """log w_km + log N(x_t | μ_km, Σ_km) [B, T, K, M]."""
        return torch.log_softmax(self.weight_logits, -1) + self.component_log_prob(x)

    def log_prob(self, x: Tensor) -> Tensor:
        return torch.logsumexp(self._joint(x), -1)

    def responsibilities(self, x: Tensor, gamma: Tensor) -> Tensor:
        """γ_t(k, m) = γ_t(k) · p(m | x_t, k) [B, T, K, M]."""
        return gamma[..., None] * torch.softmax(self._joint(x), -1)

    def _fit_weights(self, weight: Tensor, letters: str) -> None:
        if "w" in letters:
            visits = weight.sum(-1, keepdim=True)
            new = (weight / visits.clamp_min(torch.finfo(weight.dtype).tiny)).log()
            old = torch.log_softmax(self.weight_logits, -1)
            self.weight_logits.copy_(keep_unvisited(visits[:, 0], new, old))

    def n_parameters(self) -> dict[str, int]:
        return super().n_parameters() | {"w": self.n_states * (self.n_mix - 1)}

    def parameters_for(self, letters: str) -> list[nn.Parameter]:
        return super().parameters_for(letters) + ([self.weight_logits] if "w" in letters else [])

    def _sample_components(
        self, states: Tensor, generator: torch.Generator | None
    ) -> tuple[Tensor, ...]:
        mix = torch.multinomial(self.weights.detach()[states], 1, generator=generator)[:, 0]
        return states, mix

    @torch.no_grad()
    def initialize(self, x: Tensor, letters: str, generator: torch.Generator | None) -> None:
        K, M = self.shape
        cv = data_covariance(x, self.variance_floor)
        if "m" in letters:
            centres, labels = kmeans(x, K, generator)
            means = []
            for k in range(K):
                cluster = x[labels == k]
                if cluster.shape[0] >= M:
                    means.append(kmeans(cluster, M, generator)[0])
                else:
                    noise = torch.randn(M, self.dim, generator=generator, dtype=x.dtype)
                    L = torch.linalg.cholesky(cv)
                    means.append(centres.mean(0) + noise @ L.T)
            self.means.copy_(torch.stack(means))
        if "w" in letters:
            self.weight_logits.zero_()
        if "c" in letters:
            self.cov.initialize(cv)

    @torch.no_grad()
    def set_params(
        self,
        means: Tensor | Sequence | None = None,
        covars: Tensor | Sequence | None = None,
        weights: Tensor | Sequence | None = None,
    ) -> None:
        super().set_params(means=means, covars=covars)
        if weights is not None:
            self.weight_logits.copy_(probabilities(weights, self.shape, "weights").log())

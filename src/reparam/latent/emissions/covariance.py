r"""Gaussian covariances of hmmlearn's four kinds: their unconstrained parameters, the log-density
and the covariance M step, for components arranged in a shape S (S = [K] states for
``GaussianHMM``, [K, M] mixture components for ``GMMHMM``).

The kinds (hmmlearn's ``covariance_type``; shapes of the compressed ``covars``):

======================  =========================  ==========================================
kind                    covars                     parameter
======================  =========================  ==========================================
``"spherical"``         S                          ``log_variances`` S: Σ_c = σ²_c I
``"diag"``              S + [D]                    ``log_variances`` S + [D]
``"full"``              S + [D, D]                 ``log_cholesky`` S + [D, D]
``"tied"``              S[:-1] + [D, D]            ``log_cholesky``: one Σ shared along S's
                                                   last axis (all states of a Gaussian HMM,
                                                   the mixture components of one GMM-HMM state)
======================  =========================  ==========================================

A log-Cholesky factor holds L's strict lower triangle and the logarithm of its diagonal, so
every value is a valid Σ = LLᵀ (Pinheiro & Bates 1996). The log-density is

.. math:: \log \mathcal N(x \mid μ, Σ) = -\tfrac12\big(D \log 2π + 2 \sum_i \log L_{ii}
          + \lVert L^{-1}(x - μ)\rVert^2\big),

with L = diag(σ) for the diagonal kinds. Given responsibilities :math:`w_{nc}`
(:math:`N_c = \sum_n w_{nc}`) and the new means, the M step (PRML eq. 9.25; Huang, Acero &
Hon 2001, §8.2) is :math:`Σ_c = \sum_n w_{nc}(x_n - μ_c)(x_n - μ_c)^\top / N_c` — its
diagonal for ``"diag"``, the mean of that diagonal for ``"spherical"``, and
:math:`\sum_{c \in g} S_c / \sum_{c \in g} N_c` over a tied group g. Variances are floored at
``floor`` (for full and tied matrices: their eigenvalues), a component with no weight keeps its
covariance.

References:
    Pinheiro & Bates (1996), Unconstrained parametrizations for variance-covariance matrices.
    Statistics and Computing 6.
    Bishop (2006), Pattern Recognition and Machine Learning, §9.2.

>>> cov = Covariance("full", (2,), dim=2, dtype=torch.float64)
>>> cov.set([[[2.0, 0.5], [0.5, 1.0]], [[1.0, 0.0], [0.0, 1.0]]], "covars")
>>> cov.values[0].round(decimals=12).tolist()
[[2.0, 0.5], [0.5, 1.0]]
>>> x = torch.zeros(1, 1, 2, dtype=torch.float64)
>>> round(cov.log_prob(x, torch.zeros(2, 2, dtype=torch.float64))[0, 0, 1].item(), 6)
-1.837877
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from reparam.latent.emissions.base import keep_unvisited
from reparam.latent.gmm_covariance import COVARIANCES, LOG_2PI

KINDS = ("spherical", "diag", "full", "tied")


def _log_cholesky(L: Tensor) -> Tensor:
    return L.tril(-1) + torch.diag_embed(L.diagonal(dim1=-2, dim2=-1).log())


def floor_eigenvalues(sigma: Tensor, floor: float) -> Tensor:
    """Σ with its eigenvalues raised to at least ``floor`` (unchanged where they are)."""
    sigma = 0.5 * (sigma + sigma.mT)
    values, vectors = torch.linalg.eigh(sigma)
    low = (values < floor).any(-1)
    if not low.any():
        return sigma
    floored = (vectors * values.clamp_min(floor).unsqueeze(-2)) @ vectors.mT
    return torch.where(low[..., None, None], floored, sigma)


class Covariance(nn.Module):
    """The covariances of components arranged in ``shape`` (see the module docstring), set to
    the identity at first."""

    def __init__(self, kind: str, shape: Sequence[int], dim: int, dtype: torch.dtype) -> None:
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"covariance must be one of {', '.join(KINDS)}, got {kind!r}")
        self.kind, self.shape, self.dim = kind, tuple(shape), dim
        if kind in ("spherical", "diag"):
            extra = () if kind == "spherical" else (dim,)
            self.log_variances = nn.Parameter(torch.zeros(self.shape + extra, dtype=dtype))
        else:
            groups = self.shape if kind == "full" else self.shape[:-1]
            self.log_cholesky = nn.Parameter(torch.zeros((*groups, dim, dim), dtype=dtype))

    # ---- views

    @property
    def diagonal(self) -> bool:
        return self.kind in ("spherical", "diag")

    def scale(self) -> Tensor:
        """σ [S, D] for the diagonal kinds, L [S, D, D] for full and tied (broadcast)."""
        if self.kind == "spherical":
            return (0.5 * self.log_variances).exp()[..., None].expand((*self.shape, self.dim))
        if self.kind == "diag":
            return (0.5 * self.log_variances).exp()
        raw = self.log_cholesky
        L = raw.tril(-1) + torch.diag_embed(raw.diagonal(dim1=-2, dim2=-1).exp())
        if self.kind == "tied":
            L = L.unsqueeze(-3).expand((*self.shape, self.dim, self.dim))
        return L

    @property
    def values(self) -> Tensor:
        """The compressed covariances, in hmmlearn's shape for the kind (detached)."""
        with torch.no_grad():
            if self.diagonal:
                return self.log_variances.exp()
            raw = self.log_cholesky
            L = raw.tril(-1) + torch.diag_embed(raw.diagonal(dim1=-2, dim2=-1).exp())
            return L @ L.mT

    @property
    def matrices(self) -> Tensor:
        """Full covariance matrices S + [D, D] (detached)."""
        with torch.no_grad():
            if self.diagonal:
                return torch.diag_embed(self.scale() ** 2)
            L = self.scale()
            return L @ L.mT

    # ---- the density

    def log_prob(self, x: Tensor, means: Tensor) -> Tensor:
        """log N(x_bt | μ_c, Σ_c) [B, T, *S] for x [B, T, D] and means [*S, D] (the
        Mahalanobis terms are :mod:`reparam.latent.gmm_covariance`'s)."""
        B, T, D = x.shape
        factor = self.scale()
        if self.diagonal:
            factor = factor.reshape(-1, D)
            log_det = 2 * factor.log().sum(-1)
        else:
            factor = factor.reshape(-1, D, D)
            log_det = 2 * factor.diagonal(dim1=-2, dim2=-1).log().sum(-1)
        structure = COVARIANCES["diag" if self.diagonal else "full"]
        maha = structure.maha(x.reshape(B * T, D), means.reshape(-1, D), factor)
        return (-0.5 * (D * LOG_2PI + log_det + maha)).reshape((B, T, *self.shape))

    def transform(self, noise: Tensor, index: tuple[Tensor, ...]) -> Tensor:
        """L_c ε for standard normal ``noise`` [n, D] and components ``index`` (one index
        tensor per axis of S)."""
        scale = self.scale()[index]
        if self.diagonal:
            return noise * scale
        return (scale @ noise.unsqueeze(-1)).squeeze(-1)

    # ---- setting and fitting

    def expected_shape(self) -> tuple[int, ...]:
        if self.kind == "spherical":
            return self.shape
        if self.kind == "diag":
            return (*self.shape, self.dim)
        groups = self.shape if self.kind == "full" else self.shape[:-1]
        return (*groups, self.dim, self.dim)

    @torch.no_grad()
    def set(self, value: Tensor | Sequence, name: str) -> None:
        """Set the compressed covariances (hmmlearn's shape for the kind) after checking them:
        positive variances, or symmetric positive definite matrices."""
        dtype = (self.log_variances if self.diagonal else self.log_cholesky).dtype
        value = torch.as_tensor(value, dtype=dtype)
        shape = self.expected_shape()
        if value.shape != shape:
            raise ValueError(
                f"{name} must have shape {list(shape)} for covariance={self.kind!r}, got "
                f"{list(value.shape)}"
            )
        if not torch.isfinite(value).all():
            raise ValueError(f"{name} must be finite, got {value.tolist()}")
        if self.diagonal:
            if (value <= 0).any():
                raise ValueError(f"{name} must be finite and positive, got {value.tolist()}")
            self.log_variances.copy_(value.log())
            return
        if not torch.allclose(value, value.mT, rtol=1e-5, atol=1e-8):
            raise ValueError(f"{name} must be symmetric, got {value.tolist()}")
        L, info = torch.linalg.cholesky_ex(0.5 * (value + value.mT))
        if (info != 0).any():
            raise ValueError(f"{name} must be positive definite, got {value.tolist()}")
        self.log_cholesky.copy_(_log_cholesky(L))

    @torch.no_grad()
    def m_step(self, x: Tensor, weights: Tensor, means: Tensor, floor: float) -> None:
        """The M step from ``x`` [N, D], responsibilities ``weights`` [N, *S] and the new
        ``means`` [*S, D] (the scatter is :mod:`reparam.latent.gmm_covariance`'s);
        components (tied groups) with no weight keep their covariance."""
        N, D = x.shape
        w = weights.reshape(N, -1)  # [N, C]
        nk = w.sum(0)
        structure = COVARIANCES["diag" if self.diagonal else "full"]
        per_weight = nk.clamp_min(torch.finfo(x.dtype).tiny)
        sigma = structure.estimate(x, w, per_weight, means.reshape(-1, D), 0.0)
        sigma = sigma.reshape((*self.shape, *sigma.shape[1:]))
        nk = nk.reshape(self.shape)
        if self.diagonal:
            var = (sigma.mean(-1) if self.kind == "spherical" else sigma).clamp_min(floor)
            self.log_variances.copy_(keep_unvisited(nk, var.log(), self.log_variances))
            return
        if self.kind == "tied":  # Σ_g = Σ_{c ∈ g} S_c / Σ_{c ∈ g} N_c
            group = nk.sum(-1)
            sigma = (sigma * nk[..., None, None]).sum(-3) / group.clamp_min(per_weight.min())[
                ..., None, None
            ]
            nk = group
        L, info = torch.linalg.cholesky_ex(floor_eigenvalues(sigma, floor))
        ok = ((nk > 0) & (info == 0)).to(L.dtype)
        self.log_cholesky.copy_(keep_unvisited(ok, _log_cholesky(L), self.log_cholesky))

    @torch.no_grad()
    def initialize(self, cv: Tensor) -> None:
        """Every component's covariance from one D × D matrix ``cv`` (the data's covariance):
        its diagonal, the mean of its diagonal, or the matrix itself."""
        if self.kind == "spherical":
            self.log_variances.copy_(cv.diagonal().mean().log().expand(self.shape))
        elif self.kind == "diag":
            self.log_variances.copy_(cv.diagonal().log().expand((*self.shape, self.dim)))
        else:
            factor = _log_cholesky(torch.linalg.cholesky(cv))
            self.log_cholesky.copy_(factor.expand_as(self.log_cholesky))

    @torch.no_grad()
    def project(self, floor: float) -> None:
        """After a gradient step: variances at least ``floor`` (the diagonal of L at least
        √floor for full and tied matrices)."""
        if self.diagonal:
            self.log_variances.clamp_(min=math.log(floor))
        else:
            self.log_cholesky.diagonal(dim1=-2, dim2=-1).clamp_(min=0.5 * math.log(floor))

    def n_parameters(self) -> int:
        """Free scalars (hmmlearn's counts): per component 1, D or D(D+1)/2; per tied group
        D(D+1)/2."""
        D = self.dim
        per = {"spherical": 1, "diag": D}.get(self.kind, D * (D + 1) // 2)
        groups = self.shape if self.kind != "tied" else self.shape[:-1]
        return math.prod(groups) * per

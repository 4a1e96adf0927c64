r"""The four covariance structures of a Gaussian mixture, scikit-learn's ``covariance_type``:
their shapes, Cholesky factors, log-densities, M steps and precisions.

============  ==================  ======================================  ===================
type          ``covariances_``    :math:`Σ_k`                             free parameters
============  ==================  ======================================  ===================
``"full"``    [K, D, D]           its own matrix per component            K·D(D+1)/2
``"tied"``    [D, D]              one matrix Σ shared by all components   D(D+1)/2
``"diag"``    [K, D]              :math:`\operatorname{diag}(σ_k^2)`      K·D
``"spherical"`` [K]               :math:`σ_k^2 I`                         K
============  ==================  ======================================  ===================

The log-density is :math:`\log \mathcal N(x \mid μ_k, Σ_k) = -\tfrac12\big(D \log 2π + \log
\lvert Σ_k\rvert + \lVert L_k^{-1}(x - μ_k)\rVert^2\big)` with the factor :math:`Σ_k = L_k
L_k^\top` (Cholesky for full and tied, the standard deviations for diag and spherical). The M
step (Bishop 2006, PRML eq. 9.25 and its constrained forms) from the scatter
:math:`S_k = \sum_n r_{nk}(x_n - μ_k)(x_n - μ_k)^\top`, computed from the differences (not as
:math:`E[xx^\top] - μμ^\top`, which cancels), is

.. math:: Σ_k^{\text{full}} = S_k / N_k, \quad Σ^{\text{tied}} = \textstyle\sum_k S_k / \sum_k
          N_k, \quad (σ_k^2)^{\text{diag}} = \operatorname{diag}(S_k) / N_k, \quad
          σ_k^{2,\,\text{spherical}} = \operatorname{tr}(S_k) / (D N_k),

each plus ``reg_covar`` on the diagonal, the maximisers of the expected complete-data
log-likelihood under each constraint (Celeux & Govaert 1995). The precisions are scikit-learn's:
``precisions_`` :math:`Σ^{-1}`, ``precisions_cholesky_`` the upper-triangular
:math:`L^{-\top}` with :math:`Σ^{-1} = L^{-\top}L^{-1}` (full, tied) or :math:`1/σ` (diag,
spherical).

References:
    Bishop (2006), Pattern Recognition and Machine Learning, §9.2.
    Celeux & Govaert (1995), Gaussian parsimonious clustering models. Pattern Recognition 28(5).

>>> kind = COVARIANCES["spherical"]
>>> kind.shape(3, 2), kind.n_parameters(3, 2)
((3,), 3)
>>> kind.maha(torch.tensor([[3.0, 4.0]]), torch.zeros(1, 2), torch.tensor([5.0]))
tensor([[1.]])
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch import Tensor

from reparam.latent.blocks import row_blocks


class Covariance:
    """One covariance structure; the subclasses below are the four of scikit-learn."""

    name = ""

    def shape(self, K: int, D: int) -> tuple[int, ...]:
        raise NotImplementedError

    def n_parameters(self, K: int, D: int) -> int:
        raise NotImplementedError

    def factor(self, covariances: Tensor, reg_covar: float) -> Tensor:
        """L with Σ = LLᵀ, or the standard deviations; a ``ValueError`` naming the component
        whose covariance is not positive definite."""
        raise NotImplementedError

    def log_det(self, factor: Tensor, D: int) -> Tensor:
        """log |Σ_k|, [K] (a scalar for tied)."""
        raise NotImplementedError

    def maha(self, X: Tensor, means: Tensor, factor: Tensor) -> Tensor:
        """‖L_k⁻¹(x_n − μ_k)‖², [N, K]."""
        raise NotImplementedError

    def whiten(self, X: Tensor, factor: Tensor) -> Tensor:
        """L_k⁻¹x_n, [K, N, D] ([1, N, D] for tied)."""
        raise NotImplementedError

    def whiten_means(self, means: Tensor, factor: Tensor) -> Tensor:
        """L_k⁻¹μ_k, [K, D]."""
        white = self.whiten(means, factor)
        return white[0] if white.shape[0] == 1 else white.diagonal(dim1=0, dim2=1).T

    def estimate(
        self, X: Tensor, resp: Tensor, nk: Tensor, means: Tensor, reg_covar: float
    ) -> Tensor:
        """The M step's covariances from responsibilities [N, K] and the new means."""
        raise NotImplementedError

    def noise(self, noise: Tensor, labels: Tensor, factor: Tensor) -> Tensor:
        """L_{z_n} ε_n for standard normal ε [n, D] and components z [n]."""
        raise NotImplementedError

    def precisions_cholesky(self, factor: Tensor) -> Tensor:
        raise NotImplementedError

    def precisions(self, factor: Tensor) -> Tensor:
        raise NotImplementedError

    def from_init(self, matrix: Tensor, name: str, precision: bool) -> Tensor:
        """The covariances given by ``covariances_init`` or ``precisions_init`` (already of
        the right shape and finite), checked."""
        raise NotImplementedError

    def overall(self, covariance: Tensor, K: int) -> Tensor:
        """One [D, D] covariance (the data's, floored) as every component's, in this shape."""
        raise NotImplementedError

    def keep(self, empty: Tensor, previous: Tensor, new: Tensor) -> Tensor:
        """``new`` with the components in ``empty`` [K] taken from ``previous``."""
        return torch.where(empty.view((-1,) + (1,) * (new.dim() - 1)), previous, new)

    @staticmethod
    def _differences(X: Tensor, resp: Tensor, means: Tensor) -> Iterator[tuple[Tensor, Tensor]]:
        """(x_n − μ_k, r_nk (x_n − μ_k)) per block of rows, each [K, rows, D]."""
        for rows in row_blocks(X.shape[0], means.numel()):
            diff = X[rows].unsqueeze(0) - means.unsqueeze(1)
            yield diff, diff * resp[rows].T.unsqueeze(2)

    @staticmethod
    def _not_positive(bad: Tensor, reg_covar: float, dtype: torch.dtype, what: str) -> None:
        if bad.any():
            which = what.format(int(bad.flatten().nonzero()[0, 0]))
            raise ValueError(
                f"{which} is not positive definite in {dtype}: increase reg_covar (now "
                f"{reg_covar:g}; it is absolute, so scale it with the data's variance) or check "
                "for degenerate data"
            )


class _Matrix(Covariance):
    """Full and tied: Cholesky factors of D×D matrices."""

    component = "the covariance of component {}"

    def factor(self, covariances: Tensor, reg_covar: float) -> Tensor:
        L, info = torch.linalg.cholesky_ex(covariances)
        self._not_positive(info != 0, reg_covar, covariances.dtype, self.component)
        return L

    def log_det(self, factor: Tensor, D: int) -> Tensor:
        return 2 * torch.diagonal(factor, dim1=-2, dim2=-1).log().sum(-1)

    def precisions_cholesky(self, factor: Tensor) -> Tensor:
        eye = torch.eye(factor.shape[-1], dtype=factor.dtype, device=factor.device)
        return torch.linalg.solve_triangular(factor, eye, upper=False).mT

    def precisions(self, factor: Tensor) -> Tensor:
        return torch.cholesky_inverse(factor)

    def _which(self, bad: Tensor) -> str:
        return f"; component {int(bad.nonzero()[0, 0])} is not"

    def from_init(self, matrix: Tensor, name: str, precision: bool) -> Tensor:
        batch = matrix.view(-1, *matrix.shape[-2:])
        asymmetric = ~torch.isclose(batch, batch.mT, rtol=1e-5, atol=1e-8).all((-2, -1))
        if asymmetric.any():
            raise ValueError(f"{name} must be symmetric{self._which(asymmetric)}")
        L, info = torch.linalg.cholesky_ex(batch)
        if (info != 0).any():
            raise ValueError(f"{name} must be positive definite{self._which(info != 0)}")
        return (torch.cholesky_inverse(L) if precision else batch).view_as(matrix)

    @staticmethod
    def _floored(scatter: Tensor, total: Tensor, reg_covar: float) -> Tensor:
        covariance = scatter / total
        covariance = 0.5 * (covariance + covariance.mT)
        eye = torch.eye(scatter.shape[-1], dtype=scatter.dtype, device=scatter.device)
        return covariance + reg_covar * eye


class Full(_Matrix):
    name = "full"

    def shape(self, K: int, D: int) -> tuple[int, ...]:
        return (K, D, D)

    def n_parameters(self, K: int, D: int) -> int:
        return K * D * (D + 1) // 2

    def maha(self, X: Tensor, means: Tensor, factor: Tensor) -> Tensor:
        out = X.new_empty(X.shape[0], means.shape[0])
        for rows in row_blocks(X.shape[0], means.numel()):
            diff = X[rows].unsqueeze(0) - means.unsqueeze(1)  # [K, n, D]
            z = torch.linalg.solve_triangular(factor, diff.mT, upper=False)  # L⁻¹(x − μ)
            # in place unless autograd keeps z (score_samples of X that requires grad)
            out[rows] = (z.square() if z.requires_grad else z.square_()).sum(-2).T
        return out

    def whiten(self, X: Tensor, factor: Tensor) -> Tensor:
        right = X.T.expand(factor.shape[0], *X.T.shape)
        return torch.linalg.solve_triangular(factor, right, upper=False).mT

    def estimate(
        self, X: Tensor, resp: Tensor, nk: Tensor, means: Tensor, reg_covar: float
    ) -> Tensor:
        K, D = means.shape
        scatter = X.new_zeros(K, D, D)
        for diff, weighted in self._differences(X, resp, means):
            scatter += weighted.mT @ diff
        return self._floored(scatter, nk.view(-1, 1, 1), reg_covar)

    def noise(self, noise: Tensor, labels: Tensor, factor: Tensor) -> Tensor:
        return (factor[labels] @ noise.unsqueeze(-1)).squeeze(-1)

    def overall(self, covariance: Tensor, K: int) -> Tensor:
        return covariance.expand(K, *covariance.shape)


class Tied(_Matrix):
    name = "tied"
    component = "the tied covariance"

    def shape(self, K: int, D: int) -> tuple[int, ...]:
        return (D, D)

    def n_parameters(self, K: int, D: int) -> int:
        return D * (D + 1) // 2

    def _which(self, bad: Tensor) -> str:
        return ""

    def whiten(self, X: Tensor, factor: Tensor) -> Tensor:
        return torch.linalg.solve_triangular(factor, X.T, upper=False).T.unsqueeze(0)

    def maha(self, X: Tensor, means: Tensor, factor: Tensor) -> Tensor:
        white_means = self.whiten_means(means, factor)
        out = X.new_empty(X.shape[0], means.shape[0])
        for rows in row_blocks(X.shape[0], means.numel()):
            diff = self.whiten(X[rows], factor) - white_means.unsqueeze(1)  # [K, n, D]
            out[rows] = diff.square().sum(-1).T
        return out

    def estimate(
        self, X: Tensor, resp: Tensor, nk: Tensor, means: Tensor, reg_covar: float
    ) -> Tensor:
        D = means.shape[1]
        scatter = X.new_zeros(D, D)
        for diff, weighted in self._differences(X, resp, means):
            scatter += weighted.reshape(-1, D).T @ diff.reshape(-1, D)
        return self._floored(scatter, nk.sum(), reg_covar)

    def noise(self, noise: Tensor, labels: Tensor, factor: Tensor) -> Tensor:
        return noise @ factor.T

    def overall(self, covariance: Tensor, K: int) -> Tensor:
        return covariance

    def keep(self, empty: Tensor, previous: Tensor, new: Tensor) -> Tensor:
        return new  # an empty component adds nothing to the shared scatter


class Diag(Covariance):
    name = "diag"

    def shape(self, K: int, D: int) -> tuple[int, ...]:
        return (K, D)

    def n_parameters(self, K: int, D: int) -> int:
        return K * D

    def factor(self, covariances: Tensor, reg_covar: float) -> Tensor:
        bad = ~(covariances > 0).view(covariances.shape[0], -1).all(-1)
        self._not_positive(bad, reg_covar, covariances.dtype, "the covariance of component {}")
        return covariances.sqrt()

    def log_det(self, factor: Tensor, D: int) -> Tensor:
        return 2 * factor.log().sum(-1)

    @staticmethod
    def _per_feature(factor: Tensor) -> Tensor:
        """The standard deviations as [K, 1, D] (diag) or [K, 1, 1] (spherical)."""
        return factor.view(factor.shape[0], 1, -1)

    def whiten(self, X: Tensor, factor: Tensor) -> Tensor:
        return X.unsqueeze(0) / self._per_feature(factor)

    def maha(self, X: Tensor, means: Tensor, factor: Tensor) -> Tensor:
        out = X.new_empty(X.shape[0], means.shape[0])
        std = self._per_feature(factor)
        for rows in row_blocks(X.shape[0], means.numel()):
            z = (X[rows].unsqueeze(0) - means.unsqueeze(1)) / std
            out[rows] = (z.square() if z.requires_grad else z.square_()).sum(-1).T
        return out

    def estimate(
        self, X: Tensor, resp: Tensor, nk: Tensor, means: Tensor, reg_covar: float
    ) -> Tensor:
        scatter = torch.zeros_like(means)
        for diff, weighted in self._differences(X, resp, means):
            scatter += (weighted * diff).sum(1)
        return scatter / nk.unsqueeze(1) + reg_covar

    def noise(self, noise: Tensor, labels: Tensor, factor: Tensor) -> Tensor:
        return noise * self._per_feature(factor)[labels, 0]

    def precisions_cholesky(self, factor: Tensor) -> Tensor:
        return 1 / factor

    def precisions(self, factor: Tensor) -> Tensor:
        return factor**-2

    def from_init(self, matrix: Tensor, name: str, precision: bool) -> Tensor:
        if not (matrix > 0).all():
            k = int((matrix <= 0).view(matrix.shape[0], -1).any(1).nonzero()[0, 0])
            raise ValueError(f"{name} must be positive; component {k} has {matrix[k].tolist()}")
        return 1 / matrix if precision else matrix

    def overall(self, covariance: Tensor, K: int) -> Tensor:
        return covariance.diagonal().expand(K, covariance.shape[0])


class Spherical(Diag):
    name = "spherical"

    def shape(self, K: int, D: int) -> tuple[int, ...]:
        return (K,)

    def n_parameters(self, K: int, D: int) -> int:
        return K

    def log_det(self, factor: Tensor, D: int) -> Tensor:
        return 2 * D * factor.log()

    def estimate(
        self, X: Tensor, resp: Tensor, nk: Tensor, means: Tensor, reg_covar: float
    ) -> Tensor:
        return super().estimate(X, resp, nk, means, reg_covar).mean(1)

    def overall(self, covariance: Tensor, K: int) -> Tensor:
        return covariance.diagonal().mean().expand(K)


COVARIANCES: dict[str, Covariance] = {
    kind.name: kind for kind in (Full(), Tied(), Diag(), Spherical())
}
LOG_2PI = math.log(2 * math.pi)

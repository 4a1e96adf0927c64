r"""hmmlearn's initialisation of an HMM from data (``init_params``): k-means centres for the
Gaussian means, the data's covariance for the covariances, Dirichlet draws for the
probabilities.

The k-means is :func:`reparam.latent.k_means.kmeans` (Lloyd's algorithm from greedy
k-means++ seeds), the best of 10 runs as scikit-learn's ``KMeans(n_init=10)`` that hmmlearn
calls.

>>> X = torch.tensor([[0.0], [0.1], [10.0], [10.1]], dtype=torch.float64)
>>> centres, labels = kmeans(X, 2, torch.Generator().manual_seed(0))
>>> sorted(centres.ravel().round(decimals=6).tolist()), labels[0] == labels[1] != labels[2]
([0.05, 10.05], tensor(True))
"""

from __future__ import annotations

import torch
from torch import Tensor

from reparam.latent import k_means
from reparam.latent.emissions.base import numpy_generator


def kmeans(X: Tensor, k: int, generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
    """Centres [k, D] and labels [N] of the best of 10 k-means runs on ``X`` [N, D], as
    hmmlearn's ``KMeans(n_init=10)`` (:func:`reparam.latent.k_means.kmeans`)."""
    if X.shape[0] < k:
        raise ValueError(
            f"init_params needs at least {k} valid steps to seed k-means, got {X.shape[0]}"
        )
    result = k_means.kmeans(X, k, n_init=10, generator=generator)
    return result.centres, result.labels


def data_covariance(X: Tensor, floor: float) -> Tensor:
    """The data's covariance (N − 1 in the denominator, as ``numpy.cov``) plus ``floor`` · I,
    hmmlearn's starting covariance (``min_covar``; reparam's ``variance_floor``)."""
    D = X.shape[1]
    cv = torch.cov(X.T).reshape(D, D) if X.shape[0] > 1 else X.new_zeros(D, D)
    return cv + floor * torch.eye(D, dtype=X.dtype)


def dirichlet(alpha: float, shape: tuple[int, ...], generator: torch.Generator | None) -> Tensor:
    """Draws of a symmetric Dirichlet(α) over the last axis of ``shape`` (float64), as
    hmmlearn's ``random_state.dirichlet``."""
    rng = numpy_generator(generator)
    draws = rng.dirichlet([alpha] * shape[-1], size=shape[:-1])
    return torch.as_tensor(draws, dtype=torch.float64)

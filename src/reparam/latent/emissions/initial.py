r"""hmmlearn's initialisation of an HMM from data (``init_params``): k-means centres for the
Gaussian means, the data's covariance for the covariances, Dirichlet draws for the
probabilities.

k-means (Lloyd 1982) alternates assigning each point to its nearest centre and moving each
centre to the mean of its points, from k-means++ seeds (Arthur & Vassilvitskii 2007), until
the centres move by less than ``tol`` times the data's mean variance (scikit-learn's rule);
the best of ``n_init`` runs (least inertia :math:`\sum_n \min_j \lVert x_n - c_j\rVert^2`)
is kept, as scikit-learn's ``KMeans(n_init=10)`` that hmmlearn calls does.

References:
    Lloyd (1982), Least squares quantization in PCM. IEEE Trans. Inf. Theory 28(2).
    Arthur & Vassilvitskii (2007), k-means++: the advantages of careful seeding. SODA.

>>> X = torch.tensor([[0.0], [0.1], [10.0], [10.1]], dtype=torch.float64)
>>> centres, labels = kmeans(X, 2, torch.Generator().manual_seed(0))
>>> sorted(centres.ravel().tolist()), labels[0] == labels[1] != labels[2]
([0.05, 10.05], tensor(True))
"""

from __future__ import annotations

import torch
from torch import Tensor

from reparam.latent.emissions.base import numpy_generator
from reparam.latent.gmm import kmeans_plusplus


def _lloyd(X: Tensor, seeds: Tensor, tol: float, max_iter: int) -> tuple[Tensor, Tensor, float]:
    centres = seeds
    k = centres.shape[0]
    for _ in range(max_iter):
        labels = torch.cdist(X, centres).argmin(1)
        onehot = torch.nn.functional.one_hot(labels, k).to(X.dtype)
        counts = onehot.sum(0)
        moved = (onehot.T @ X) / counts.clamp_min(1)[:, None]
        moved = torch.where(counts[:, None] > 0, moved, centres)  # an empty cluster stays
        shift = (moved - centres).square().sum().item()
        centres = moved
        if shift <= tol:
            break
    labels = torch.cdist(X, centres).argmin(1)
    inertia = (X - centres[labels]).square().sum().item()
    return centres, labels, inertia


def kmeans(
    X: Tensor,
    k: int,
    generator: torch.Generator | None,
    n_init: int = 10,
    max_iter: int = 300,
    tol: float = 1e-4,
) -> tuple[Tensor, Tensor]:
    """Centres [k, D] and labels [N] of the best of ``n_init`` k-means runs on ``X`` [N, D]
    (N ≥ k)."""
    tol = tol * X.var(0, unbiased=False).mean().item()
    best = None
    for _ in range(n_init):
        run = _lloyd(X, X[kmeans_plusplus(X, k, generator)], tol, max_iter)
        if best is None or run[2] < best[2]:
            best = run
    return best[0], best[1]


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

r"""How a Gaussian mixture's EM starts: responsibilities :math:`r_{nk}` for a first M step.

scikit-learn's ``init_params``, with its meanings:

- ``"kmeans"``: one-hot responsibilities of a k-means clustering (Lloyd's algorithm from greedy
  k-means++ seeds, :func:`reparam.latent.k_means.kmeans`), as scikit-learn's
  ``KMeans(n_init=1)``;
- ``"k-means++"``: greedy k-means++ seeds (2 + ⌊ln K⌋ local trials), each component given its
  own seed point only, so its mean is the seed and its covariance ``reg_covar``·I;
- ``"random"``: uniform random responsibilities, normalised per point;
- ``"random_from_data"``: K distinct data points drawn uniformly, one a component, as for
  ``"k-means++"``.

scikit-learn divides the first weights by N, so after ``"k-means++"`` and
``"random_from_data"`` its initial weights sum to K/N; reparam normalises them. The first E
step's responsibilities are the same, its log-likelihood (the first entry of ``history``) is
higher by :math:`\log(N/K)`, and every later iteration agrees.

reparam's own ``init="k-means++"`` (its default) is k-means stopped after its first assignment:
plain k-means++ seeds (Arthur & Vassilvitskii 2007), every point given to its nearest seed. A
component its seed leaves without points keeps that seed as mean and the covariance of the
whole data set (the only way a component is empty after a hard assignment: duplicated points).

>>> X = torch.tensor([[0.0], [0.1], [5.0], [5.2]], dtype=torch.float64)
>>> resp, seeds = initial_responsibilities("random_from_data", X, 2, torch.Generator().manual_seed(0))
>>> resp.sum(0).tolist(), seeds is None
([1.0, 1.0], True)
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from reparam.latent.k_means import assign, kmeans, kmeans_plusplus

INIT_PARAMS = ("kmeans", "k-means++", "random", "random_from_data")
INITS = ("k-means++", "random")
NEAREST_SEED = "nearest seed"  # reparam's init="k-means++"


def initial_responsibilities(
    method: str, X: Tensor, K: int, generator: torch.Generator
) -> tuple[Tensor, Tensor | None]:
    """(r [N, K], the means of components left empty, or None when none can be) for a
    ``method`` of :data:`INIT_PARAMS` or :data:`NEAREST_SEED`."""
    N = X.shape[0]
    if method == "random":
        resp = torch.rand(N, K, generator=generator, dtype=X.dtype, device=X.device)
        return resp / resp.sum(1, keepdim=True), None
    if method in ("k-means++", "random_from_data"):
        if method == "k-means++":
            indices = kmeans_plusplus(X, K, generator, 2 + int(math.log(K)))
        else:
            indices = torch.randperm(N, generator=generator, device=X.device)[:K]
        resp = X.new_zeros(N, K)
        resp[indices, torch.arange(K, device=X.device)] = 1
        return resp, None
    if method == "kmeans":
        result = kmeans(X, K, generator=generator)
        centres, labels = result.centres, result.labels
    else:
        centres = X[kmeans_plusplus(X, K, generator)]
        labels = assign(X, centres)
    return torch.nn.functional.one_hot(labels, K).to(X.dtype), centres

r"""k-means: Lloyd's algorithm seeded by k-means++, batched over restarts.

Lloyd's algorithm (Lloyd 1982) alternates two steps that never increase the inertia
:math:`J = \sum_n \lVert x_n - c_{l_n}\rVert^2`:

- assignment, every point to its nearest centre, :math:`l_n = \arg\min_k \lVert x_n - c_k
  \rVert^2`, from :math:`\lVert c_k\rVert^2 - 2\,x_n^\top c_k` (one matrix product per block
  of rows; the data are centred first, as scikit-learn does, so the expansion loses little);
- update, every centre to the mean of its points, :math:`c_k = \frac{1}{|S_k|}\sum_{n \in S_k}
  x_n`. A cluster left empty takes the point farthest from its centre (scikit-learn's rule).

It stops when the labels no longer change, or when the centres move by
:math:`\sum_k \lVert c_k^{\text{new}} - c_k\rVert^2 \le \mathrm{tol}\cdot\frac{1}{D}\sum_d
\operatorname{Var}(x_d)` (scikit-learn's relative tolerance), and a last assignment step makes
the labels those of the final centres. ``n_init`` restarts run together as one batch of
[R, rows, k] distances; the one of least inertia is kept. Stopping at ``max_iter`` first warns
with :class:`reparam.ConvergenceWarning`.

The seeds are k-means++'s D² sampling (Arthur & Vassilvitskii 2007): the first uniformly, each
next with probability proportional to its squared distance to the nearest seed so far. With
``n_local_trials`` = t > 1 it is the greedy variant scikit-learn uses (t = 2 + ⌊ln k⌋ by
default there and in :func:`kmeans`): t candidates are drawn and the one that lowers the
potential :math:`\sum_n \min_j \lVert x_n - c_j\rVert^2` most is kept.

References:
    Lloyd (1982), Least squares quantization in PCM. IEEE Trans. Inf. Theory 28(2).
    Arthur & Vassilvitskii (2007), k-means++: the advantages of careful seeding. SODA.

>>> _ = torch.manual_seed(0)
>>> X = torch.cat([torch.randn(100, 2) - 5, torch.randn(100, 2) + 5]).double()
>>> result = kmeans(X, 2, seed=0)
>>> sorted(result.centres[:, 0].round().tolist()), result.converged
([-5.0, 5.0], True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from reparam.checks import non_negative_int, positive_int, real
from reparam.convergence import warn_not_converged
from reparam.latent.blocks import row_blocks


def kmeans_plusplus(
    X: Tensor, k: int, generator: torch.Generator, n_local_trials: int = 1
) -> Tensor:
    """Indices [k] of seeds drawn by k-means++ D² sampling (uniformly among unchosen points
    once every distance is zero), keeping the best of ``n_local_trials`` candidates a step."""
    n = X.shape[0]
    chosen = torch.zeros(n, dtype=torch.bool, device=X.device)
    index = torch.randint(n, (1,), generator=generator, device=X.device)
    indices = [index]
    chosen[index] = True
    nearest = ((X - X[index]) ** 2).sum(-1)
    for _ in range(1, k):
        total = nearest.sum()
        if total > 0 and torch.isfinite(total):
            probabilities = nearest / total
        else:  # every point sits on a seed already: duplicate data, pick an unchosen point
            probabilities = (~chosen).to(X.dtype)
        candidates = torch.multinomial(
            probabilities, n_local_trials, replacement=n_local_trials > 1, generator=generator
        )
        distances = torch.minimum(nearest, ((X - X[candidates].unsqueeze(1)) ** 2).sum(-1))
        best = distances.sum(1).argmin() if n_local_trials > 1 else 0
        index = candidates[best].view(1)
        indices.append(index)
        chosen[index] = True
        nearest = distances[best]
    return torch.cat(indices)


def assign(X: Tensor, centres: Tensor) -> Tensor:
    """The nearest centre of every point: labels [..., N] for centres [..., k, D] (a batch of
    restarts, or one set)."""
    squared = (centres * centres).sum(-1).unsqueeze(-2)  # [..., 1, k]
    labels = torch.empty(centres.shape[:-2] + X.shape[:1], dtype=torch.long, device=X.device)
    for rows in row_blocks(X.shape[0], centres.shape[:-1].numel()):
        labels[..., rows] = (squared - 2 * X[rows] @ centres.mT).argmin(-1)
    return labels


def _inertia(X: Tensor, centres: Tensor, labels: Tensor) -> Tensor:
    """Σ_n ‖x_n − c_{l_n}‖² per restart, [R], from the differences themselves."""
    return torch.stack([((X - c[lab]) ** 2).sum() for c, lab in zip(centres, labels, strict=True)])


def _update(X: Tensor, centres: Tensor, labels: Tensor) -> Tensor:
    """The means of the clusters [R, k, D]; an empty cluster takes the point farthest from its
    centre, which leaves its old cluster (scikit-learn's relocation)."""
    R, k, D = centres.shape
    flat = (labels + k * torch.arange(R, device=X.device).unsqueeze(1)).flatten()
    counts = torch.bincount(flat, minlength=R * k).view(R, k).to(X.dtype)
    sums = X.new_zeros(R * k, D).index_add_(0, flat, X.repeat(R, 1)).view(R, k, D)
    for r in (counts == 0).any(1).nonzero().flatten().tolist():
        empty = (counts[r] == 0).nonzero().flatten()
        far = ((X - centres[r, labels[r]]) ** 2).sum(-1).topk(len(empty)).indices
        for cluster, point in zip(empty.tolist(), far.tolist(), strict=True):
            old = labels[r, point]
            sums[r, old] -= X[point]
            counts[r, old] -= 1
            sums[r, cluster] = X[point]
            counts[r, cluster] = 1
    return torch.where(counts.unsqueeze(-1) > 0, sums / counts.clamp(min=1).unsqueeze(-1), centres)


@dataclass(frozen=True)
class KMeansResult:
    """The restart of least inertia: ``centres`` [k, D], ``labels`` [N], ``inertia``
    (Σ_n ‖x_n − c_{l_n}‖²), ``n_iter`` (its Lloyd iterations) and ``converged``."""

    centres: Tensor
    labels: Tensor
    inertia: float
    n_iter: int
    converged: bool

    def summary(self) -> str:
        state = "converged" if self.converged else "not converged"
        return (
            f"k-means: {self.centres.shape[0]} centres, inertia {self.inertia:.6g}, "
            f"{self.n_iter} iterations ({state})"
        )


def kmeans(
    X: Any,
    k: int,
    *,
    init: str | Any = "k-means++",
    n_init: int = 1,
    max_iter: int = 300,
    tol: float = 1e-4,
    seed: int | None = None,
    generator: torch.Generator | None = None,
) -> KMeansResult:
    """Lloyd's algorithm from ``n_init`` seedings, batched; the result of least inertia.

    Args:
        X: [N, D] real data (a tensor or an array; integers become float64).
        k: the number of clusters, 1 ≤ k ≤ N.
        init: ``"k-means++"`` (greedy, 2 + ⌊ln k⌋ local trials, as scikit-learn), ``"random"``
            (k distinct data points) or the initial centres, [k, D] or [n_init, k, D].
        n_init: restarts, run as one batch.
        max_iter: at most this many Lloyd iterations (0: the seeds' assignment only, no
            warning).
        tol: the relative tolerance on the centres' squared shift (see the module docstring).
        seed, generator: the seeding's randomness (``generator`` wins when both are given).
    """
    X = torch.as_tensor(X)
    X = X if X.is_floating_point() else X.double()
    if X.dim() != 2 or not torch.isfinite(X).all():
        raise ValueError(f"X must be a finite 2-D [N, D] array, got shape {tuple(X.shape)}")
    positive_int("k", k)
    if k > X.shape[0]:
        raise ValueError(f"k={k} exceeds the {X.shape[0]} samples in X")
    positive_int("n_init", n_init)
    non_negative_int("max_iter", max_iter)
    if real("tol", tol) < 0:
        raise ValueError(f"tol must be ≥ 0, got {tol}")
    if generator is None:
        generator = torch.Generator(device=X.device)
        generator.seed() if seed is None else generator.manual_seed(seed)
    offset = X.mean(0)
    X = X - offset
    centres = _seeds(X, k, init, n_init, generator, offset)
    threshold = tol * X.var(0, correction=0).mean().item()

    R = centres.shape[0]
    labels = torch.full((R, X.shape[0]), -1, dtype=torch.long, device=X.device)
    n_iter = torch.zeros(R, dtype=torch.long)
    strict = torch.zeros(R, dtype=torch.bool)  # the labels did not change
    converged = torch.zeros(R, dtype=torch.bool)
    for _ in range(max_iter):
        where = (~converged).nonzero().flatten()
        new_labels = assign(X, centres[where])
        new = _update(X, centres[where], new_labels)
        shift = ((new - centres[where]) ** 2).sum((1, 2)).cpu()
        strict[where] = (new_labels == labels[where]).all(1).cpu()
        centres[where], labels[where] = new, new_labels
        n_iter[where] += 1
        converged[where] = strict[where] | (shift <= threshold)
        if converged.all():
            break
    moved = (~strict).nonzero().flatten()  # the labels of the final centres
    labels[moved] = assign(X, centres[moved])
    inertia = _inertia(X, centres, labels)
    best = int(inertia.argmin())
    if max_iter > 0 and not converged[best]:  # max_iter=0 asks for the seeds' labels only
        warn_not_converged(
            "kmeans",
            f"the centres still moved after max_iter={max_iter} Lloyd iterations, by more "
            f"than tol={tol:g} of the mean variance; increase max_iter or tol",
            stacklevel=3,
        )
    return KMeansResult(
        centres=centres[best] + offset,
        labels=labels[best],
        inertia=float(inertia[best]),
        n_iter=int(n_iter[best]),
        converged=bool(converged[best]),
    )


def _seeds(
    X: Tensor, k: int, init: str | Any, n_init: int, generator: torch.Generator, offset: Tensor
) -> Tensor:
    """The initial centres [n_init, k, D] of the centred data ``X``."""
    if isinstance(init, str):
        if init == "k-means++":
            trials = 2 + int(math.log(k))
            picks = [kmeans_plusplus(X, k, generator, trials) for _ in range(n_init)]
        elif init == "random":
            picks = [
                torch.randperm(X.shape[0], generator=generator, device=X.device)[:k]
                for _ in range(n_init)
            ]
        else:
            raise ValueError(f"unknown init {init!r}; choose k-means++, random or centres")
        return X[torch.stack(picks)]
    centres = torch.as_tensor(init).to(dtype=X.dtype, device=X.device)
    centres = centres.expand(n_init, *centres.shape) if centres.dim() == 2 else centres
    if centres.shape != (n_init, k, X.shape[1]) or not torch.isfinite(centres).all():
        raise ValueError(
            f"init must be finite centres of shape [{k}, {X.shape[1]}] or "
            f"[{n_init}, {k}, {X.shape[1]}], got shape {list(centres.shape)}"
        )
    return centres - offset

"""k-means (Lloyd's algorithm seeded by k-means++) against scikit-learn's KMeans from the same
initial centres: centres, labels, inertia and iteration count; empty-cluster relocation,
batched restarts, the greedy seeding, warnings and bad input."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans

from reparam import ConvergenceWarning
from reparam.latent import KMeansResult, kmeans, kmeans_plusplus


def blobs(n: int = 100, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.normal(c, 1.0, (n, 3)) for c in (-3.0, 0.0, 3.0, 6.0)])


def sklearn_kmeans(X: np.ndarray, init: np.ndarray, **kwargs) -> KMeans:
    return KMeans(len(init), init=init, n_init=1, algorithm="lloyd", **kwargs).fit(X)


@pytest.mark.parametrize(("seed", "tol"), [(0, 1e-4), (1, 0.0), (2, 1e-1)])
def test_matches_sklearn_from_the_same_centres(seed: int, tol: float) -> None:
    """Same seeds, same Lloyd iterations: centres to 1e-12 (both centre the data and use the
    ‖c‖² − 2x·c expansion; rounding differs in the order of sums), identical labels and
    iteration counts, inertia to 1e-12 relative."""
    X = blobs(seed=seed)
    init = X[np.random.default_rng(seed).choice(len(X), 4, replace=False)]
    sk = sklearn_kmeans(X, init, tol=tol)
    ours = kmeans(X, 4, init=init, tol=tol)
    assert isinstance(ours, KMeansResult) and ours.converged
    assert ours.n_iter == sk.n_iter_
    np.testing.assert_array_equal(ours.labels.numpy(), sk.labels_)
    np.testing.assert_allclose(ours.centres.numpy(), sk.cluster_centers_, rtol=0, atol=1e-12)
    assert ours.inertia == pytest.approx(sk.inertia_, rel=1e-12)
    assert "4 centres" in ours.summary()


def test_an_empty_cluster_takes_the_farthest_point_as_sklearn() -> None:
    X = blobs(seed=3)
    init = X[[0, 150, 250]]
    init = np.concatenate([init, [[100.0, 100.0, 100.0]]])  # no point is nearest to it
    sk = sklearn_kmeans(X, init)
    ours = kmeans(X, 4, init=init)
    assert ours.n_iter == sk.n_iter_
    np.testing.assert_array_equal(ours.labels.numpy(), sk.labels_)
    np.testing.assert_allclose(ours.centres.numpy(), sk.cluster_centers_, atol=1e-12)


def test_restarts_run_as_one_batch_and_keep_the_least_inertia() -> None:
    X = blobs(seed=4)
    rng = np.random.default_rng(5)
    inits = np.stack([X[rng.choice(len(X), 4, replace=False)] for _ in range(3)])
    batch = kmeans(X, 4, init=inits, n_init=3)
    alone = [kmeans(X, 4, init=init) for init in inits]
    best = min(alone, key=lambda result: result.inertia)
    assert batch.inertia == pytest.approx(best.inertia, rel=1e-12)
    torch.testing.assert_close(batch.centres, best.centres)
    # seeded restarts: the same seed gives the same result, more restarts never worse
    one = kmeans(X, 4, seed=0)
    five = kmeans(X, 4, seed=0, n_init=5)
    assert five.inertia <= one.inertia + 1e-9
    torch.testing.assert_close(kmeans(X, 4, seed=0).centres, one.centres)


def test_seeding() -> None:
    X = torch.as_tensor(blobs(seed=6))
    for trials in (1, 2 + int(math.log(4))):
        indices = kmeans_plusplus(X, 4, torch.Generator().manual_seed(0), trials)
        assert indices.unique().numel() == 4
    # duplicated data: every distance is zero after the first seed, the rest are unchosen rows
    same = torch.zeros(5, 2, dtype=torch.float64)
    assert kmeans_plusplus(same, 5, torch.Generator().manual_seed(0), 3).unique().numel() == 5
    # "random": k distinct data points; max_iter=0 assigns to the seeds and does not warn
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        result = kmeans(X, 4, init="random", seed=1, max_iter=0)
    assert result.n_iter == 0 and result.labels.unique().numel() <= 4


def test_float32_and_converged_runs_do_not_warn() -> None:
    X = torch.as_tensor(blobs(seed=7), dtype=torch.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        result = kmeans(X, 4, seed=0)
    assert result.centres.dtype == torch.float32 and result.converged


def test_stopping_at_max_iter_warns() -> None:
    X = blobs(seed=8)
    init = X[:4]
    with pytest.warns(ConvergenceWarning, match="max_iter=1"):
        result = kmeans(X, 4, init=init, max_iter=1, tol=0.0)
    sk = sklearn_kmeans(X, init, max_iter=1, tol=0.0)
    assert not result.converged and result.n_iter == sk.n_iter_ == 1
    np.testing.assert_array_equal(result.labels.numpy(), sk.labels_)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"k": 0}, ValueError, "k must be"),
        ({"k": 2.5}, TypeError, "k must be"),
        ({"k": 11}, ValueError, "k=11 exceeds"),
        ({"n_init": 0}, ValueError, "n_init"),
        ({"max_iter": -1}, ValueError, "max_iter"),
        ({"tol": -1.0}, ValueError, "tol"),
        ({"init": "kmeans"}, ValueError, "init"),
        ({"init": np.zeros((3, 2))}, ValueError, r"init must be finite centres of shape \[2, 2\]"),
    ],
)
def test_bad_inputs(kwargs: dict, error: type, message: str) -> None:
    X = np.random.default_rng(0).normal(size=(10, 2))
    k = kwargs.pop("k", 2)
    with pytest.raises(error, match=message):
        kmeans(X, k, **kwargs)
    with pytest.raises(ValueError, match="X must be"):
        kmeans(np.array([1.0, np.nan]), 1)

"""Tests of the EM Gaussian mixture: monotone likelihood, scikit-learn and SciPy oracles,
parameter recovery, degenerate data and input validation."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal
from sklearn.exceptions import ConvergenceWarning as SkConvergenceWarning
from sklearn.mixture import GaussianMixture as SkGaussianMixture

from reparam import ConvergenceWarning
from reparam.latent import GaussianMixture

COVARIANCE_TYPES = ["full", "diag"]


def three_clusters(n: int = 300, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0, 0.0], [3.0, 1.0, -1.0], [-2.0, 4.0, 1.0]])
    scales = [0.5, 1.0, 1.5]
    return np.concatenate(
        [
            c + s * rng.standard_normal((n // 3, 3)) @ rng.standard_normal((3, 3)) * 0.6
            for c, s in zip(centres, scales, strict=True)
        ]
    )


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("init", ["k-means++", "random"])
def test_log_likelihood_never_decreases(covariance_type: str, init: str) -> None:
    X = three_clusters()
    gmm = GaussianMixture(3, covariance_type, tol=0.0, max_iter=60, init=init, seed=1)
    with pytest.warns(ConvergenceWarning, match="max_iter=60"):  # tol = 0 is never reached
        gmm.fit(X)
    history = np.array(gmm.history)
    assert len(history) == 60 and np.isfinite(history).all()
    assert (np.diff(history) >= -1e-10 * np.abs(history[1:])).all()
    # the final parameters are at least as good as the last recorded ones
    assert gmm.score(X) >= gmm.lower_bound_ - 1e-10 * abs(gmm.lower_bound_)


def initial_parameters(X: np.ndarray, K: int, covariance_type: str, seed: int):
    rng = np.random.default_rng(seed)
    D = X.shape[1]
    weights = rng.dirichlet(np.full(K, 5.0))
    means = X[rng.choice(len(X), K, replace=False)]
    if covariance_type == "full":
        A = rng.standard_normal((K, D, D))
        covariances = A @ A.transpose(0, 2, 1) / D + np.eye(D)
        precisions = np.linalg.inv(covariances)
    else:
        precisions = 1 / rng.uniform(0.5, 2.0, (K, D))
    return weights, means, precisions


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_matches_sklearn_from_the_same_start(covariance_type: str) -> None:
    """Both run 20 EM iterations from the same parameters; weights, means and covariances
    agree to 1e-6 relative, the lower bounds to 1e-8 (float64; observed ≤ 1e-14, and 2e-9 for
    the variances of a diag component that collapses onto one point, where scikit-learn's
    E[x²] − μ² form cancels)."""
    X = three_clusters(seed=3)
    weights, means, precisions = initial_parameters(X, 4, covariance_type, seed=4)
    kwargs = {"covariance_type": covariance_type, "tol": 1e-300, "max_iter": 20, "reg_covar": 1e-4}
    sk = SkGaussianMixture(
        4, weights_init=weights, means_init=means, precisions_init=precisions, **kwargs
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkConvergenceWarning)
        sk.fit(X)
    ours = GaussianMixture(4, seed=0, **kwargs)
    with pytest.warns(ConvergenceWarning, match="tol=1e-300"):  # as scikit-learn's
        ours.fit(X, weights_init=weights, means_init=means, precisions_init=precisions)
    assert ours.n_iter_ == sk.n_iter_ == 20
    assert ours.converged_ == sk.converged_
    for name in ["weights_", "means_", "covariances_"]:
        np.testing.assert_allclose(
            getattr(ours, name).numpy(), getattr(sk, name), rtol=1e-6, atol=1e-9, err_msg=name
        )
    np.testing.assert_allclose(ours.lower_bound_, sk.lower_bound_, rtol=1e-8)
    np.testing.assert_allclose(ours.history, sk.lower_bounds_, rtol=1e-8)
    np.testing.assert_allclose(ours.score_samples(X).numpy(), sk.score_samples(X), rtol=1e-6)
    np.testing.assert_allclose(ours.predict_proba(X).numpy(), sk.predict_proba(X), atol=1e-6)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_score_samples_is_the_mixture_density(covariance_type: str) -> None:
    X = three_clusters(seed=5)
    with pytest.warns(ConvergenceWarning, match="max_iter=5"):
        gmm = GaussianMixture(3, covariance_type, max_iter=5, seed=2).fit(X)
    Y = np.random.default_rng(6).normal(0, 3, (50, 3))
    densities = [
        w * multivariate_normal(m, np.diag(c) if covariance_type == "diag" else c).pdf(Y)
        for w, m, c in zip(
            gmm.weights_.numpy(), gmm.means_.numpy(), gmm.covariances_.numpy(), strict=True
        )
    ]
    expected = np.log(np.sum(densities, axis=0))
    np.testing.assert_allclose(gmm.score_samples(Y).numpy(), expected, rtol=1e-10)
    assert gmm.score(Y) == pytest.approx(expected.mean(), rel=1e-10)
    assert gmm.predict_proba(Y).sum(1).numpy() == pytest.approx(np.ones(50), abs=1e-12)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_recovers_well_separated_clusters(covariance_type: str) -> None:
    rng = np.random.default_rng(11)
    weights = np.array([0.5, 0.3, 0.2])
    means = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    covariances = np.array(
        [[[1.0, 0.5], [0.5, 1.0]], [[2.0, -0.3], [-0.3, 0.5]], [[0.3, 0.0], [0.0, 1.5]]]
    )
    if covariance_type == "diag":
        covariances = covariances * np.eye(2)
    labels = rng.choice(3, 20000, p=weights)
    noise = rng.standard_normal((20000, 2, 1))
    X = means[labels] + (np.linalg.cholesky(covariances)[labels] @ noise)[..., 0]

    gmm = GaussianMixture(3, covariance_type, seed=12).fit(X)
    assert gmm.converged_
    match = torch.cdist(torch.as_tensor(means), gmm.means_).argmin(1)
    assert sorted(match.tolist()) == [0, 1, 2]
    fitted = gmm.covariances_[match].numpy()
    if covariance_type == "diag":
        fitted = np.stack([np.diag(c) for c in fitted])
    np.testing.assert_allclose(gmm.weights_[match].numpy(), weights, atol=0.02)
    np.testing.assert_allclose(gmm.means_[match].numpy(), means, atol=0.06)
    np.testing.assert_allclose(fitted, covariances, atol=0.1)
    assert (gmm.predict(X).numpy() == match.numpy()[labels]).mean() > 0.999

    # and sampling from the fit gives back its own parameters
    sample, drawn = gmm.sample(40000)
    assert torch.isfinite(sample).all() and sample.shape == (40000, 2)
    share = torch.bincount(drawn, minlength=3).double() / 40000
    np.testing.assert_allclose(share.numpy(), gmm.weights_.numpy(), atol=0.015)
    first = sample[drawn == match[0]].numpy()
    np.testing.assert_allclose(first.mean(0), gmm.means_[match[0]].numpy(), atol=0.05)
    np.testing.assert_allclose(np.cov(first.T), fitted[0], atol=0.08)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("init", ["k-means++", "random"])
def test_degenerate_data_gives_no_nan(covariance_type: str, init: str) -> None:
    # 3 distinct points, each repeated 4 times, and 5 components: two must end up empty
    X = torch.tensor([[0.0, 0.0], [1.0, 2.0], [-3.0, 1.0]], dtype=torch.float64).repeat(4, 1)
    gmm = GaussianMixture(5, covariance_type, init=init, max_iter=50, seed=0).fit(X)
    for value in [gmm.weights_, gmm.means_, gmm.covariances_, gmm.score_samples(X)]:
        assert torch.isfinite(value).all()
    assert np.isfinite(gmm.history).all()
    assert gmm.weights_.sum().item() == pytest.approx(1.0)
    assert (np.diff(gmm.history) >= -1e-10 * np.abs(gmm.history[1:])).all()
    if init == "k-means++":  # k-means++ seeds all 3 points, then the 2 extra seeds are empty
        assert (gmm.weights_ < 1e-10).sum() == 2
    sample, _ = gmm.sample(10)
    assert torch.isfinite(sample).all()

    # all points identical, one component per point
    same = torch.ones(4, 3)
    gmm = GaussianMixture(4, covariance_type, seed=0).fit(same)
    assert torch.isfinite(gmm.score_samples(same)).all()
    assert torch.isfinite(gmm.covariances_).all()


def test_extreme_scales_give_no_nan() -> None:
    X = three_clusters(seed=7)
    for scale in [1e-4, 1e8]:
        gmm = GaussianMixture(3, reg_covar=1e-6 * scale**2, seed=0).fit(X * scale)
        assert torch.isfinite(gmm.score_samples(X * scale)).all()
        # far outside every component the log-density is very negative but finite
        assert torch.isfinite(gmm.score_samples(np.full((1, 3), 1e6 * scale))).all()


def test_float32_and_numpy_inputs() -> None:
    X = three_clusters(seed=8)
    gmm = GaussianMixture(3, dtype=torch.float32, seed=0).fit(torch.as_tensor(X).float())
    assert gmm.means_.dtype == torch.float32
    gmm64 = GaussianMixture(3, seed=0).fit(X.astype(np.float32))
    assert gmm64.means_.dtype == torch.float64
    assert gmm64.bic(X) > gmm64.aic(X)  # log N > 2 for N = 300


def test_bad_inputs() -> None:
    X = three_clusters()
    with pytest.raises(ValueError, match="n_components"):
        GaussianMixture(0)
    with pytest.raises(ValueError, match="covariance_type"):
        GaussianMixture(2, covariance_type="circular")
    with pytest.raises(ValueError, match="init"):
        GaussianMixture(2, init="kmeans")
    with pytest.raises(ValueError, match="exceeds"):
        GaussianMixture(4).fit(X[:3])
    with pytest.raises(ValueError, match="2-D"):
        GaussianMixture(2).fit(X[:, 0])
    with pytest.raises(ValueError, match="NaN"):
        GaussianMixture(2).fit(np.where(np.arange(3) == 1, np.nan, X))
    with pytest.raises(ValueError, match="not fitted"):
        GaussianMixture(2).predict(X)
    with pytest.raises(ValueError, match="weights_init"):
        GaussianMixture(2).fit(X, weights_init=[0.3, 0.3])
    with pytest.raises(ValueError, match="features"):
        GaussianMixture(2, seed=0).fit(X).score_samples(X[:, :2])

"""scikit-learn's own GaussianMixture tests (sklearn/mixture/tests/test_gaussian_mixture.py,
scikit-learn 1.9.1), ported to reparam's API with their data and tolerances. Each test names
its original; where the original fixes ``random_state`` to a shared RandomState, ours takes a
seed (a fit's randomness is its own), and the assertions that depend on that sharing say how
they were adapted."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
import torch
from scipy import linalg, stats
from sklearn.covariance import EmpiricalCovariance
from sklearn.datasets import make_spd_matrix
from sklearn.metrics.cluster import adjusted_rand_score
from sklearn.utils.extmath import fast_logdet

from reparam import ConvergenceWarning
from reparam.latent import GaussianMixture
from reparam.latent.gmm_covariance import COVARIANCES

COVARIANCE_TYPE = ["full", "tied", "diag", "spherical"]


def generate_data(n_samples, n_features, weights, means, precisions, covariance_type):
    rng = np.random.RandomState(0)
    X = []
    for k, (w, m) in enumerate(zip(weights, means, strict=True)):
        n = int(np.round(w * n_samples))
        if covariance_type == "spherical":
            X.append(rng.multivariate_normal(m, precisions["spherical"][k] * np.eye(n_features), n))
        elif covariance_type == "diag":
            X.append(rng.multivariate_normal(m, np.diag(precisions["diag"][k]), n))
        elif covariance_type == "tied":
            X.append(rng.multivariate_normal(m, precisions["tied"], n))
        else:
            X.append(rng.multivariate_normal(m, precisions["full"][k], n))
    return np.vstack(X)


class RandomData:
    def __init__(self, rng, n_samples=200, n_components=2, n_features=2, scale=50):
        self.n_samples, self.n_components, self.n_features = n_samples, n_components, n_features
        self.weights = rng.rand(n_components)
        self.weights = self.weights / self.weights.sum()
        self.means = rng.rand(n_components, n_features) * scale
        self.covariances = {
            "spherical": 0.5 + rng.rand(n_components),
            "diag": (0.5 + rng.rand(n_components, n_features)) ** 2,
            "tied": make_spd_matrix(n_features, random_state=rng),
            "full": np.array(
                [make_spd_matrix(n_features, random_state=rng) * 0.5 for _ in range(n_components)]
            ),
        }
        self.precisions = {
            "spherical": 1.0 / self.covariances["spherical"],
            "diag": 1.0 / self.covariances["diag"],
            "tied": linalg.inv(self.covariances["tied"]),
            "full": np.array([linalg.inv(c) for c in self.covariances["full"]]),
        }
        self.X = {
            t: generate_data(n_samples, n_features, self.weights, self.means, self.covariances, t)
            for t in COVARIANCE_TYPE
        }
        self.Y = np.hstack(
            [np.full(int(np.round(w * n_samples)), k) for k, w in enumerate(self.weights)]
        )


def quiet_fit(gmm: GaussianMixture, X, **kwargs) -> GaussianMixture:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return gmm.fit(X, **kwargs)


def given(rand_data: RandomData, covariance_type: str) -> dict:
    return {
        "weights_init": rand_data.weights,
        "means_init": rand_data.means,
        "precisions_init": rand_data.precisions[covariance_type],
    }


T = torch.as_tensor


# ported from test_gaussian_mixture.py::test_gaussian_mixture_attributes
def test_gaussian_mixture_attributes():
    X = np.random.RandomState(0).rand(10, 2)
    gmm = GaussianMixture(
        2,
        tol=1e-4,
        n_init=3,
        max_iter=30,
        reg_covar=1e-1,
        covariance_type="full",
        init_params="random",
    )
    gmm.fit(X)
    assert (gmm.n_components, gmm.covariance_type, gmm.tol, gmm.reg_covar) == (2, "full", 1e-4, 0.1)
    assert (gmm.max_iter, gmm.n_init, gmm.init_params) == (30, 3, "random")


# ported from test_gaussian_mixture.py::test_check_weights, test_check_means and
# test_check_precisions (messages are reparam's: they name the argument)
def test_check_initial_parameters():
    rng = np.random.RandomState(0)
    rand_data = RandomData(rng)
    X = rand_data.X["full"]
    g = GaussianMixture(2)
    for bad in (rng.rand(2, 1), rng.rand(2) + 1):
        with pytest.raises(ValueError, match="weights_init must be 2 values in"):
            g.fit(X, weights_init=bad)
    with pytest.raises(ValueError, match="weights_init must sum to 1"):
        g.fit(X, weights_init=rng.rand(2) / (rng.rand(2).sum() + 1) * 0.5)
    with pytest.raises(ValueError, match="means_init"):
        g.fit(X, means_init=rng.rand(3, 2))
    bad_shape = {
        "full": np.ones((3, 2, 2)),
        "tied": np.ones((3, 3)),
        "diag": np.ones((3, 2)),
        "spherical": np.ones(3),
    }
    not_positive = np.ones((2, 2, 2))
    not_positive[0] = np.eye(2)
    not_positive[0, 0, 0] = -1.0
    not_positive = {
        "full": not_positive,
        "tied": not_positive[0],
        "diag": np.full((2, 2), -1.0),
        "spherical": np.full(2, -1.0),
    }
    errors = {
        "full": "positive definite",
        "tied": "positive definite",
        "diag": "positive",
        "spherical": "positive",
    }
    for covariance_type in COVARIANCE_TYPE:
        X = RandomData(rng).X[covariance_type]
        g = GaussianMixture(2, covariance_type, seed=0)
        with pytest.raises(ValueError, match="precisions_init must be finite values of shape"):
            g.fit(X, precisions_init=bad_shape[covariance_type])
        with pytest.raises(ValueError, match=f"precisions_init must be {errors[covariance_type]}"):
            g.fit(X, precisions_init=not_positive[covariance_type])
        g.fit(X, precisions_init=rand_data.precisions[covariance_type])


# ported from test_gaussian_mixture.py::test_suffstat_sk_full (the M step of one component)
def test_suffstat_sk_full():
    rng = np.random.RandomState(0)
    n_samples, n_features = 500, 2
    X = rng.rand(n_samples, n_features)
    resp = rng.rand(n_samples, 1)
    full = COVARIANCES["full"]
    nk, xk = T([float(n_samples)]), torch.zeros(1, n_features, dtype=torch.float64)
    covars_pred = full.estimate(T(X), T(resp), nk, xk, 0.0).numpy()
    ecov = EmpiricalCovariance(assume_centered=True).fit(np.sqrt(resp) * X)
    np.testing.assert_almost_equal(ecov.error_norm(covars_pred[0], norm="frobenius"), 0)
    np.testing.assert_almost_equal(ecov.error_norm(covars_pred[0], norm="spectral"), 0)
    factor = full.factor(T(covars_pred), 0.0)
    precs_chol = full.precisions_cholesky(factor).numpy()
    precs_pred = np.array([p @ p.T for p in precs_chol])
    np.testing.assert_array_almost_equal(np.linalg.inv(covars_pred), precs_pred)
    np.testing.assert_array_almost_equal(full.precisions(factor).numpy(), precs_pred)

    resp = np.ones((n_samples, 1))
    xk = T(X.mean(axis=0).reshape((1, -1)))
    covars_pred = full.estimate(T(X), T(resp), nk, xk, 0.0).numpy()
    ecov = EmpiricalCovariance(assume_centered=False).fit(X)
    np.testing.assert_almost_equal(ecov.error_norm(covars_pred[0], norm="frobenius"), 0)
    np.testing.assert_almost_equal(ecov.error_norm(covars_pred[0], norm="spectral"), 0)


def _resp_and_means(rng, n_samples=500, n_features=2, n_components=2):
    resp = rng.rand(n_samples, n_components)
    resp = resp / resp.sum(axis=1)[:, np.newaxis]
    X = rng.rand(n_samples, n_features)
    nk = resp.sum(axis=0)
    xk = resp.T @ X / nk[:, np.newaxis]
    return X, resp, nk, xk


# ported from test_gaussian_mixture.py::test_suffstat_sk_tied (N_k S_k / N = S_tied)
def test_suffstat_sk_tied():
    X, resp, nk, xk = _resp_and_means(np.random.RandomState(0))
    args = (T(X), T(resp), T(nk), T(xk), 0.0)
    covars_pred_full = COVARIANCES["full"].estimate(*args).numpy()
    covars_pred_full = np.sum(nk[:, np.newaxis, np.newaxis] * covars_pred_full, 0) / 500
    covars_pred_tied = COVARIANCES["tied"].estimate(*args).numpy()
    ecov = EmpiricalCovariance()
    ecov.covariance_ = covars_pred_full
    np.testing.assert_almost_equal(ecov.error_norm(covars_pred_tied, norm="frobenius"), 0)
    np.testing.assert_almost_equal(ecov.error_norm(covars_pred_tied, norm="spectral"), 0)
    tied = COVARIANCES["tied"]
    chol = tied.precisions_cholesky(tied.factor(T(covars_pred_tied), 0.0)).numpy()
    np.testing.assert_array_almost_equal(linalg.inv(covars_pred_tied), chol @ chol.T)


# ported from test_gaussian_mixture.py::test_suffstat_sk_diag (against the full scatter)
def test_suffstat_sk_diag():
    X, resp, nk, xk = _resp_and_means(np.random.RandomState(0))
    args = (T(X), T(resp), T(nk), T(xk), 0.0)
    covars_pred_full = COVARIANCES["full"].estimate(*args).numpy()
    covars_pred_diag = COVARIANCES["diag"].estimate(*args).numpy()
    ecov = EmpiricalCovariance()
    for cov_full, cov_diag in zip(covars_pred_full, covars_pred_diag, strict=True):
        ecov.covariance_ = np.diag(np.diag(cov_full))
        np.testing.assert_almost_equal(ecov.error_norm(np.diag(cov_diag), norm="frobenius"), 0)
        np.testing.assert_almost_equal(ecov.error_norm(np.diag(cov_diag), norm="spectral"), 0)
    diag = COVARIANCES["diag"]
    chol = diag.precisions_cholesky(diag.factor(T(covars_pred_diag), 0.0)).numpy()
    np.testing.assert_almost_equal(covars_pred_diag, 1.0 / chol**2)


# ported from test_gaussian_mixture.py::test_gaussian_suffstat_sk_spherical
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_gaussian_suffstat_sk_spherical(dtype):
    rng = np.random.RandomState(0)
    n_samples, n_features = 500, 2
    X = rng.rand(n_samples, n_features)
    X = X - X.mean()
    spherical = COVARIANCES["spherical"]
    pred = spherical.estimate(
        T(X).to(dtype),
        torch.ones(n_samples, 1, dtype=dtype),
        torch.tensor([float(n_samples)], dtype=dtype),
        torch.full((1, n_features), float(X.mean()), dtype=dtype),
        0.0,
    )
    expected = X.flatten() @ X.flatten() / (n_features * n_samples)
    np.testing.assert_almost_equal(pred.double().numpy(), [expected], decimal=6)
    assert pred.dtype == dtype
    chol = spherical.precisions_cholesky(spherical.factor(pred, 0.0))
    np.testing.assert_almost_equal(pred.double().numpy(), 1.0 / chol.double().numpy() ** 2)
    assert chol.dtype == dtype


# ported from test_gaussian_mixture.py::test_compute_log_det_cholesky
def test_compute_log_det_cholesky():
    rand_data = RandomData(np.random.RandomState(0))
    for covariance_type in COVARIANCE_TYPE:
        covariance = rand_data.covariances[covariance_type]
        expected = {
            "full": lambda c: np.array([linalg.det(x) for x in c]),
            "tied": linalg.det,
            "diag": lambda c: np.array([np.prod(x) for x in c]),
            "spherical": lambda c: c**2,
        }[covariance_type](covariance)
        kind = COVARIANCES[covariance_type]
        log_det = kind.log_det(kind.factor(T(covariance), 0.0), 2).numpy()
        np.testing.assert_array_almost_equal(-0.5 * log_det, -0.5 * np.log(expected))


def _naive_lmvnpdf_diag(X, means, covars):
    resp = np.empty((len(X), len(means)))
    for i, (mean, std) in enumerate(zip(means, np.sqrt(covars), strict=True)):
        resp[:, i] = stats.norm.logpdf(X, mean, std).sum(axis=1)
    return resp


def _mixture_of(covariance_type, covariances, means, X):
    """A fitted mixture of the given parameters (equal weights, no EM step)."""
    K = len(means)
    gmm = GaussianMixture(K, covariance_type, max_iter=0, seed=0)
    return gmm.fit(
        X, weights_init=np.full(K, 1 / K), means_init=means, covariances_init=covariances
    )


# ported from test_gaussian_mixture.py::test_gaussian_mixture_log_probabilities (through
# score_samples and predict_proba, which are those log-probabilities mixed with equal weights)
def test_gaussian_mixture_log_probabilities():
    rng = np.random.RandomState(0)
    rand_data = RandomData(rng)
    n_samples, n_features, n_components = 500, rand_data.n_features, rand_data.n_components
    means = rand_data.means
    covars_diag = rng.rand(n_components, n_features)
    X = rng.rand(n_samples, n_features)
    covars_tied = covars_diag.mean(axis=0)
    covars_spherical = covars_diag.mean(axis=1)
    cases = {
        "full": (np.array([np.diag(x) for x in covars_diag]), covars_diag),
        "diag": (covars_diag, covars_diag),
        "tied": (np.diag(covars_tied), [covars_tied] * n_components),
        "spherical": (covars_spherical, [[k] * n_features for k in covars_spherical]),
    }
    for covariance_type, (covariances, naive_covariances) in cases.items():
        log_prob_naive = _naive_lmvnpdf_diag(X, means, naive_covariances)
        gmm = _mixture_of(covariance_type, covariances, means, X)
        expected = np.logaddexp.reduce(log_prob_naive + np.log(1 / n_components), axis=1)
        np.testing.assert_array_almost_equal(gmm.score_samples(X).numpy(), expected)
        resp = np.exp(log_prob_naive - np.logaddexp.reduce(log_prob_naive, axis=1)[:, None])
        np.testing.assert_array_almost_equal(gmm.predict_proba(X).numpy(), resp)


# ported from test_gaussian_mixture.py::test_gaussian_mixture_estimate_log_prob_resp
def test_gaussian_mixture_estimate_log_prob_resp():
    rng = np.random.RandomState(0)
    rand_data = RandomData(rng, scale=5)
    X = rng.rand(rand_data.n_samples, rand_data.n_features)
    for covariance_type in COVARIANCE_TYPE:
        g = GaussianMixture(rand_data.n_components, covariance_type, seed=0)
        g.fit(X, **given(rand_data, covariance_type))
        resp = g.predict_proba(X).numpy()
        np.testing.assert_array_almost_equal(resp.sum(axis=1), np.ones(rand_data.n_samples))


# ported from test_gaussian_mixture.py::test_gaussian_mixture_predict_predict_proba
def test_gaussian_mixture_predict_predict_proba():
    rand_data = RandomData(np.random.RandomState(0))
    for covariance_type in COVARIANCE_TYPE:
        X, Y = rand_data.X[covariance_type], rand_data.Y
        g = GaussianMixture(rand_data.n_components, covariance_type, seed=0)
        with pytest.raises(ValueError, match="not fitted"):
            g.predict(X)
        g.fit(X, **given(rand_data, covariance_type))
        Y_pred = g.predict(X).numpy()
        np.testing.assert_array_equal(Y_pred, g.predict_proba(X).argmax(1).numpy())
        assert adjusted_rand_score(Y, Y_pred) > 0.95


# ported from test_gaussian_mixture.py::test_gaussian_mixture_fit_predict
@pytest.mark.parametrize(
    ("seed", "max_iter", "tol"), [(0, 2, 1e-7), (1, 2, 1e-1), (3, 300, 1e-7), (4, 300, 1e-1)]
)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_gaussian_mixture_fit_predict(seed, max_iter, tol, dtype):
    rand_data = RandomData(np.random.RandomState(seed))
    for covariance_type in COVARIANCE_TYPE:
        X, Y = rand_data.X[covariance_type], rand_data.Y
        kwargs = {"max_iter": max_iter, "tol": tol, "seed": seed, "dtype": dtype}
        f = GaussianMixture(rand_data.n_components, covariance_type, **kwargs)
        g = GaussianMixture(rand_data.n_components, covariance_type, **kwargs)
        Y_pred1 = quiet_fit(f, X, **given(rand_data, covariance_type)).predict(X)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            Y_pred2 = g.fit_predict(X, **given(rand_data, covariance_type))
        np.testing.assert_array_equal(Y_pred1.numpy(), Y_pred2.numpy())
        assert adjusted_rand_score(Y, Y_pred2.numpy()) > 0.95
        assert g.means_.dtype == g.weights_.dtype == g.precisions_.dtype == dtype


# ported from test_gaussian_mixture.py::test_gaussian_mixture_fit_predict_n_init
def test_gaussian_mixture_fit_predict_n_init():
    X = np.random.RandomState(0).randn(1000, 5)
    gm = GaussianMixture(5, n_init=5, init_params="kmeans", seed=0)
    y_pred1 = gm.fit_predict(X)
    torch.testing.assert_close(y_pred1, gm.predict(X), rtol=0, atol=0)


# ported from test_gaussian_mixture.py::test_gaussian_mixture_fit (recover the ground truth)
def test_gaussian_mixture_fit():
    rand_data = RandomData(np.random.RandomState(0))
    n_features, n_components = rand_data.n_features, rand_data.n_components
    for covariance_type in COVARIANCE_TYPE:
        X = rand_data.X[covariance_type]
        g = GaussianMixture(
            n_components, covariance_type, n_init=20, reg_covar=0, init_params="kmeans", seed=0
        ).fit(X)
        weights, means = g.weights_.numpy(), g.means_.numpy()
        np.testing.assert_allclose(
            np.sort(weights), np.sort(rand_data.weights), rtol=0.1, atol=1e-2
        )
        arg_idx1 = means[:, 0].argsort()
        arg_idx2 = rand_data.means[:, 0].argsort()
        np.testing.assert_allclose(means[arg_idx1], rand_data.means[arg_idx2], rtol=0.1, atol=1e-2)
        precisions = g.precisions_.numpy()
        if covariance_type == "full":
            prec_pred, prec_test = precisions, rand_data.precisions["full"]
        elif covariance_type == "tied":
            prec_pred = np.array([precisions] * n_components)
            prec_test = np.array([rand_data.precisions["tied"]] * n_components)
        elif covariance_type == "spherical":
            prec_pred = np.array([np.eye(n_features) * c for c in precisions])
            prec_test = np.array(
                [np.eye(n_features) * c for c in rand_data.precisions["spherical"]]
            )
        else:
            prec_pred = np.array([np.diag(d) for d in precisions])
            prec_test = np.array([np.diag(d) for d in rand_data.precisions["diag"]])
        arg_idx1 = np.trace(prec_pred, axis1=1, axis2=2).argsort()
        arg_idx2 = np.trace(prec_test, axis1=1, axis2=2).argsort()
        for k, h in zip(arg_idx1, arg_idx2, strict=True):
            ecov = EmpiricalCovariance()
            ecov.covariance_ = prec_test[h]
            np.testing.assert_allclose(ecov.error_norm(prec_pred[k]), 0, atol=0.15)


# ported from test_gaussian_mixture.py::test_gaussian_mixture_fit_best_params (the best of
# n_init scores as the single fits do: they all reach the same optimum on this data)
def test_gaussian_mixture_fit_best_params():
    rand_data = RandomData(np.random.RandomState(0))
    n_components, n_init = rand_data.n_components, 10
    for covariance_type in COVARIANCE_TYPE:
        X = rand_data.X[covariance_type]
        kwargs = {"reg_covar": 0, "init_params": "kmeans"}
        ll = [
            GaussianMixture(n_components, covariance_type, seed=s, **kwargs).fit(X).score(X)
            for s in range(n_init)
        ]
        g_best = GaussianMixture(n_components, covariance_type, n_init=n_init, seed=0, **kwargs)
        np.testing.assert_almost_equal(min(ll), g_best.fit(X).score(X))


# ported from test_gaussian_mixture.py::test_gaussian_mixture_fit_convergence_warning
def test_gaussian_mixture_fit_convergence_warning():
    rand_data = RandomData(np.random.RandomState(0), scale=1)
    for covariance_type in COVARIANCE_TYPE:
        X = rand_data.X[covariance_type]
        g = GaussianMixture(
            rand_data.n_components, covariance_type, n_init=1, max_iter=1, reg_covar=0, seed=0
        )
        with pytest.warns(ConvergenceWarning, match="did not converge"):
            g.fit(X)


# ported from test_gaussian_mixture.py::test_multiple_init
def test_multiple_init():
    X = np.random.RandomState(0).randn(50, 5)
    for covariance_type in COVARIANCE_TYPE:
        kwargs = {"init_params": "kmeans", "seed": 0}
        train1 = GaussianMixture(2, covariance_type, **kwargs).fit(X).score(X)
        train2 = GaussianMixture(2, covariance_type, n_init=5, **kwargs).fit(X).score(X)
        assert train2 >= train1


# ported from test_gaussian_mixture.py::test_gaussian_mixture_n_parameters
def test_gaussian_mixture_n_parameters():
    X = np.random.RandomState(0).randn(50, 5)
    n_params = {"spherical": 13, "diag": 21, "tied": 26, "full": 41}
    for covariance_type in COVARIANCE_TYPE:
        g = GaussianMixture(2, covariance_type, seed=0).fit(X)
        assert g.n_parameters() == n_params[covariance_type]


# ported from test_gaussian_mixture.py::test_bic_1d_1component
def test_bic_1d_1component():
    X = np.random.RandomState(0).randn(100, 1)
    bic_full = GaussianMixture(1, "full", seed=0).fit(X).bic(X)
    for covariance_type in ["tied", "diag", "spherical"]:
        bic = GaussianMixture(1, covariance_type, seed=0).fit(X).bic(X)
        np.testing.assert_almost_equal(bic_full, bic)


# ported from test_gaussian_mixture.py::test_gaussian_mixture_aic_bic
def test_gaussian_mixture_aic_bic():
    n_samples, n_features = 50, 3
    X = np.random.RandomState(0).randn(n_samples, n_features)
    sgh = 0.5 * (fast_logdet(np.cov(X.T, bias=1)) + n_features * (1 + np.log(2 * np.pi)))
    for covariance_type in COVARIANCE_TYPE:
        g = GaussianMixture(2, covariance_type, max_iter=200, seed=0).fit(X)
        aic = 2 * n_samples * sgh + 2 * g.n_parameters()
        bic = 2 * n_samples * sgh + np.log(n_samples) * g.n_parameters()
        bound = n_features / np.sqrt(n_samples)
        assert (g.aic(X) - aic) / n_samples < bound
        assert (g.bic(X) - bic) / n_samples < bound


# ported from test_gaussian_mixture.py::test_warm_start
@pytest.mark.parametrize("seed", (0, 1, 2))
def test_warm_start(seed):
    X = np.random.RandomState(seed).rand(500, 2)
    kwargs = {"n_init": 1, "reg_covar": 0, "seed": seed, "init_params": "kmeans"}
    g = GaussianMixture(2, max_iter=2, warm_start=False, **kwargs)
    h = GaussianMixture(2, max_iter=1, warm_start=True, **kwargs)
    quiet_fit(g, X)
    score1 = quiet_fit(h, X).score(X)
    score2 = quiet_fit(h, X).score(X)
    for name in ("weights_", "means_", "precisions_"):
        np.testing.assert_almost_equal(getattr(g, name).numpy(), getattr(h, name).numpy())
    assert score2 > score1

    g = GaussianMixture(2, max_iter=5, tol=1e-6, warm_start=False, **kwargs)
    h = GaussianMixture(2, max_iter=5, tol=1e-6, warm_start=True, **kwargs)
    quiet_fit(g, X)
    assert not g.converged_
    quiet_fit(h, X)
    for _ in range(1000):
        quiet_fit(h, X)
        if h.converged_:
            break
    assert h.converged_


# ported from test_gaussian_mixture.py::test_convergence_detected_with_warm_start
def test_convergence_detected_with_warm_start():
    rand_data = RandomData(np.random.RandomState(0))
    X = rand_data.X["full"]
    for max_iter in (1, 2, 50):
        gmm = GaussianMixture(rand_data.n_components, warm_start=True, max_iter=max_iter, seed=0)
        for _ in range(100):
            quiet_fit(gmm, X)
            if gmm.converged_:
                break
        assert gmm.converged_
        assert max_iter >= gmm.n_iter_


# ported from test_gaussian_mixture.py::test_score and test_score_samples
def test_score():
    rand_data = RandomData(np.random.RandomState(0), scale=7)
    X = rand_data.X["full"]
    gmm1 = GaussianMixture(rand_data.n_components, n_init=1, max_iter=1, reg_covar=0, seed=0)
    with pytest.raises(ValueError, match="not fitted"):
        gmm1.score(X)
    quiet_fit(gmm1, X)
    np.testing.assert_almost_equal(gmm1.score(X), gmm1.score_samples(X).mean().item())
    assert gmm1.score_samples(X).shape[0] == rand_data.n_samples
    gmm2 = GaussianMixture(rand_data.n_components, n_init=1, reg_covar=0, seed=0).fit(X)
    assert gmm2.score(X) > gmm1.score(X)


# ported from test_gaussian_mixture.py::test_monotonic_likelihood
def test_monotonic_likelihood():
    rand_data = RandomData(np.random.RandomState(0), scale=7)
    for covariance_type in COVARIANCE_TYPE:
        X = rand_data.X[covariance_type]
        gmm = GaussianMixture(
            rand_data.n_components,
            covariance_type,
            reg_covar=0,
            warm_start=True,
            max_iter=1,
            seed=0,
            tol=1e-7,
        )
        current_log_likelihood = -np.inf
        for _ in range(600):
            prev_log_likelihood = current_log_likelihood
            current_log_likelihood = quiet_fit(gmm, X).score(X)
            assert current_log_likelihood >= prev_log_likelihood
            if gmm.converged_:
                break
        assert gmm.converged_


# ported from test_gaussian_mixture.py::test_regularisation
def test_regularisation():
    n_samples, n_features = 10, 5
    X = np.vstack((np.ones((n_samples // 2, n_features)), np.zeros((n_samples // 2, n_features))))
    for covariance_type in COVARIANCE_TYPE:
        gmm = GaussianMixture(n_samples, covariance_type, reg_covar=0, init_params="kmeans", seed=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            with pytest.raises(ValueError, match="increase reg_covar"):
                gmm.fit(X)
            GaussianMixture(
                n_samples, covariance_type, reg_covar=1e-6, init_params="kmeans", seed=0
            ).fit(X)


# ported from test_gaussian_mixture.py::test_fitted_precision_covariance_concistency
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPE)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_fitted_precision_covariance_concistency(covariance_type, dtype):
    rand_data = RandomData(np.random.RandomState(0), scale=7)
    X = rand_data.X[covariance_type]
    gmm = GaussianMixture(rand_data.n_components, covariance_type, n_init=5, seed=0, dtype=dtype)
    gmm.fit(X)
    assert gmm.precisions_.dtype == gmm.covariances_.dtype == dtype
    precisions, covariances = gmm.precisions_.double().numpy(), gmm.covariances_.double().numpy()
    decimal = 6 if dtype == torch.float64 else 3
    if covariance_type == "full":
        for prec, covar in zip(precisions, covariances, strict=True):
            np.testing.assert_array_almost_equal(linalg.inv(prec), covar, decimal=decimal)
    elif covariance_type == "tied":
        np.testing.assert_array_almost_equal(linalg.inv(precisions), covariances, decimal=decimal)
    else:
        np.testing.assert_array_almost_equal(precisions, 1.0 / covariances, decimal=decimal)


# ported from test_gaussian_mixture.py::test_sample
def test_sample():
    rand_data = RandomData(np.random.RandomState(0), scale=7, n_components=3)
    n_features, n_components = rand_data.n_features, rand_data.n_components
    for covariance_type in COVARIANCE_TYPE:
        X = rand_data.X[covariance_type]
        gmm = GaussianMixture(n_components, covariance_type, seed=0)
        with pytest.raises(ValueError, match="not fitted"):
            gmm.sample(1)
        gmm.fit(X)
        with pytest.raises(ValueError, match="n must be"):
            gmm.sample(0)
        n_samples = 20000
        X_s, y_s = (a.numpy() for a in gmm.sample(n_samples))
        covariances, means = gmm.covariances_.numpy(), gmm.means_.numpy()
        for k in range(n_components):
            cov = np.cov(X_s[y_s == k].T)
            if covariance_type == "full":
                np.testing.assert_array_almost_equal(covariances[k], cov, decimal=1)
            elif covariance_type == "tied":
                np.testing.assert_array_almost_equal(covariances, cov, decimal=1)
            elif covariance_type == "diag":
                np.testing.assert_array_almost_equal(covariances[k], np.diag(cov), decimal=1)
            else:
                np.testing.assert_array_almost_equal(
                    covariances[k], np.var(X_s[y_s == k] - means[k]), decimal=1
                )
        means_s = np.array([np.mean(X_s[y_s == k], 0) for k in range(n_components)])
        np.testing.assert_array_almost_equal(means, means_s, decimal=1)
        assert X_s.shape == (n_samples, n_features)
        for sample_size in range(1, 100, 7):
            assert gmm.sample(sample_size)[0].shape == (sample_size, n_features)


# ported from test_gaussian_mixture.py::test_init (n_init=10 from the same seed starts with
# the single fit's initialisation, so its lower bound is at least as high)
def test_init():
    for random_state in range(15):
        rand_data = RandomData(np.random.RandomState(random_state), n_samples=50, scale=1)
        X = rand_data.X["full"]
        kwargs = {"max_iter": 1, "seed": random_state, "init_params": "kmeans"}
        gmm1 = quiet_fit(GaussianMixture(rand_data.n_components, n_init=1, **kwargs), X)
        gmm2 = quiet_fit(GaussianMixture(rand_data.n_components, n_init=10, **kwargs), X)
        assert gmm2.lower_bound_ >= gmm1.lower_bound_


# ported from test_gaussian_mixture.py::test_gaussian_mixture_setting_best_params
def test_gaussian_mixture_setting_best_params():
    X = np.random.RandomState(0).uniform(size=(30, 3))
    means_init = np.array(
        [
            [0.670637869618158, 0.21038256107384043, 0.12892629765485303],
            [0.09394051075844147, 0.5759464955561779, 0.929296197576212],
            [0.5033230372781258, 0.9569852381759425, 0.08654043447295741],
            [0.18578301420435747, 0.5531158970919143, 0.19388943970532435],
            [0.4548589928173794, 0.35182513658825276, 0.568146063202464],
            [0.609279894978321, 0.7929063819678847, 0.9620097270828052],
        ]
    )
    precisions_init = np.array(
        [
            999999.999604483,
            999999.9990869573,
            553.7603944542167,
            204.78596008931834,
            15.867423501783637,
            85.4595728389735,
        ]
    )
    weights_init = [
        0.03333333333333341,
        0.03333333333333341,
        0.06666666666666674,
        0.06666666666666674,
        0.7000000000000001,
        0.10000000000000007,
    ]
    gmm = GaussianMixture(6, "spherical", reg_covar=0, max_iter=1, seed=0)
    quiet_fit(
        gmm, X, means_init=means_init, weights_init=weights_init, precisions_init=precisions_init
    )
    assert not gmm.converged_
    for attr in ["weights_", "means_", "covariances_", "precisions_cholesky_", "n_iter_"]:
        assert hasattr(gmm, attr)
    assert np.isfinite(gmm.lower_bound_) and len(gmm.history) == 1


INIT_PARAMS = ["random", "random_from_data", "k-means++", "kmeans"]


# ported from test_gaussian_mixture.py::test_init_means_not_duplicated
@pytest.mark.parametrize("init_params", INIT_PARAMS)
def test_init_means_not_duplicated(init_params):
    rand_data = RandomData(np.random.RandomState(42), scale=5)
    X = rand_data.X["full"]
    gmm = GaussianMixture(rand_data.n_components, init_params=init_params, seed=42, max_iter=0).fit(
        X
    )
    for i_mean, j_mean in itertools.combinations(gmm.means_.numpy(), r=2):
        assert not np.allclose(i_mean, j_mean)


# ported from test_gaussian_mixture.py::test_means_for_all_inits
@pytest.mark.parametrize("init_params", INIT_PARAMS)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_means_for_all_inits(init_params, dtype):
    rand_data = RandomData(np.random.RandomState(42), scale=5)
    X = rand_data.X["full"]
    gmm = GaussianMixture(rand_data.n_components, init_params=init_params, seed=42, dtype=dtype)
    gmm.fit(X)
    means = gmm.means_.double().numpy()
    assert means.shape == (rand_data.n_components, X.shape[1])
    assert np.all(X.min(axis=0) <= means) and np.all(means <= X.max(axis=0))
    assert gmm.converged_
    assert gmm.means_.dtype == gmm.covariances_.dtype == gmm.weights_.dtype == dtype


# ported from test_gaussian_mixture.py::test_max_iter_zero
def test_max_iter_zero():
    rand_data = RandomData(np.random.RandomState(0), scale=5)
    X = rand_data.X["full"]
    means_init = [[20, 30], [30, 25]]
    gmm = GaussianMixture(rand_data.n_components, tol=1e-06, max_iter=0, seed=0)
    gmm.fit(X, means_init=means_init)
    np.testing.assert_allclose(gmm.means_.numpy(), means_init)


# ported from test_gaussian_mixture.py::test_gaussian_mixture_precisions_init_diag
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_gaussian_mixture_precisions_init_diag(dtype):
    rng = np.random.RandomState(0)
    shifted_gaussian = rng.randn(300, 2) + np.array([20, 20])
    C = np.array([[0.0, -0.7], [3.5, 0.7]])
    stretched_gaussian = rng.randn(300, 2) @ C
    X = np.vstack([shifted_gaussian, stretched_gaussian])
    kwargs = {"covariance_type": "diag", "reg_covar": 1e-6, "seed": 0, "dtype": dtype}
    kwargs |= {"init_params": "kmeans"}
    # the initial covariances of the k-means initialisation, given back as precisions_init
    initial = GaussianMixture(2, max_iter=0, **kwargs).fit(X)
    precisions_init = 1 / initial.covariances_
    gm_with_init = GaussianMixture(2, **kwargs).fit(X, precisions_init=precisions_init)
    gm_without_init = GaussianMixture(2, **kwargs).fit(X)
    assert gm_with_init.precisions_cholesky_.dtype == dtype
    assert gm_without_init.n_iter_ == gm_with_init.n_iter_
    torch.testing.assert_close(
        gm_with_init.precisions_cholesky_, gm_without_init.precisions_cholesky_
    )


# ported from test_gaussian_mixture.py::test_gaussian_mixture_precisions_init (#26415):
# precisions_cholesky_ from given precisions equals the one computed from the covariances
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPE)
def test_gaussian_mixture_precisions_init(covariance_type):
    rs = np.random.RandomState(0)
    X = rs.random_sample((100, 3))
    resp = rs.random_sample((100, 4))
    resp /= resp.sum(axis=1)[:, np.newaxis]
    kind = COVARIANCES[covariance_type]
    nk = T(resp.sum(0)) + 10 * np.finfo(float).eps
    means = T(resp.T @ X) / nk[:, None]
    covariances = kind.estimate(T(X), T(resp), nk, means, 1e-6)
    factor = kind.factor(covariances, 1e-6)
    precisions_init = kind.precisions(factor)
    desired = kind.precisions_cholesky(factor)
    gmm = GaussianMixture(4, covariance_type, max_iter=0, seed=0)
    gmm.fit(X, precisions_init=precisions_init)
    torch.testing.assert_close(gmm.precisions_cholesky_, desired)


# ported from test_gaussian_mixture.py::test_gaussian_mixture_single_component_stable
def test_gaussian_mixture_single_component_stable():
    X = np.random.RandomState(0).multivariate_normal(np.zeros(2), np.identity(2), size=3)
    GaussianMixture(1).fit(X).sample(1)


# ported from test_gaussian_mixture.py::
# test_gaussian_mixture_all_init_does_not_estimate_gaussian_parameters
def test_gaussian_mixture_all_init_does_not_estimate_gaussian_parameters(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("the initialisation ran")

    monkeypatch.setattr("reparam.latent.gmm.initial_responsibilities", fail)
    rand_data = RandomData(np.random.RandomState(0))
    gm = GaussianMixture(rand_data.n_components, seed=0)
    gm.fit(rand_data.X["full"], **given(rand_data, "full"))
    assert gm.n_iter_ >= 1

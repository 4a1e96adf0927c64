"""Each GaussianMixture option against scikit-learn from the same start: the four covariance
types, the four init_params (scikit-learn's random draws replaced by ours, so both start
from the same responsibilities), n_init, warm_start, max_iter=0, fit_predict, the precisions,
the parameter counts; far points whose squared distances overflow; bad input.

Tolerances, float64: parameters to 1e-6 relative and the lower bounds to 1e-8, as in
test_gmm.py (observed ≤ 1e-13); scikit-learn's E[x²] − μ² covariances (tied, diag,
spherical) cancel where ours take the differences, which is the slack."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import sklearn.cluster
import torch
from sklearn.exceptions import ConvergenceWarning as SkConvergenceWarning
from sklearn.mixture import GaussianMixture as SkGaussianMixture

from reparam import ConvergenceWarning
from reparam.latent import GaussianMixture, kmeans_plusplus

TYPES = ["full", "tied", "diag", "spherical"]
ATTRIBUTES = ["weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"]


def data(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate(
        [rng.normal(c, s, (60, 3)) for c, s in ((-3.0, 0.5), (0.0, 1.0), (4.0, 1.5))]
    )


def start(X: np.ndarray, covariance_type: str, seed: int = 1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    K, D = 3, X.shape[1]
    A = rng.standard_normal((K, D, D))
    full = np.linalg.inv(A @ A.transpose(0, 2, 1) / D + np.eye(D))
    precisions = {
        "full": full,
        "tied": full[0],
        "diag": 1 / rng.uniform(0.5, 2.0, (K, D)),
        "spherical": 1 / rng.uniform(0.5, 2.0, K),
    }[covariance_type]
    return {
        "weights_init": np.array([0.2, 0.3, 0.5]),
        "means_init": X[rng.choice(len(X), K, replace=False)],
        "precisions_init": precisions,
    }


def quiet_sklearn(**kwargs) -> SkGaussianMixture:
    model = SkGaussianMixture(**kwargs)
    model.fit = _quiet(model.fit)
    return model


def _quiet(fit):
    def wrapped(*args, **kwargs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SkConvergenceWarning)
            return fit(*args, **kwargs)

    return wrapped


def quiet(gmm: GaussianMixture, X, **kwargs) -> GaussianMixture:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return gmm.fit(X, **kwargs)


def assert_same(ours: GaussianMixture, sk: SkGaussianMixture, X: np.ndarray) -> None:
    for name in ATTRIBUTES:
        np.testing.assert_allclose(
            getattr(ours, name).numpy(), getattr(sk, name), rtol=1e-6, atol=1e-9, err_msg=name
        )
    assert ours.n_iter_ == sk.n_iter_ and ours.converged_ == sk.converged_
    np.testing.assert_allclose(ours.history, sk.lower_bounds_, rtol=1e-8)
    np.testing.assert_allclose(ours.predict_proba(X).numpy(), sk.predict_proba(X), atol=1e-6)


@pytest.mark.parametrize("covariance_type", TYPES)
def test_every_covariance_type_matches_sklearn_from_the_same_start(covariance_type: str) -> None:
    X = data()
    given = start(X, covariance_type)
    kwargs = {"covariance_type": covariance_type, "tol": 1e-300, "max_iter": 10, "reg_covar": 1e-4}
    sk = quiet_sklearn(n_components=3, **given, **kwargs).fit(X)
    ours = quiet(GaussianMixture(3, seed=0, **kwargs), X, **given)
    assert_same(ours, sk, X)
    np.testing.assert_allclose(ours.score_samples(X).numpy(), sk.score_samples(X), rtol=1e-8)
    assert ours.n_parameters() == sk._n_parameters()
    assert ours.bic(X) == pytest.approx(sk.bic(X), rel=1e-10)
    assert ours.aic(X) == pytest.approx(sk.aic(X), rel=1e-10)
    shape = {"full": (3, 3, 3), "tied": (3, 3), "diag": (3, 3), "spherical": (3,)}
    assert ours.covariances_.shape == ours.precisions_.shape == shape[covariance_type]
    # converged from the same start, the same iteration as scikit-learn
    kwargs |= {"tol": 1e-6, "max_iter": 300}
    sk = SkGaussianMixture(3, **given, **kwargs).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        ours = GaussianMixture(3, seed=0, **kwargs).fit(X, **given)
    assert_same(ours, sk, X)


def our_draws(X: np.ndarray, init_params: str, seed: int) -> dict[str, object]:
    """What our initialisation draws from ``seed``, for scikit-learn to use instead."""
    generator = torch.Generator().manual_seed(seed)
    Xt = torch.as_tensor(X)
    if init_params == "random":
        return {"uniform": torch.rand(len(X), 3, generator=generator, dtype=torch.float64)}
    if init_params == "random_from_data":
        return {"indices": torch.randperm(len(X), generator=generator)[:3]}
    trials = 2 + int(math.log(3))
    centred = Xt - Xt.mean(0) if init_params == "kmeans" else Xt  # k-means centres X first
    return {"indices": kmeans_plusplus(centred, 3, generator, trials)}


class Replay(np.random.RandomState):
    """A RandomState whose init draws are ours."""

    def __init__(self, draws: dict[str, object]) -> None:
        super().__init__(0)
        self.draws = draws

    def uniform(self, *args, **kwargs):
        return self.draws["uniform"].numpy()

    def choice(self, *args, **kwargs):
        return self.draws["indices"].numpy()


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random", "random_from_data"])
@pytest.mark.parametrize("covariance_type", ["full", "spherical"])
def test_every_init_params_matches_sklearn_from_the_same_draws(
    init_params: str, covariance_type: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    X = data(seed=2)
    draws = our_draws(X, init_params, seed=5)
    if init_params == "k-means++":
        indices = draws["indices"].numpy()
        monkeypatch.setattr(
            "sklearn.mixture._base.kmeans_plusplus",
            lambda X, k, random_state: (X[indices], indices),
        )
    if init_params == "kmeans":
        seeds = X[draws["indices"].numpy()]
        real = sklearn.cluster.KMeans
        monkeypatch.setattr(
            sklearn.cluster,
            "KMeans",
            lambda n_clusters, **_: real(n_clusters, init=seeds, n_init=1),
        )
    kwargs = {"covariance_type": covariance_type, "tol": 1e-300, "max_iter": 8, "reg_covar": 1e-3}
    sk = quiet_sklearn(
        n_components=3, init_params=init_params, random_state=Replay(draws), **kwargs
    )
    sk.fit(X)
    ours = quiet(GaussianMixture(3, init_params=init_params, seed=5, **kwargs), X)
    if init_params in ("k-means++", "random_from_data"):
        # scikit-learn's first weights sum to K/N, ours to 1 (gmm_init's docstring)
        sk.lower_bounds_[0] += math.log(len(X) / 3)
    assert_same(ours, sk, X)
    # and max_iter=0: the initial parameters themselves (scikit-learn keeps covariances_
    # of the initialisation; the weights are normalised on our side)
    zero = {**kwargs, "max_iter": 0}
    sk = SkGaussianMixture(3, init_params=init_params, random_state=Replay(draws), **zero).fit(X)
    ours = GaussianMixture(3, init_params=init_params, seed=5, **zero).fit(X)
    np.testing.assert_allclose(ours.means_.numpy(), sk.means_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours.covariances_.numpy(), sk.covariances_, rtol=1e-8)
    np.testing.assert_allclose(ours.weights_.numpy(), sk.weights_ / sk.weights_.sum(), rtol=1e-12)


def test_reparam_init_keeps_its_documented_meaning() -> None:
    """init="k-means++" (reparam's default): plain seeds, every point to its nearest one."""
    X = data(seed=3)
    ours = GaussianMixture(3, max_iter=0, seed=4).fit(X)
    seeds = torch.as_tensor(X)[
        kmeans_plusplus(torch.as_tensor(X), 3, torch.Generator().manual_seed(4))
    ]
    labels = torch.cdist(torch.as_tensor(X), seeds).argmin(1)
    expected = torch.stack([torch.as_tensor(X)[labels == k].mean(0) for k in range(3)])
    torch.testing.assert_close(ours.means_, expected)
    same = GaussianMixture(3, init="random", max_iter=0, seed=4).fit(X)
    alias = GaussianMixture(3, init_params="random", max_iter=0, seed=4).fit(X)
    torch.testing.assert_close(same.means_, alias.means_, rtol=0, atol=0)


def test_n_init_keeps_the_highest_lower_bound() -> None:
    X = data(seed=4)
    kwargs = {"init_params": "random", "max_iter": 3, "tol": 1e-300}
    runs = [quiet(GaussianMixture(3, seed=0, **kwargs), X)]
    best = quiet(GaussianMixture(3, seed=0, n_init=4, **kwargs), X)
    # its first run is the single run's (same seed); the kept run is the highest of four
    assert best.lower_bound_ >= runs[0].lower_bound_
    assert best.lower_bound_ == max(best.history) or best.history[-1] == best.lower_bound_
    # scikit-learn's rule: with max_iter=0 the last initialisation is kept
    last = GaussianMixture(3, seed=0, n_init=3, max_iter=0, **{"init_params": "random"}).fit(X)
    generator = torch.Generator().manual_seed(0)
    for _ in range(3):
        resp = torch.rand(len(X), 3, generator=generator, dtype=torch.float64)
    resp = resp / resp.sum(1, keepdim=True)
    expected = (resp.T @ torch.as_tensor(X)) / (
        resp.sum(0).unsqueeze(1) + 10 * 2.220446049250313e-16
    )
    torch.testing.assert_close(last.means_, expected)
    assert last.lower_bound_ == -math.inf and last.n_iter_ == 0 and not last.converged_


@pytest.mark.parametrize("covariance_type", ["tied", "diag"])
def test_warm_start_continues_as_sklearn(covariance_type: str) -> None:
    X = data(seed=5)
    given = start(X, covariance_type)
    kwargs = {"covariance_type": covariance_type, "max_iter": 1, "tol": 1e-4, "warm_start": True}
    sk = quiet_sklearn(n_components=3, **given, **kwargs)
    ours = GaussianMixture(3, seed=0, **kwargs)
    for call in range(40):
        sk.fit(X)
        quiet(ours, X, **(given if call == 0 else {}))
        assert ours.converged_ == sk.converged_ and ours.n_iter_ == sk.n_iter_ == 1
        assert ours.lower_bound_ == pytest.approx(sk.lower_bound_, rel=1e-10)
        if sk.converged_:
            break
    assert ours.converged_ and call > 1  # the first change is measured from the last fit
    for name in ATTRIBUTES:
        np.testing.assert_allclose(getattr(ours, name).numpy(), getattr(sk, name), rtol=1e-6)
    # the same parameters as one cold fit of as many iterations
    cold = quiet(
        GaussianMixture(3, covariance_type, max_iter=call + 1, tol=0.0, seed=0), X, **given
    )
    torch.testing.assert_close(cold.means_, ours.means_)


def test_max_iter_zero_is_the_initialisation_and_does_not_warn() -> None:
    X = data(seed=6)
    means = [[0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [4.0, 4.0, 4.0]]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sk = SkGaussianMixture(3, means_init=means, max_iter=0, random_state=0).fit(X)
        ours = GaussianMixture(3, max_iter=0, seed=0).fit(X, means_init=means)
    np.testing.assert_allclose(ours.means_.numpy(), means)
    assert (ours.n_iter_, ours.converged_, ours.lower_bound_, ours.history) == (
        sk.n_iter_,
        sk.converged_,
        sk.lower_bound_,
        sk.lower_bounds_,
    )
    # a warm fit after it starts from those parameters
    ours.warm_start, ours.max_iter = True, 1
    quiet(ours, X)
    assert ours.n_iter_ == 1 and not ours.converged_


@pytest.mark.parametrize("covariance_type", TYPES)
def test_fit_predict_is_predict_after_fit(covariance_type: str) -> None:
    X = data(seed=7)
    gmm = GaussianMixture(3, covariance_type, tol=0.0, max_iter=2, init_params="random", seed=1)
    with pytest.warns(ConvergenceWarning):
        labels = gmm.fit_predict(X)
    torch.testing.assert_close(labels, gmm.predict(X), rtol=0, atol=0)
    assert labels.dtype == torch.int64


def whitening(gmm: GaussianMixture) -> np.ndarray:
    """W_k = L_k⁻¹ [K, D, D] from the float64 covariances, by NumPy."""
    covariances = gmm.covariances_.double().numpy()
    K, D = gmm.means_.shape
    if gmm.covariance_type in ("full", "tied"):
        full = np.broadcast_to(covariances, (K, D, D))
    else:
        full = (covariances.reshape(K, -1, 1) * np.ones((K, D, 1))) * np.eye(D)
    return np.linalg.inv(np.linalg.cholesky(full))


def far_scores(gmm: GaussianMixture, X: np.ndarray) -> np.ndarray:
    """log π_k − ½ log|Σ_k| − ½‖W_k(x − μ_k)‖² up to a constant per row, for points far out:
    tied, the common ‖Wx‖² dropped (the rest, (Wx)·(Wμ_k) − ½‖Wμ_k‖², cancels nothing);
    otherwise the leading −½‖W_k x̂‖², x̂ = x / max|x|, whose differences dwarf the rest."""
    W = whitening(gmm)
    if gmm.covariance_type != "tied":
        unit = X / np.abs(X).max(1, keepdims=True)
        wx = np.einsum("kde,ne->nkd", W, unit)
        return -0.5 * (wx * wx).sum(-1)
    means = gmm.means_.double().numpy()
    wx, wm = X @ W[0].T, means @ W[0].T
    return np.log(gmm.weights_.double().numpy()) + wx @ wm.T - 0.5 * (wm * wm).sum(-1)


@pytest.mark.parametrize("covariance_type", TYPES)
def test_far_points_are_finite_and_go_to_the_most_likely_component(covariance_type: str) -> None:
    """A float32 point at 1e20 overflows every squared distance (1e40 > 3.4e38): its
    responsibilities are finite and one-hot on the component of highest log-density (the
    exact float64 oracle above: at this distance the log-densities differ by ≥ 1e19), not
    NaN; in float64 the same at 1e200."""
    X = data(seed=8)
    gmm = GaussianMixture(3, covariance_type, seed=0, dtype=torch.float32).fit(X)
    for model, far in [
        (gmm, np.array([[1e20, -3e19, 5e19], [-2e20, 1e20, 0.0], [0.0, 3e36, -1e36]])),
        (
            GaussianMixture(3, covariance_type, seed=0).fit(X),
            np.array([[1e200, 0.0, -1e199], [0.0, -1e200, 1e199], [1e300, 1e300, 1e300]]),
        ),
    ]:
        proba = model.predict_proba(far)
        assert torch.isfinite(proba).all()
        expected = far_scores(model, far).argmax(1)
        np.testing.assert_array_equal(model.predict(far).numpy(), expected)
        np.testing.assert_array_equal(proba.double().numpy(), np.eye(3)[expected])
        assert torch.isneginf(model.score_samples(far)).all()  # below what the dtype holds
    # a near point is untouched by the far path
    near = gmm.predict_proba(X[:5])
    torch.testing.assert_close(near.sum(1), torch.ones(5))


def test_precisions_before_fit_are_missing_attributes() -> None:
    gmm = GaussianMixture(2)
    assert not hasattr(gmm, "precisions_") and not hasattr(gmm, "precisions_cholesky_")


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"n_init": 0}, ValueError, "n_init must be a positive integer, got 0"),
        ({"n_init": 1.5}, TypeError, "n_init must be an integer"),
        ({"max_iter": -1}, ValueError, "max_iter must be an integer >= 0, got -1"),
        ({"warm_start": 1}, TypeError, "warm_start must be True or False, got 1"),
        ({"init_params": "kmeans++"}, ValueError, "unknown init_params 'kmeans\\+\\+'"),
        ({"init": "kmeans"}, ValueError, "unknown init 'kmeans'.*init_params"),
        ({"init": "random", "init_params": "random"}, ValueError, "init or init_params"),
        ({"covariance_type": "circular"}, ValueError, "covariance_type 'circular'"),
    ],
)
def test_bad_options(kwargs: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        GaussianMixture(2, **kwargs)


@pytest.mark.parametrize(
    ("covariance_type", "kwargs", "message"),
    [
        ("tied", {"precisions_init": np.ones((3, 2, 2))}, r"precisions_init must be .*\[2, 2\]"),
        (
            "tied",
            {"covariances_init": [[1.0, 2.0], [2.0, 1.0]]},
            "covariances_init must be positive definite$",
        ),
        (
            "tied",
            {"precisions_init": [[1.0, 0.5], [0.0, 1.0]]},
            "precisions_init must be symmetric$",
        ),
        ("spherical", {"precisions_init": np.ones((2, 2))}, r"precisions_init must be .*\[2\]"),
        (
            "spherical",
            {"covariances_init": [1.0, -1.0]},
            "covariances_init must be positive; component 1",
        ),
    ],
)
def test_bad_initial_parameters(covariance_type: str, kwargs: dict, message: str) -> None:
    X = data()[:, :2]
    with pytest.raises(ValueError, match=message):
        GaussianMixture(2, covariance_type, seed=0).fit(X, **kwargs)


def test_warm_start_on_other_features_raises() -> None:
    X = data()
    gmm = GaussianMixture(2, warm_start=True, seed=0).fit(X)
    with pytest.raises(ValueError, match="X has 2 features, the warm start was fitted on 3"):
        gmm.fit(X[:, :2])


@pytest.mark.parametrize("covariance_type", ["tied", "spherical"])
def test_sampling_the_new_types(covariance_type: str) -> None:
    X = data(seed=9)
    gmm = GaussianMixture(3, covariance_type, seed=0).fit(X)
    sample, labels = gmm.sample(30000)
    first = sample[labels == 0].numpy()
    covariance = gmm.covariances_.numpy()
    expected = covariance if covariance_type == "tied" else covariance[0] * np.eye(3)
    np.testing.assert_allclose(np.cov(first.T), expected, atol=0.1)
    np.testing.assert_allclose(first.mean(0), gmm.means_[0].numpy(), atol=0.05)

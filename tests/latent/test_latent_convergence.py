"""Convergence reports of the EM fits: a fit stopped at its cap warns and says so in
``converged_`` / ``n_iter_``; a converged one warns nothing and agrees with scikit-learn's and
hmmlearn's iteration counts from the same start; the monitor's record."""

from __future__ import annotations

import contextlib
import math
import warnings

import numpy as np
import pytest
import torch
from sklearn.mixture import GaussianMixture as SkGaussianMixture

from reparam import ConvergenceWarning
from reparam.latent import HMM, ConvergenceMonitor, GaussianMixture

F64 = torch.float64


def two_clusters(n: int = 200, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.normal(-4, 1, (n // 2, 2)), rng.normal(4, 1.5, (n // 2, 2))])


def sticky_hmm(emission: str) -> HMM:
    hmm = HMM(2, emission, n_symbols=3, dim=2, dtype=F64, seed=0)
    hmm.set_params(pi=[0.5, 0.5], A=[[0.9, 0.1], [0.15, 0.85]])
    if emission == "categorical":
        hmm.set_params(emissionprob=[[0.7, 0.2, 0.1], [0.1, 0.2, 0.7]])
    else:
        hmm.set_params(means=[[-2.0, 0.0], [2.0, 1.0]], variances=[[1.0, 0.5], [0.8, 1.0]])
    return hmm


@contextlib.contextmanager
def no_convergence_warning():
    """A ConvergenceWarning inside is an error."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        yield


# --------------------------------------------------------------------------- GaussianMixture


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_gmm_stopped_at_its_cap_warns(covariance_type):
    gmm = GaussianMixture(2, covariance_type, tol=1e-12, max_iter=3, init="random", seed=0)
    with pytest.warns(
        ConvergenceWarning, match=r"GaussianMixture.fit .*changed by .*\(max_iter=3\)"
    ):
        gmm.fit(two_clusters())
    assert gmm.converged_ is False and gmm.n_iter_ == 3 == len(gmm.history)
    assert gmm.lower_bound_ == gmm.history[-1]
    with pytest.warns(ConvergenceWarning, match="max_iter=1 allows no change"):
        GaussianMixture(2, max_iter=1, seed=0).fit(two_clusters())


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_gmm_converged_matches_sklearn_and_warns_nothing(covariance_type):
    X = two_clusters(seed=1)
    rng = np.random.default_rng(2)
    start = {
        "weights_init": np.array([0.3, 0.7]),
        "means_init": X[rng.choice(len(X), 2, replace=False)],
        "precisions_init": np.ones((2, 2))
        if covariance_type == "diag"
        else np.stack([np.eye(2)] * 2),
    }
    kwargs = {"covariance_type": covariance_type, "tol": 1e-6, "max_iter": 200}
    sk = SkGaussianMixture(2, **kwargs, **start).fit(X)
    with no_convergence_warning():
        ours = GaussianMixture(2, seed=0, **kwargs).fit(X, **start)
    assert sk.converged_ and ours.converged_
    assert ours.n_iter_ == sk.n_iter_ < 200
    np.testing.assert_allclose(ours.history, sk.lower_bounds_, rtol=1e-10)
    assert ours.lower_bound_ == pytest.approx(sk.lower_bound_, rel=1e-10)
    assert ours.monitor_.history is ours.history and ours.monitor_.iter == ours.n_iter_


# --------------------------------------------------------------------------- HMM


@pytest.mark.parametrize("emission", ["categorical", "gaussian"])
def test_hmm_stopped_at_its_cap_warns(emission):
    _, x = sticky_hmm(emission).sample(60, n=4, seed=3)
    hmm = HMM(2, emission, n_symbols=3, dim=2, dtype=F64, seed=1)
    with pytest.warns(ConvergenceWarning, match=r"HMM.fit .*log-likelihood changed by .*n_iter=3"):
        hmm.fit(x, n_iter=3, tol=1e-12)
    assert hmm.converged_ is False and hmm.n_iter_ == 3 == len(hmm.history_)
    assert hmm.monitor_.history is hmm.history_ and hmm.lower_bound_ == hmm.history_[-1]
    assert hmm.monitor_.delta > 1e-12  # still rising when it stopped
    with pytest.warns(ConvergenceWarning, match="n_iter=1 allows no change"):
        hmm.fit(x, n_iter=1)
    with no_convergence_warning():  # tol = −inf asks for all n_iter iterations
        hmm.fit(x, n_iter=4, tol=-math.inf)
    assert hmm.n_iter_ == 4 and not hmm.converged_


def _hmmlearn(hmm: HMM, tol: float, n_iter: int):
    from hmmlearn import hmm as hl

    common = dict(n_components=hmm.n_states, init_params="", n_iter=n_iter, tol=tol)
    if hmm.emission == "categorical":
        model = hl.CategoricalHMM(n_features=hmm.n_symbols, **common)
        model.emissionprob_ = hmm.log_emission.exp().detach().numpy()
    else:
        model = hl.GaussianHMM(
            covariance_type="diag", min_covar=0.0, covars_prior=0.0, covars_weight=1, **common
        )
        model.means_ = hmm.means.detach().numpy()
        model.covars_ = hmm.variances.detach().numpy()
    model.startprob_ = hmm.log_pi.exp().detach().numpy()
    model.transmat_ = hmm.log_A.exp().detach().numpy()
    return model


@pytest.mark.parametrize("emission", ["categorical", "gaussian"])
def test_hmm_converged_matches_hmmlearn_and_warns_nothing(emission):
    pytest.importorskip("hmmlearn")
    _, x = sticky_hmm(emission).sample(80, n=3, seed=4)
    hmm = HMM(2, emission, n_symbols=3, dim=2, dtype=F64, seed=5)
    if emission == "gaussian":
        hmm.set_params(means=[[-1.0, 0.0], [1.0, 0.0]], variances=[[1.0, 1.0], [1.0, 1.0]])
    model = _hmmlearn(hmm, tol=1e-6, n_iter=500)
    X = x.reshape(-1, 1).numpy() if emission == "categorical" else x.reshape(-1, 2).numpy()
    model.fit(X, [80, 80, 80])
    with no_convergence_warning():
        hmm.fit(x, n_iter=500, tol=1e-6)
    assert hmm.converged_ and model.monitor_.converged
    assert hmm.n_iter_ == model.monitor_.iter < 500
    np.testing.assert_allclose(hmm.history_[-2:], list(model.monitor_.history)[-2:], rtol=1e-9)
    np.testing.assert_allclose(hmm.log_A.exp().detach().numpy(), model.transmat_, atol=1e-6)


def test_fit_gradient_with_and_without_tol():
    _, x = sticky_hmm("categorical").sample(40, n=4, seed=6)
    hmm = HMM(2, "categorical", n_symbols=3, dtype=F64, seed=7)
    with no_convergence_warning():  # a budget of steps and no tolerance: no claim, no warning
        losses = hmm.fit_gradient(x, steps=5)
    assert len(losses) == 5 and hmm.n_iter_ == 5 and not hmm.converged_
    with pytest.warns(
        ConvergenceWarning, match=r"fit_gradient .*per sequence changed by .*steps=5"
    ):
        hmm.fit_gradient(x, steps=5, tol=1e-12)
    lbfgs = HMM(2, "categorical", n_symbols=3, dtype=F64, seed=7)
    losses = lbfgs.fit_gradient(x, optimizer=lambda p: torch.optim.LBFGS(p), steps=50, tol=1e-8)
    assert lbfgs.converged_ and len(losses) == lbfgs.n_iter_ < 50
    assert lbfgs.lower_bound_ == -losses[-1]


def test_monitor_rules():
    sk = ConvergenceMonitor(tol=0.1, n_iter=10)  # |Δ| < tol
    assert [sk.report(v) for v in (0.0, 1.0, 0.95)] == [False, False, True]
    hl = ConvergenceMonitor(tol=0.1, n_iter=10, absolute=False)  # Δ < tol: a fall stops it
    assert [hl.report(v) for v in (0.0, 1.0, 0.5)] == [False, False, True]
    assert math.isnan(ConvergenceMonitor(0.1, 1).delta)

"""Every emission family and option of the HMM against hmmlearn 0.3.3 itself, from the same
start: the same π, A and emission parameters, hmmlearn's ``init_params=""`` so it starts from
them, its priors set to the maximum-likelihood update. Compared: the total log-likelihood,
the posteriors γ, the Viterbi path and score, AIC and BIC, and the parameters and the
log-likelihood history after three Baum–Welch iterations (``params`` subsets included).

Tolerance 1e-9 (relative, and absolute for probabilities): both sides compute the same float64
sums in different orders; the differences measured here are below 3e-13 for every option."""

from __future__ import annotations

import logging
import math
import zlib

import numpy as np
import pytest
import torch

from reparam.latent import HMM

hl = pytest.importorskip("hmmlearn.hmm")
logging.getLogger("hmmlearn").setLevel(logging.ERROR)  # MultinomialHMM's notice on creation

F64 = torch.float64
K, D, M = 3, 2, 2
LENGTHS = [40, 25, 33]
TOL = {"rtol": 1e-9, "atol": 1e-9}


def _stochastic(gen: torch.Generator, *shape: int) -> torch.Tensor:
    p = torch.rand(*shape, generator=gen, dtype=F64) + 0.2
    return p / p.sum(-1, keepdim=True)


def _spd(gen: torch.Generator, *shape: int) -> torch.Tensor:
    B = torch.randn(*shape, D, D, generator=gen, dtype=F64)
    return B @ B.mT + 0.5 * torch.eye(D, dtype=F64)


def _covars(gen: torch.Generator, kind: str, components: tuple[int, ...]) -> torch.Tensor:
    """Random covariances in hmmlearn's compressed shape; tied drops the last axis."""
    if kind == "spherical":
        return torch.rand(*components, generator=gen, dtype=F64) + 0.5
    if kind == "diag":
        return torch.rand(*components, D, generator=gen, dtype=F64) + 0.5
    return _spd(gen, *(components if kind == "full" else components[:-1]))


def build(family: str, kind: str = "diag", params: str | None = None):
    """A reparam HMM with random parameters, the hmmlearn model set to the same, and data."""
    gen = torch.Generator().manual_seed(zlib.crc32(f"{family}-{kind}".encode()))
    pi, A = _stochastic(gen, K), _stochastic(gen, K, K)
    options = {"params": params} if params is not None else {}
    if family == "categorical":
        ours = HMM(K, "categorical", n_symbols=4, dtype=F64, **options)
        emission = {"emissionprob": _stochastic(gen, K, 4)}
        peer = hl.CategoricalHMM(K, n_features=4)
        peer.emissionprob_ = emission["emissionprob"].numpy()
    elif family == "multinomial":
        ours = HMM(K, "multinomial", n_symbols=4, n_trials=5, dtype=F64, **options)
        emission = {"emissionprob": _stochastic(gen, K, 4)}
        peer = hl.MultinomialHMM(K, n_trials=5)
        peer.emissionprob_ = emission["emissionprob"].numpy()
    elif family == "poisson":
        ours = HMM(K, "poisson", dim=D, dtype=F64, **options)
        emission = {"lambdas": 6 * torch.rand(K, D, generator=gen, dtype=F64) + 0.5}
        peer = hl.PoissonHMM(K)
        peer.lambdas_ = emission["lambdas"].numpy()
    elif family == "gaussian":
        ours = HMM(K, "gaussian", dim=D, covariance=kind, dtype=F64, **options)
        emission = {"means": 3 * torch.randn(K, D, generator=gen, dtype=F64)}
        emission["covars"] = _covars(gen, kind, (K,))
        peer = hl.GaussianHMM(K, covariance_type=kind, covars_prior=0.0, min_covar=0.0)
        peer.means_, peer.covars_ = emission["means"].numpy(), emission["covars"].numpy()
    else:
        ours = HMM(K, "gmm", dim=D, n_mix=M, covariance=kind, dtype=F64, **options)
        emission = {
            "means": 3 * torch.randn(K, M, D, generator=gen, dtype=F64),
            "covars": _covars(gen, kind, (K, M)),
            "weights": _stochastic(gen, K, M),
        }
        # hmmlearn's default spherical prior is not the maximum-likelihood one; this is
        prior = {"covars_prior": -(D + 2) / 2} if kind == "spherical" else {}
        peer = hl.GMMHMM(K, n_mix=M, covariance_type=kind, **prior)
        peer.means_, peer.covars_ = emission["means"].numpy(), emission["covars"].numpy()
        peer.weights_ = emission["weights"].numpy()
    ours.set_params(pi=pi, A=A, **emission)
    peer.startprob_, peer.transmat_ = pi.numpy(), A.numpy()
    peer.init_params, peer.n_iter, peer.tol = "", 3, -np.inf
    if params is not None:
        peer.params = params
    _, x = ours.sample(max(LENGTHS), n=len(LENGTHS), seed=2)
    parts = [x[n, :L].numpy() for n, L in enumerate(LENGTHS)]
    X = np.concatenate(parts)
    return ours, peer, x, X.reshape(-1, 1) if X.ndim == 1 else X


def close(got, want) -> None:
    np.testing.assert_allclose(torch.as_tensor(got, dtype=F64).numpy(), np.asarray(want), **TOL)


def emission_parameters(ours: HMM, peer) -> list[tuple[torch.Tensor, np.ndarray]]:
    family = ours.emission
    if family in ("categorical", "multinomial"):
        return [(ours.emissionprob_, peer.emissionprob_)]
    if family == "poisson":
        return [(ours.lambdas_, peer.lambdas_)]
    pairs = [(ours.means_, peer.means_)]
    if family == "gmm":
        return [*pairs, (ours.weights_, peer.weights_), (ours.covars_, peer.covars_)]
    # hmmlearn keeps a spherical variance once a feature after its M step
    spherical = ours.covariance == "spherical" and np.ndim(peer._covars_) == 2
    return [*pairs, (ours.covars, peer._covars_[:, 0] if spherical else peer._covars_)]


CASES = [
    ("categorical", "diag"),
    ("multinomial", "diag"),
    ("poisson", "diag"),
    *[("gaussian", kind) for kind in ("spherical", "diag", "full", "tied")],
    *[("gmm", kind) for kind in ("spherical", "diag", "full", "tied")],
]


@pytest.mark.parametrize(("family", "kind"), CASES)
def test_inference_and_criteria_match_hmmlearn(family, kind):
    ours, peer, x, X = build(family, kind)
    gamma, _, ll = ours.posteriors(x, LENGTHS)
    path, score = ours.viterbi(x, LENGTHS)
    valid = path >= 0
    close(ll.sum(), peer.score(X, LENGTHS))
    close(gamma[valid], peer.predict_proba(X, LENGTHS))
    peer_score, peer_path = peer.decode(X, LENGTHS)
    np.testing.assert_array_equal(path[valid].numpy(), peer_path)
    close(score.sum(), peer_score)
    # hmmlearn's GMMHMM counts M − 1 free mixture weights in all; each state has its own
    extra = (K - 1) * (M - 1) if family == "gmm" else 0
    close(ours.aic(x, LENGTHS), peer.aic(X, LENGTHS) + 2 * extra)
    close(ours.bic(x, LENGTHS), peer.bic(X, LENGTHS) + extra * math.log(sum(LENGTHS)))
    close(ours.stationary_distribution(), peer.get_stationary_distribution())


FITS = [
    ("categorical", "diag", None),
    ("categorical", "diag", "e"),
    ("multinomial", "diag", None),
    ("poisson", "diag", None),
    ("poisson", "diag", "sl"),
    *[("gaussian", kind, None) for kind in ("spherical", "diag", "full", "tied")],
    ("gaussian", "full", "tm"),
    # GMM: hmmlearn centres the covariance on the means before the step (see
    # test_gmm_covariance_step_differs_from_hmmlearn_by_the_mean_shift), so "m" is left out
    *[("gmm", kind, "stcw") for kind in ("spherical", "diag", "full", "tied")],
    ("gmm", "diag", "w"),
]


@pytest.mark.parametrize(("family", "kind", "params"), FITS)
def test_baum_welch_matches_hmmlearn(family, kind, params):
    ours, peer, x, X = build(family, kind, params)
    before = [a.clone() for a, _ in emission_parameters(ours, peer)]
    peer.fit(X, LENGTHS)
    ours.fit(x, LENGTHS, n_iter=3, tol=-math.inf)
    close(ours.history_, peer.monitor_.history)
    close(ours.startprob_, peer.startprob_)
    close(ours.transmat_, peer.transmat_)
    for got, want in emission_parameters(ours, peer):
        close(got, want)
    letters = params if params is not None else ours.params
    if "s" not in letters:
        close(ours.startprob_, build(family, kind)[0].startprob_)
    if not set(letters) & set(ours.emissions.letters):
        for (got, _), start in zip(emission_parameters(ours, peer), before, strict=True):
            torch.testing.assert_close(got, start, rtol=0, atol=0)


@pytest.mark.parametrize("kind", ["diag", "full"])
def test_gmm_covariance_step_differs_from_hmmlearn_by_the_mean_shift(kind):
    """One step with every letter: the weights and means agree; hmmlearn's covariance is
    taken about the old means, ours about the new (the exact M step), so hmmlearn's exceeds
    ours by (μ_new − μ_old)(μ_new − μ_old)ᵀ (its diagonal for "diag")."""
    ours, peer, x, X = build("gmm", kind)
    old = ours.means_.clone()
    peer.n_iter = 1
    peer.fit(X, LENGTHS)
    ours.fit(x, LENGTHS, n_iter=1, tol=-math.inf)
    close(ours.weights_, peer.weights_)
    close(ours.means_, peer.means_)
    shift = ours.means_ - old
    outer = shift[..., :, None] * shift[..., None, :]
    close(ours.covars_ + (outer if kind == "full" else shift**2), peer.covars_)


def test_gaussian_covariances_without_means_are_taken_about_the_kept_means():
    """params="c": hmmlearn's GaussianHMM gathers no mean statistics without "m" and returns
    wrong covariances; its GMMHMM with one component per state does this step right, and so
    do we."""
    ours, _, x, X = build("gaussian", "full", params="c")
    peer = hl.GMMHMM(K, n_mix=1, covariance_type="full", init_params="", params="c", n_iter=3)
    peer.tol = -np.inf
    peer.startprob_, peer.transmat_ = ours.startprob_.numpy(), ours.transmat_.numpy()
    peer.means_, peer.covars_ = ours.means_[:, None].numpy(), ours.covars_[:, None].numpy()
    peer.weights_ = np.ones((K, 1))
    peer.fit(X, LENGTHS)
    ours.fit(x, LENGTHS, n_iter=3, tol=-math.inf)
    close(ours.covars_, peer.covars_[:, 0])
    close(ours.history_, peer.monitor_.history)


# --------------------------------------------------------------------------- reparam's own


@pytest.mark.parametrize(
    ("family", "kind"), [("poisson", "diag"), ("gaussian", "full"), ("gmm", "tied")]
)
def test_fit_gradient_fits_only_the_params_letters(family, kind):
    ours, _, x, _ = build(family, kind, params="t" + ours_letter(family))
    start = {name: p.detach().clone() for name, p in ours.named_parameters()}
    losses = ours.fit_gradient(x, LENGTHS, steps=5)
    assert losses[-1] < losses[0]
    fitted = {name for name, p in ours.named_parameters() if not torch.equal(p, start[name])}
    assert "pi_logits" not in fitted and "A_logits" in fitted and len(fitted) == 2


def ours_letter(family: str) -> str:
    return {"poisson": "l", "gaussian": "c", "gmm": "w"}[family]


def test_variance_floor_of_full_covariances_is_on_eigenvalues():
    # two states on data that lie on a line: the fitted covariance is singular but for the floor
    x = torch.linspace(-1, 1, 40, dtype=F64)[:, None].expand(40, 2)[None]
    h = HMM(1, "gaussian", dim=2, covariance="full", variance_floor=1e-3, dtype=F64)
    h.fit(x, n_iter=2, tol=-math.inf)
    values = torch.linalg.eigvalsh(h.covars_[0])
    assert values.min().item() == pytest.approx(1e-3, rel=1e-9)
    assert values.max().item() == pytest.approx(2 * x[0, :, 0].var(unbiased=False).item(), rel=1e-9)


def test_sample_continues_from_given_states():
    h, _, _, _ = build("gaussian", "diag")
    z, _ = h.sample(6, n=4, seed=0)
    z2, x2 = h.sample(6, n=4, seed=1, currstate=z[:, -1])
    assert torch.equal(z2[:, 0], z[:, -1]) and x2.shape == (4, 6, D)
    assert (h.sample(3, n=2, seed=0, currstate=2)[0][:, 0] == 2).all()
    for bad, error in [
        (3, ValueError),
        (-1, ValueError),
        (1.5, TypeError),
        ([0, 1, 2], ValueError),
    ]:
        with pytest.raises(error, match="currstate"):
            h.sample(3, n=2, currstate=bad)


@pytest.mark.parametrize(
    ("family", "kind"), [("gaussian", "spherical"), ("gaussian", "tied"), ("gmm", "diag")]
)
def test_init_params_follow_hmmlearn(family, kind):
    """init_params: π and A Dirichlet draws (rows summing to one), the k-means centres as
    means, the data's covariance (N − 1, plus the floor) for every state, uniform weights."""
    _ours, _, x, _ = build(family, kind)
    fresh = HMM(
        K,
        family,
        dim=D,
        n_mix=M,
        covariance=kind,
        dtype=F64,
        seed=4,
        init_params="stmcw"[: 4 + (family == "gmm")],
    )
    fresh._initialize(*fresh._training_data(x, LENGTHS))
    steps = torch.cat([x[n, :L] for n, L in enumerate(LENGTHS)])
    cv = np.cov(steps.numpy().T) + 1e-6 * np.eye(D)
    torch.testing.assert_close(fresh.startprob_.sum(), torch.tensor(1.0, dtype=F64))
    torch.testing.assert_close(fresh.transmat_.sum(1), torch.ones(K, dtype=F64))
    if family == "gmm":
        torch.testing.assert_close(fresh.weights_, torch.full((K, M), 1 / M, dtype=F64))
        close(fresh.covars_, np.broadcast_to(np.diag(cv), (K, M, D)))
    elif kind == "tied":
        close(fresh.covars, cv)
    else:
        close(fresh.covars, np.full(K, np.trace(cv) / D))
    if family == "gaussian":  # the k-means centres (each a mean of its nearest points)
        labels = torch.cdist(steps, fresh.means_).argmin(1)
        close(fresh.means_, torch.stack([steps[labels == k].mean(0) for k in range(K)]))


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"emission": "binomial"}, ValueError, "emission"),
        ({"emission": "gmm", "dim": 2, "n_mix": 0}, ValueError, "n_mix"),
        ({"emission": "gmm", "dim": 2, "n_mix": 1.5}, TypeError, "n_mix"),
        ({"emission": "multinomial", "n_trials": 0}, ValueError, "n_trials"),
        ({"emission": "poisson"}, ValueError, "dim"),
        ({"emission": "gaussian", "dim": 2, "covariance": "banana"}, ValueError, "covariance"),
        ({"params": "stx"}, ValueError, "params"),
        ({"params": 3}, TypeError, "params"),
        ({"init_params": "m"}, ValueError, "init_params"),
    ],
)
def test_bad_construction_names_the_argument(kwargs, error, message):
    args = {"n_states": 2, "emission": "categorical", "n_symbols": 3} | kwargs
    with pytest.raises(error, match=message):
        HMM(**args)


def test_bad_emission_parameters_and_data_name_themselves():
    gauss = HMM(2, "gaussian", dim=2, covariance="full", dtype=F64)
    with pytest.raises(ValueError, match="covars must have shape"):
        gauss.set_params(covars=torch.eye(2))
    with pytest.raises(ValueError, match="covars must be positive definite"):
        gauss.set_params(covars=torch.tensor([[[1.0, 2.0], [2.0, 1.0]]] * 2))
    with pytest.raises(ValueError, match="covars must be symmetric"):
        gauss.set_params(covars=torch.tensor([[[1.0, 0.5], [0.0, 1.0]]] * 2))
    with pytest.raises(ValueError, match="variances apply to covariance 'diag' or 'spherical'"):
        gauss.set_params(variances=torch.ones(2, 2))
    with pytest.raises(ValueError, match="lambdas applies to poisson emissions"):
        gauss.set_params(lambdas=torch.ones(2, 2))
    poisson = HMM(2, "poisson", dim=2, dtype=F64)
    with pytest.raises(ValueError, match="lambdas must be finite and non-negative"):
        poisson.set_params(lambdas=[[1.0, -1.0], [1.0, 1.0]])
    with pytest.raises(ValueError, match=r"x must hold non-negative integer counts, got .*1\.5"):
        poisson.log_likelihood(torch.tensor([[[1.0, 1.5]]]))
    gmm = HMM(2, "gmm", dim=1, n_mix=2, dtype=F64)
    with pytest.raises(ValueError, match="weights must sum to one"):
        gmm.set_params(weights=[[0.5, 0.6], [0.5, 0.5]])
    with pytest.raises(ValueError, match="init_params needs at least 2 valid steps"):
        HMM(2, "gaussian", dim=1, init_params="m", dtype=F64).fit(torch.zeros(1, 1, 1, dtype=F64))
    with pytest.raises(ValueError, match="params='' selects no parameter"):
        HMM(2, "poisson", dim=1, params="", dtype=F64).fit_gradient(torch.ones(1, 3, 1))

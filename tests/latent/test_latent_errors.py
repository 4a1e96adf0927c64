"""Bad input to the HMM and the Gaussian mixture is a one-line ValueError (TypeError for a wrong
type) naming the argument — never NaN output or an arbitrary Viterbi path; and a zero-weight
mixture component is valid and finite."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.mixture import GaussianMixture as SkGaussianMixture

from reparam.latent import HMM, GaussianMixture, backward, forward, posteriors, viterbi

F64 = torch.float64
RECURSIONS = [forward, backward, posteriors, viterbi]


def one_line(error: pytest.ExceptionInfo) -> None:
    assert "\n" not in str(error.value)


def categorical() -> HMM:
    hmm = HMM(2, "categorical", n_symbols=3, dtype=F64)
    return hmm.set_params(pi=[0.6, 0.4], A=[[0.7, 0.3], [0.4, 0.6]])


def gaussian() -> HMM:
    return HMM(2, "gaussian", dim=2, dtype=F64, seed=0)


# --------------------------------------------------------------------------- NaN inputs


@pytest.mark.parametrize("recursion", RECURSIONS)
@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_nan_emissions_raise_in_every_recursion(recursion, bad):
    log_pi, log_A = torch.zeros(2).log_softmax(0), torch.zeros(2, 2).log_softmax(1)
    log_b = torch.zeros(2, 4, 2)
    log_b[1, 2, 0] = bad
    with pytest.raises(ValueError, match=r"log_b must hold log-probabilities .* index \[1, 2, 0\]"):
        recursion(log_pi, log_A, log_b)
    log_b[1, 2, 0] = 0.0
    log_b[1, 3, 1] = bad  # past the length it is padding: ignored
    recursion(log_pi, log_A, log_b, lengths=[4, 3])
    for name, args in [
        ("log_pi", (torch.tensor([0.0, bad]), log_A, log_b[:1])),
        ("log_A", (log_pi, torch.tensor([[0.0, bad], [0.0, 0.0]]), log_b[:1])),
    ]:
        with pytest.raises(ValueError, match=name) as error:
            recursion(*args)
        one_line(error)


@pytest.mark.parametrize("recursion", RECURSIONS)
def test_recursion_argument_types(recursion):
    log_pi, log_A = torch.zeros(2), torch.zeros(2, 2)
    with pytest.raises(TypeError, match="log_b must be a tensor"):
        recursion(log_pi, log_A, [[[0.0, 0.0]]])
    with pytest.raises(ValueError, match="log_b must be a floating-point tensor"):
        recursion(log_pi, log_A, torch.zeros(1, 3, 2, dtype=torch.long))
    with pytest.raises(ValueError, match=r"lengths must lie in \[1, T=3\], got 4 at sequence 1"):
        recursion(log_pi, log_A, torch.zeros(2, 3, 2), lengths=[3, 4])


def test_nan_observations_raise_in_every_method():
    hmm = gaussian()
    x = torch.zeros(2, 5, 2, dtype=F64)
    x[1, 3, 0] = math.nan
    for method in (hmm.log_likelihood, hmm.posteriors, hmm.viterbi, hmm.decode, hmm.fit):
        with pytest.raises(ValueError, match=r"x must be finite .*sequence 1, step 3"):
            method(x)
    with pytest.raises(ValueError, match=r"x must be finite"):
        hmm.fit_gradient(x, steps=1)
    path, _ = hmm.viterbi(x, lengths=[5, 3])  # NaN in the padding is fine
    assert path[1, 3:].tolist() == [-1, -1]


def test_nan_parameters_raise():
    hmm = categorical()
    with torch.no_grad():
        hmm.A_logits[0, 1] = math.nan
    x = torch.tensor([[0, 1, 2]])
    for method in (hmm.log_likelihood, hmm.viterbi, hmm.posteriors, hmm.fit):
        with pytest.raises(ValueError, match="the HMM's A_logits hold NaN"):
            method(x)
    with pytest.raises(ValueError, match="A_logits"):
        hmm.sample(3)


# --------------------------------------------------------------------------- other bad input


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_states": 0}, "n_states must be an integer ≥ 1, got 0"),
        ({"n_states": -2}, "n_states"),
        ({"n_states": 2.5}, "n_states"),
        ({"n_states": True}, "n_states"),
        ({"n_symbols": 0}, "n_symbols must be an integer ≥ 1, got 0"),
        ({"n_symbols": None}, "n_symbols"),
        ({"emission": "gaussian", "dim": 0}, "dim must be an integer ≥ 1"),
        ({"emission": "gaussian", "dim": None}, "dim"),
        ({"variance_floor": 0.0}, "variance_floor"),
        ({"variance_floor": math.nan}, "variance_floor"),
        ({"emission": "poisson"}, "emission"),
        ({"covariance": "banana"}, "covariance"),
    ],
)
def test_bad_hmm_construction(kwargs, message):
    args = {"n_states": 2, "emission": "categorical", "n_symbols": 3} | kwargs
    with pytest.raises(ValueError, match=message) as error:
        HMM(**args)
    one_line(error)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"pi": [0.5, 0.6]}, "pi must sum to one"),
        ({"pi": [math.nan, 1.0]}, "pi must be finite and non-negative"),
        ({"A": [[0.5, 0.4], [0.5, 0.5]]}, "A must sum to one"),
        ({"A": [[1.5, -0.5], [0.5, 0.5]]}, "A must be finite and non-negative"),
        ({"A": [[1.0]]}, "A must have shape"),
    ],
)
def test_non_stochastic_parameters_raise(params, message):
    with pytest.raises(ValueError, match=message) as error:
        categorical().set_params(**params)
    one_line(error)


def test_bad_gaussian_parameters_raise():
    with pytest.raises(ValueError, match="means must be finite"):
        gaussian().set_params(means=[[0.0, math.nan], [0.0, 0.0]])
    with pytest.raises(ValueError, match=r"variances must be finite and positive, got .*-1"):
        gaussian().set_params(variances=[[1.0, -1.0], [1.0, 1.0]])


def test_bad_observations_raise():
    hmm = categorical()
    with pytest.raises(ValueError, match=r"x must hold symbols in \[0, 3\), got 7 at sequence 1"):
        hmm.log_likelihood(torch.tensor([[0, 1], [7, 0]]))
    with pytest.raises(ValueError, match="got -1"):
        hmm.viterbi(torch.tensor([[0, -1]]))
    with pytest.raises(ValueError, match="categorical x must hold integers"):
        hmm.log_likelihood(torch.tensor([[0.0, 1.0]]))
    with pytest.raises(ValueError, match="x needs at least one time step"):
        hmm.log_likelihood(torch.zeros(2, 0, dtype=torch.long))
    with pytest.raises(ValueError, match="lengths"):
        hmm.log_likelihood(torch.tensor([[0, 1]]), lengths=[3])
    with pytest.raises(ValueError, match="x must have 2 features"):
        gaussian().log_likelihood(torch.zeros(1, 3, 4))


def test_empty_batch():
    hmm = categorical()
    empty = torch.zeros(0, 4, dtype=torch.long)
    assert hmm.log_likelihood(empty).shape == (0,)
    assert hmm.viterbi(empty)[0].shape == (0, 4)
    assert hmm.posteriors(empty, lengths=[])[0].shape == (0, 4, 2)
    with pytest.raises(
        ValueError, match=r"x must hold at least one sequence to fit, got shape \(0, 4\)"
    ):
        hmm.fit(empty)
    with pytest.raises(ValueError, match="x must hold at least one sequence"):
        hmm.fit_gradient(empty)
    assert all(not p.isnan().any() for p in hmm.parameters())


def test_bad_fit_and_sample_arguments():
    hmm = categorical()
    x = torch.tensor([[0, 1, 2]])
    for kwargs, message in [
        ({"n_iter": 0}, "n_iter must be an integer ≥ 1, got 0"),
        ({"n_iter": 2.0}, "n_iter"),
        ({"tol": math.nan}, "tol must be a number"),
    ]:
        with pytest.raises(ValueError, match=message):
            hmm.fit(x, **kwargs)
    for kwargs, message in [({"steps": 0}, "steps"), ({"tol": -1.0}, "tol must be None")]:
        with pytest.raises(ValueError, match=message):
            hmm.fit_gradient(x, **kwargs)
    for args, message in [((0,), "T must be"), ((3, 0), "n must be"), ((2.5,), "T must be")]:
        with pytest.raises(ValueError, match=message):
            hmm.sample(*args)


# --------------------------------------------------------------------------- Gaussian mixture


def two_clusters(n: int = 200, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.normal(-4, 1, (n // 2, 2)), rng.normal(4, 1.5, (n // 2, 2))])


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_a_zero_weight_component_is_finite_and_matches_sklearn(covariance_type):
    X = two_clusters()
    start = {
        "weights_init": np.array([0.0, 0.5, 0.5]),
        "means_init": np.array([[0.0, 0.0], [-3.0, 0.0], [3.0, 0.0]]),
        "precisions_init": np.ones((3, 2))
        if covariance_type == "diag"
        else np.stack([np.eye(2)] * 3),
    }
    kwargs = {"covariance_type": covariance_type, "tol": 1e-8, "max_iter": 200}
    with np.errstate(divide="ignore"):  # scikit-learn takes log 0
        sk = SkGaussianMixture(3, **kwargs, **start).fit(X)
    ours = GaussianMixture(3, seed=0, **kwargs).fit(X, **start)
    assert ours.n_iter_ == sk.n_iter_ and ours.converged_
    np.testing.assert_allclose(ours.history, sk.lower_bounds_, rtol=1e-12)
    assert ours.weights_[0] < 1e-15
    for value in (ours.weights_, ours.means_, ours.covariances_, ours.predict_proba(X)):
        assert torch.isfinite(value).all()
    points = torch.as_tensor(X).requires_grad_()
    ours.score_samples(points).sum().backward()
    assert torch.isfinite(points.grad).all()


EYE = [[1.0, 0.0], [0.0, 1.0]]


@pytest.mark.parametrize(
    ("covariance_type", "kwargs", "message"),
    [
        (
            "full",
            {"covariances_init": [EYE, [[-1, 0], [0, 1]]]},
            "covariances_init must be positive definite; component 1",
        ),
        (
            "full",
            {"covariances_init": [EYE, [[1, 0.5], [0, 1]]]},
            "covariances_init must be symmetric; component 1",
        ),
        (
            "full",
            {"precisions_init": [[[1, 2], [2, 1]], EYE]},
            "precisions_init must be positive definite; component 0",
        ),
        (
            "diag",
            {"covariances_init": [[1, 1], [1, 0]]},
            "covariances_init must be positive; component 1",
        ),
        (
            "diag",
            {"precisions_init": [[1, -1], [1, 1]]},
            "precisions_init must be positive; component 0",
        ),
        (
            "full",
            {"covariances_init": np.ones((2, 3, 3))},
            r"covariances_init must be finite .* \[2, 2, 2\]",
        ),
        ("full", {"weights_init": [1.5, -0.5]}, r"weights_init must be 2 values in \[0, 1\]"),
        ("full", {"weights_init": [0.3, 0.3]}, "weights_init must sum to 1"),
        ("full", {"means_init": [[0.0, math.nan], [0.0, 0.0]]}, "means_init"),
    ],
)
def test_bad_initial_parameters(covariance_type, kwargs, message):
    with pytest.raises(ValueError, match=message) as error:
        GaussianMixture(2, covariance_type, seed=0).fit(two_clusters(), **kwargs)
    one_line(error)


def test_data_too_wide_for_the_dtype_raises():
    X = two_clusters() * 1e20
    with pytest.raises(ValueError, match=r"X spreads too widely for torch.float32 .*float64"):
        GaussianMixture(2, seed=0, dtype=torch.float32).fit(X)
    gmm = GaussianMixture(2, seed=0).fit(X)  # float64 holds these squares
    assert torch.isfinite(gmm.score_samples(X)).all()


def test_degenerate_data_without_a_floor_raises():
    X = np.repeat([[0.0, 0.0], [1.0, 1.0]], 5, axis=0)
    with pytest.raises(ValueError, match="reg_covar"):
        GaussianMixture(2, reg_covar=0.0, seed=0).fit(X)


def test_hmm_data_too_wide_for_the_dtype_raises():
    x = torch.randn(2, 10, 2, dtype=F64) * 1e20
    hmm = HMM(2, "gaussian", dim=2, dtype=torch.float32, seed=0)
    with pytest.raises(ValueError, match=r"x spreads too widely for torch.float32 .*float64"):
        hmm.fit(x)
    assert not hmm.log_likelihood(x).isnan().any()  # −∞: −|x|²/2 is beyond float32
    hmm = HMM(2, "gaussian", dim=2, dtype=F64, seed=0).fit(x)
    assert torch.isfinite(hmm.log_likelihood(x)).all()

"""A property-based sweep of ``reparam.latent`` on extreme but valid inputs: HMM recursions with
log-probabilities of ±1e4 and −∞, one state, one step; Gaussian HMMs and mixtures on data
scaled 1e-30…1e30, duplicated points, fewer points than components; CTC with −∞
log-probabilities, T = 1 and T = the target length. Every answer is finite (or the −∞ of an
impossible sequence, against brute force), every gradient finite, or the input is refused with
a clear ValueError, or the fit says it stopped early with a ConvergenceWarning."""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reparam import ConvergenceWarning
from reparam.latent import HMM, GaussianMixture, ctc_loss, forward, posteriors, viterbi

INF = math.inf
DTYPES = st.sampled_from([torch.float32, torch.float64])
# log-probabilities: ordinary, extreme and structural zeros
LOG_VALUES = st.one_of(
    st.floats(-30, 5),
    st.sampled_from([-1e4, -1e3, 1e3, 1e4, -INF, -INF]),
)
FAST = settings(max_examples=30, suppress_health_check=[HealthCheck.too_slow])


def tensor(draw, shape, dtype):
    values = draw(st.lists(LOG_VALUES, min_size=math.prod(shape), max_size=math.prod(shape)))
    return torch.tensor(values, dtype=torch.float64).reshape(shape).to(dtype)


def magnitude(*values: torch.Tensor) -> float:
    """The largest finite |value| (at least 1): the scale of the rounding errors."""
    finite = [v[torch.isfinite(v)].abs() for v in values]
    return max([1.0] + [float(v.max()) for v in finite if v.numel()])


def brute_force(log_pi, log_A, log_b):
    """log p(x) of each sequence by summing all K^T paths, in float64."""
    log_pi, log_A, log_b = (v.double() for v in (log_pi, log_A, log_b))
    T, K = log_b.shape[1:]
    paths = torch.tensor(list(itertools.product(range(K), repeat=T)))
    joint = log_pi[paths[:, 0]] + log_b[:, torch.arange(T), paths].sum(-1)
    joint = joint + log_A[paths[:, :-1], paths[:, 1:]].sum(-1)
    return torch.logsumexp(joint, -1)


@st.composite
def hmm_inputs(draw):
    dtype = draw(DTYPES)
    K, T, B = draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 2))
    return (
        tensor(draw, (K,), dtype),
        tensor(draw, (K, K), dtype),
        tensor(draw, (B, T, K), dtype),
    )


@FAST
@given(hmm_inputs())
def test_hmm_recursions(inputs):
    log_pi, log_A, log_b = (v.clone().requires_grad_() for v in inputs)
    dtype = log_b.dtype
    _, ll = forward(log_pi, log_A, log_b)
    exact = brute_force(*inputs)
    assert not ll.isnan().any() and (ll < INF).all()
    assert ((ll == -INF) == (exact == -INF)).all()
    finite = exact > -INF
    atol = 50 * torch.finfo(dtype).eps * magnitude(*inputs) * log_b.shape[1]
    torch.testing.assert_close(ll[finite].double(), exact[finite], atol=atol, rtol=0)
    # −∞ sequences included: their gradient is zero, not NaN
    grads = torch.autograd.grad(ll.sum(), (log_pi, log_A, log_b), materialize_grads=True)
    assert all(torch.isfinite(g).all() for g in grads)
    gamma, xi, ll2 = posteriors(*inputs)
    assert torch.isfinite(gamma).all() and torch.isfinite(xi).all()
    sums = gamma.sum(-1)
    torch.testing.assert_close(sums[finite], torch.ones_like(sums[finite]))
    assert (gamma[~finite] == 0).all()
    path, score = viterbi(*inputs)
    assert not score.isnan().any() and (score[finite] <= ll2[finite] + atol).all()
    assert ((path == -1).all(-1) == ~finite).all()
    assert ((path >= 0) & (path < log_b.shape[2])).all(-1)[finite].all()


@settings(max_examples=15, suppress_health_check=[HealthCheck.too_slow])
@given(
    exponent=st.integers(-30, 30),
    dtype=DTYPES,
    K=st.integers(1, 3),
    T=st.integers(1, 6),
    lengths=st.lists(st.integers(1, 6), min_size=1, max_size=3),
)
def test_gaussian_hmm_on_scaled_data(exponent, dtype, K, T, lengths):
    lengths = [min(n, T) for n in lengths]
    gen = torch.Generator().manual_seed(exponent + 31)
    x = torch.randn(len(lengths), T, 2, generator=gen, dtype=torch.float64) * 10.0**exponent
    hmm = HMM(K, "gaussian", dim=2, dtype=dtype, seed=0)
    ll = hmm.log_likelihood(x.to(dtype), lengths)
    assert not ll.isnan().any()  # −∞ only where float32 cannot hold −|x|²/2
    grads = torch.autograd.grad(ll.sum(), list(hmm.parameters()), materialize_grads=True)
    assert not any(g.isnan().any() for g in grads)
    if 1e3 * T * 10.0 ** (2 * exponent) < torch.finfo(dtype).max:  # else |∂/∂ log σ²| overflows
        assert all(torch.isfinite(g).all() for g in grads)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            hmm.fit(x.to(dtype), lengths, n_iter=30)
    except ValueError as error:
        assert "spreads too widely" in str(error) and dtype == torch.float32
        return
    assert all((p < INF).all() for p in hmm.parameters())  # logits of −∞ are zeros
    assert math.isfinite(hmm.lower_bound_) and hmm.n_iter_ <= 30
    gamma, _, ll = hmm.posteriors(x.to(dtype), lengths)
    assert torch.isfinite(gamma).all() and torch.isfinite(ll).all()
    assert (hmm.viterbi(x.to(dtype), lengths)[0] >= -1).all()


@settings(max_examples=15, suppress_health_check=[HealthCheck.too_slow])
@given(
    K=st.integers(1, 3),
    M=st.integers(1, 3),
    lengths=st.lists(st.integers(1, 4), min_size=1, max_size=3),
    seed=st.integers(0, 2**16),
)
def test_categorical_hmm_fit_on_short_sequences(K, M, lengths, seed):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randint(M, (len(lengths), max(lengths)), generator=gen)
    hmm = HMM(K, "categorical", n_symbols=M, dtype=torch.float64, seed=seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        losses = hmm.fit_gradient(x, lengths, steps=3)
        hmm.fit(x, lengths, n_iter=20)
    assert all(math.isfinite(v) for v in losses)
    assert hmm.converged_ or any(issubclass(w.category, ConvergenceWarning) for w in caught)
    assert all(not p.isnan().any() and (p < INF).all() for p in hmm.parameters())
    history = torch.tensor(hmm.history_)
    assert (history[1:] >= history[:-1] - 1e-9 * history.abs()[1:]).all()
    gamma, xi, ll = hmm.posteriors(x, lengths)
    assert torch.isfinite(gamma).all() and torch.isfinite(xi).all() and torch.isfinite(ll).all()


@settings(max_examples=25, suppress_health_check=[HealthCheck.too_slow])
@given(
    exponent=st.integers(-30, 30),
    dtype=DTYPES,
    covariance_type=st.sampled_from(["full", "diag"]),
    K=st.integers(1, 4),
    N=st.integers(1, 12),
    duplicate=st.booleans(),
)
def test_gaussian_mixture_on_scaled_data(exponent, dtype, covariance_type, K, N, duplicate):
    """Data of any scale against the absolute floor reg_covar = 1e-6: far below it (scale
    1e-30) every component is N(μ, reg_covar I) and the log-likelihood is that of a point
    mass smoothed by the floor; far above it the floor is invisible; where squared distances
    overflow the dtype the fit is refused."""
    rng = np.random.default_rng(exponent + 31)
    X = rng.standard_normal((N, 2))
    if duplicate:
        X[: N // 2 + 1] = X[0]
    X = X * 10.0**exponent
    gmm = GaussianMixture(K, covariance_type, seed=0, dtype=dtype)
    if K > N:
        with pytest.raises(ValueError, match="n_components"):
            gmm.fit(X)
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        try:
            gmm.fit(X)
        except ValueError as error:
            # float32 squares overflow, or a degenerate component's floor is lost in rounding
            assert ("spreads too widely" in str(error) and dtype == torch.float32) or (
                "increase reg_covar" in str(error)
                and torch.finfo(dtype).eps * 10.0 ** (2 * exponent) > 1e-3 * gmm.reg_covar
            )
            return
    assert gmm.converged_ or any(issubclass(w.category, ConvergenceWarning) for w in caught)
    for value in (gmm.weights_, gmm.means_, gmm.covariances_):
        assert torch.isfinite(value).all()
    scores = gmm.score_samples(X)
    assert torch.isfinite(scores).all()
    assert torch.isfinite(gmm.predict_proba(X)).all()
    if 10.0**exponent < 1e-6:  # the floor dominates: N(x | μ, reg_covar I) at x ≈ μ
        assert gmm.score(X) == pytest.approx(-math.log(2 * math.pi * 1e-6), rel=1e-3)


def collapse(path, blank=0):
    out, prev = [], None
    for k in path:
        if k != prev and k != blank:
            out.append(k)
        prev = k
    return out


@st.composite
def ctc_inputs(draw):
    dtype = draw(DTYPES)
    T, C, N = draw(st.integers(1, 4)), draw(st.integers(2, 3)), draw(st.integers(1, 3))
    targets = [
        draw(st.lists(st.integers(1, C - 1), max_size=draw(st.integers(0, T)))) for _ in range(N)
    ]
    input_lengths = [draw(st.integers(len(t) if draw(st.booleans()) else 0, T)) for t in targets]
    return tensor(draw, (T, N, C), dtype), targets, input_lengths


@FAST
@given(ctc_inputs())
def test_ctc(inputs):
    log_probs, targets, input_lengths = inputs
    width = max(1, max(map(len, targets)))
    padded = torch.tensor([t + [1] * (width - len(t)) for t in targets])
    target_lengths = list(map(len, targets))
    leaf = log_probs.clone().requires_grad_()
    loss = ctc_loss(leaf, padded, input_lengths, target_lengths, reduction="none")
    assert not loss.isnan().any() and (loss > -INF).all()
    for n, target in enumerate(targets):
        frames = log_probs[: input_lengths[n], n].double()
        terms = [
            frames[torch.arange(len(path)), list(path)].sum()
            for path in itertools.product(range(log_probs.shape[2]), repeat=input_lengths[n])
            if collapse(path) == target
        ]
        exact = -torch.logsumexp(torch.stack(terms), 0) if terms else torch.tensor(INF)
        if exact == INF:
            assert loss[n] == INF
        else:
            eps = torch.finfo(log_probs.dtype).eps
            atol = 50 * eps * magnitude(frames) * max(1, input_lengths[n])
            assert abs(loss[n].item() - exact.item()) <= atol
    (grad,) = torch.autograd.grad(loss[torch.isfinite(loss)].sum(), leaf)
    assert torch.isfinite(grad).all()
    zeroed = ctc_loss(leaf, padded, input_lengths, target_lengths, zero_infinity=True)
    (grad,) = torch.autograd.grad(zeroed, leaf)
    assert torch.isfinite(zeroed) and torch.isfinite(grad).all()

"""A sweep of extreme but valid inputs for the estimators, the objectives and the conjugate
oracle: logits of ±1e4 and -inf, scales from 1e-30 to 1e30 (1e-15 to 1e15 in float32, where
torch's own Normal.log_prob squares the scale), empty batches, k = 1, temperatures down to
1e-6. Every value is finite where the exact answer is, and so is every gradient."""

import math
from contextlib import contextmanager

import hypothesis.strategies as st
import torch
from hypothesis import assume, given, settings
from torch import Tensor, nn
from torch.distributions import (
    Beta,
    Categorical,
    Dirichlet,
    Distribution,
    Gamma,
    Independent,
    Normal,
    OneHotCategorical,
    TransformedDistribution,
)

import reparam as rp
from reparam.conjugate import NormalNormal
from reparam.estimators import (
    GeneralizedReparam,
    GumbelSoftmax,
    LeaveOneOut,
    MovingAverage,
    names,
    parse,
)
from reparam.objectives import elbo, iwae, iwae_bound

INF = math.inf
NEEDS_TWO = ("score+leave-one-out", "score+optimal")
EXPONENTS = {torch.float64: 30, torch.float32: 15}


def examples(ci: int) -> int:
    """``ci`` examples under the CI profile (40 by default), as many more under a longer one."""
    return max(1, ci * settings.default.max_examples // 40)


dtypes = st.sampled_from([torch.float64, torch.float32])
batches = st.sampled_from([0, 1, 3])


def finite(value: Tensor, leaves: list[Tensor]) -> None:
    """The value is finite, and so are its gradients in ``leaves`` (0 where unused)."""
    assert torch.isfinite(value).all(), value
    if value.requires_grad:
        grads = torch.autograd.grad(value.sum(), leaves, allow_unused=True)
        for grad in grads:
            assert grad is None or torch.isfinite(grad).all(), grad


def with_decades(draw, dtype: torch.dtype, shape: tuple[int, ...]) -> Tensor:
    """Positive numbers 10^e, e uniform over the dtype's range for scales."""
    top = EXPONENTS[dtype]
    exponent = draw(st.integers(-top, top))
    return torch.full(shape, 10.0**exponent, dtype=dtype)


def logits_of(draw, dtype: torch.dtype, batch: int, classes: int = 4) -> Tensor:
    """Rows of logits from {-inf, ±1e4, N(0, 1) values}, at least one finite per row."""
    choices = st.sampled_from([-INF, -1e4, 1e4, 0.0, 0.7, -2.3])
    rows = [draw(st.lists(choices, min_size=classes, max_size=classes)) for _ in range(batch)]
    for row in rows:
        if all(x == -INF for x in row):
            row[0] = 0.0
    return torch.tensor(rows, dtype=dtype).reshape(batch, classes).requires_grad_()


@contextmanager
def unchecked():
    """torch's OneHotCategorical checks its inner Categorical whatever validate_args says, and
    the simplex check fails on an empty batch."""
    default = Distribution._validate_args
    Distribution.set_default_validate_args(False)
    try:
        yield
    finally:
        Distribution.set_default_validate_args(default)


def call(spec: str, f, q: Distribution, n: int, temperature: Tensor | None = None) -> Tensor:
    """``expect`` with the estimator of ``spec``, the Gumbel ones with a learned temperature;
    a stateful one is called twice, so its baseline is used."""
    if spec in ("gumbel-softmax", "st-gumbel"):
        estimator = GumbelSoftmax(temperature, hard=spec == "st-gumbel")
    else:
        estimator = parse(spec)
    if estimator.stateful:
        rp.expect(f, q, n=n, estimator=estimator)
    return rp.expect(f, q, n=n, estimator=estimator)


@settings(max_examples=examples(30))
@given(
    data=st.data(),
    dtype=dtypes,
    batch=batches,
    n=st.sampled_from([1, 2, 5]),
    spec=st.sampled_from(names("elbo", "continuous")),
)
def test_expect_on_gaussians_of_any_scale(data, dtype, batch, n, spec) -> None:
    assume(n >= 2 or spec not in NEEDS_TWO)
    scale = with_decades(data.draw, dtype, (batch, 2)).requires_grad_()
    loc = (torch.tensor(data.draw(st.sampled_from([0.0, 1e4, -1e4])), dtype=dtype) * scale).detach()
    loc.requires_grad_()
    q = Independent(Normal(loc, scale), 1)
    finite(call(spec, lambda z: torch.tanh(z / scale.detach()).sum(-1), q, n), [loc, scale])


@settings(max_examples=examples(20))
@given(
    data=st.data(),
    batch=batches,
    n=st.sampled_from([1, 2, 5]),
    spec=st.sampled_from(names("elbo", "gamma")),
)
def test_expect_on_gammas_of_any_rate(data, batch, n, spec) -> None:
    assume(n >= 2 or spec not in NEEDS_TWO)
    concentration = torch.full((batch,), data.draw(st.sampled_from([0.1, 1.0, 30.0, 1e3])))
    concentration = concentration.double().requires_grad_()
    rate = with_decades(data.draw, torch.float64, (batch,)).requires_grad_()
    q = Gamma(concentration, rate)
    finite(call(spec, lambda z: torch.log(z * rate.detach()), q, n), [concentration, rate])


@settings(max_examples=examples(40))
@given(
    data=st.data(),
    dtype=dtypes,
    batch=batches,
    n=st.sampled_from([1, 2, 4]),
    latent=st.sampled_from(["finite", "discrete"]),
    temperature=st.sampled_from([1e-6, 1e-3, 0.5, 10.0]),
)
def test_expect_on_categoricals_with_impossible_and_extreme_logits(
    data, dtype, batch, n, latent, temperature
) -> None:
    spec = data.draw(st.sampled_from(names("elbo", latent)))
    assume(n >= 2 or spec not in NEEDS_TWO)
    logits = logits_of(data.draw, dtype, batch * 2).reshape(batch, 2, 4).detach().requires_grad_()
    tau = nn.Parameter(torch.tensor(temperature, dtype=dtype))
    index = torch.arange(4, dtype=dtype)
    with unchecked():
        if latent == "finite":
            q = OneHotCategorical(logits=logits[:, 0])
            f = lambda z: (z * index).sum(-1)  # noqa: E731
        else:
            q = Independent(OneHotCategorical(logits=logits), 1)
            f = lambda z: ((z * index).sum(-1) - 1.5).pow(2).sum(-1)  # noqa: E731
        finite(call(spec, f, q, n, tau), [logits, tau])


@settings(max_examples=examples(15))
@given(data=st.data(), batch=batches, n=st.sampled_from([1, 3]), family=st.sampled_from("BD"))
def test_generalized_reparam_on_beta_and_dirichlet(data, batch, n, family) -> None:
    shape = (batch, 3) if family == "D" else (batch,)
    alpha = torch.full(
        shape, data.draw(st.sampled_from([0.1, 1.0, 50.0, 1e3])), dtype=torch.float64
    )
    alpha.requires_grad_()
    with unchecked():
        if family == "D":
            q, f = Dirichlet(alpha), (lambda z: z[..., 0])
        else:
            q, f = Beta(alpha, alpha.flip(0) + 1), (lambda z: z)
        finite(rp.expect(f, q, n=n, estimator=GeneralizedReparam()), [alpha])


values = st.sampled_from([-INF, -1e30, -1e4, -1.0, 0.0, 2.5, 1e4, 1e30])


@settings(max_examples=examples(40))
@given(k=st.integers(1, 5), batch=st.integers(0, 3), dtype=dtypes, data=st.data())
def test_iwae_bound_of_any_log_weights(k, batch, dtype, data) -> None:
    raw = data.draw(st.lists(values, min_size=k * batch, max_size=k * batch))
    log_w = torch.tensor(raw, dtype=dtype).reshape(k, batch).requires_grad_()
    bound = iwae_bound(log_w)
    exact = torch.logsumexp(log_w.detach().double(), 0) - math.log(k)
    torch.testing.assert_close(bound.detach().double(), exact, rtol=1e-6, atol=0)
    (grad,) = torch.autograd.grad(bound.sum(), log_w)
    assert torch.isfinite(grad).all()
    live = torch.isfinite(bound)
    assert (grad[:, ~live] == 0).all()
    # Σ w̃ = 1, to the rounding of the log-sum-exp (torch's backward is exp(ℓ − lse))
    moderate = live & (bound.abs() < 1e3)
    torch.testing.assert_close(grad.sum(0)[moderate], torch.ones_like(bound)[moderate])


@settings(max_examples=examples(30))
@given(
    data=st.data(),
    dtype=dtypes,
    batch=batches,
    k=st.sampled_from([1, 2, 6]),
    spec=st.sampled_from(names("iwae", "continuous")),
    zero_region=st.booleans(),
)
def test_bound_estimators_on_gaussians_of_any_scale(data, dtype, batch, k, spec, zero_region):
    """q = N(loc, s²), p(x, z) = N(z; 0, s²) (or 0 above the origin), s at any scale: the
    log-weights are O(1) however large or small s, and the bound is finite unless all k
    samples of a data point fall where p = 0."""
    assume(k >= 2 or spec != "vimco")
    scale = with_decades(data.draw, dtype, (batch,))
    loc = (scale * data.draw(st.sampled_from([0.0, 0.5, -2.0]))).requires_grad_()
    scale.requires_grad_()

    def log_joint(z: Tensor) -> Tensor:
        log_p = Normal(0.0, scale.detach()).log_prob(z)
        return torch.where(z > 0, -INF, log_p) if zero_region else log_p

    value = iwae(log_joint, Normal(loc, scale), k, spec)
    live = torch.isfinite(value)
    assert (live | torch.isneginf(value)).all() and (zero_region or live.all())
    loc_grad, scale_grad = torch.autograd.grad(value[live].sum() + value[~live].sum(), [loc, scale])
    assert torch.isfinite(loc_grad).all() and torch.isfinite(scale_grad).all()
    assert (loc_grad[~live] == 0).all()


@settings(max_examples=examples(30))
@given(data=st.data(), dtype=dtypes, batch=batches, k=st.sampled_from([2, 3, 8]))
def test_vimco_on_categoricals_with_zero_weights(data, dtype, batch, k) -> None:
    logits = logits_of(data.draw, dtype, batch)
    table = torch.tensor(
        data.draw(st.lists(st.sampled_from([-INF, -1e4, -1.0, 0.0, 1e4]), min_size=4, max_size=4)),
        dtype=dtype,
    )
    value = iwae(lambda z: table[z], Categorical(logits=logits, validate_args=False), k, "vimco")
    assert (torch.isfinite(value) | torch.isneginf(value)).all()
    (grad,) = torch.autograd.grad(value.sum(), logits)
    assert torch.isfinite(grad).all()
    assert (grad[torch.isneginf(value)] == 0).all()


@settings(max_examples=examples(25))
@given(
    data=st.data(),
    batch=batches,
    k=st.sampled_from([1, 3]),
    beta=st.sampled_from([0.0, 0.5, 1.0, 4.0]),
    family=st.sampled_from(["normal", "categorical", "flow"]),
)
def test_elbo_of_extreme_posteriors(data, batch, k, beta, family) -> None:
    if family == "categorical":
        logits = logits_of(data.draw, torch.float64, batch * 3).reshape(batch, 3, 4)
        logits = logits.detach().requires_grad_()
        with unchecked():
            q = Independent(OneHotCategorical(logits=logits), 1)
        prior = Independent(OneHotCategorical(logits=torch.zeros(3, 4, dtype=torch.float64)), 1)
        leaves = [logits]
        likelihood = lambda z: -(z[..., 0] ** 2).sum(-1)  # noqa: E731
    else:
        scale = with_decades(data.draw, torch.float64, (batch,)).requires_grad_()
        loc = torch.zeros(batch, dtype=torch.float64, requires_grad=True)
        q = Normal(loc, scale)
        if family == "flow":  # no closed-form KL: estimated inside the expectation
            q = TransformedDistribution(q, [])
        prior = Normal(torch.tensor(0.0, dtype=torch.float64), scale.detach())
        leaves = [loc, scale]
        likelihood = lambda z: torch.tanh(z / scale.detach())  # noqa: E731
    finite(elbo(likelihood, q, prior, k=k, beta=beta), leaves)


@settings(max_examples=examples(25))
@given(
    n=st.integers(1, 5),
    batch=batches,
    magnitude=st.sampled_from([0.0, 1.0, 1e4, 1e30]),
    decay=st.sampled_from([0.0, 0.5, 0.99]),
)
def test_baselines_of_extreme_and_empty_costs(n, batch, magnitude, decay) -> None:
    cost = torch.randn(n, batch, dtype=torch.float64) * magnitude
    average = MovingAverage(decay)
    for _ in range(3):
        assert torch.isfinite(average(cost, cost, None)).all()
    assert torch.isfinite(average.average)
    if n >= 2:
        assert torch.isfinite(LeaveOneOut()(cost, cost, None)).all()


@settings(max_examples=examples(30))
@given(
    dtype=dtypes,
    data=st.data(),
    n=st.integers(0, 4),
    mean=st.sampled_from([0.0, 1.0, -1e4]),
)
def test_normal_normal_at_any_scales(dtype, data, n, mean) -> None:
    """Data drawn from the model itself, y = μ₀ + τ₀ u₀ + σ u_i: every standardized residual
    is O(1), so the posterior, the log marginal and its gradient are finite however far apart
    τ₀ and σ are."""
    top = EXPONENTS[dtype]
    tau = 10.0 ** data.draw(st.integers(-top, top))
    sigma = 10.0 ** data.draw(st.integers(-top, top))
    model = NormalNormal(prior_mean=mean, prior_std=tau, noise_std=sigma)
    u = torch.randn(n + 1, dtype=torch.float64)
    y = (mean + tau * u[0] + sigma * u[1:]).to(dtype).requires_grad_()
    posterior = model.posterior(y)
    assert torch.isfinite(posterior.mean) and posterior.stddev > 0
    finite(model.log_marginal(y), [y])
    finite(model.elbo(posterior, y), [y])

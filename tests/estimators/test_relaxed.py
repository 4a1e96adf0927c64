import math

import hypothesis.strategies as st
import pytest
import torch
from hypothesis import given, settings
from scipy.stats import chisquare
from torch.distributions import Bernoulli, Categorical, Normal, OneHotCategorical

import reparam as rp
from reparam.estimators import GumbelSoftmax, StraightThrough, gumbel_max
from reparam.estimators.relaxed import gumbel_noise, relaxed_one_hot

LOGITS = torch.tensor([0.0, 1.0, -1.0, 2.0, -3.0], dtype=torch.float64)


def test_gumbel_max_frequencies_match_softmax() -> None:
    draws = 200_000
    counts = torch.bincount(gumbel_max(LOGITS, (draws,)), minlength=5).double()
    expected = LOGITS.softmax(-1) * draws
    assert chisquare(counts.numpy(), expected.numpy()).pvalue > 1e-3
    # Power: the same counts are rejected against a wrong distribution.
    wrong = torch.full((5,), draws / 5.0, dtype=torch.float64)
    assert chisquare(counts.numpy(), wrong.numpy()).pvalue < 1e-6


def test_gumbel_max_shape() -> None:
    assert gumbel_max(torch.zeros(3, 7), (4, 2)).shape == (4, 2, 3)


def test_hard_gumbel_forward_is_one_hot_and_gradient_flows() -> None:
    logits = torch.zeros(6, 4, requires_grad=True)
    seen = []

    def f(y: torch.Tensor) -> torch.Tensor:
        seen.append(y.detach())
        return (y * torch.arange(4.0)).sum(-1)

    rp.expect(
        f, OneHotCategorical(logits=logits), n=5, estimator=GumbelSoftmax(0.5, hard=True)
    ).sum().backward()
    y = seen[0]
    assert set(y.unique().tolist()) <= {0.0, 1.0}
    torch.testing.assert_close(y.sum(-1), torch.ones(5, 6))
    assert logits.grad.abs().sum() > 0


def exact_mean(logits: torch.Tensor) -> float:
    return float((logits.softmax(-1) * torch.arange(5.0, dtype=logits.dtype) ** 2).sum())


def index_squared(y: torch.Tensor) -> torch.Tensor:
    return (y * torch.arange(5.0, dtype=y.dtype)).sum(-1) ** 2


@pytest.mark.parametrize(("temperature", "hard"), [(0.5, True), (0.02, False)])
def test_gumbel_value_estimates_the_discrete_expectation(temperature: float, hard: bool) -> None:
    """Hard samples are exact categorical draws; soft ones converge to them as τ → 0."""
    repeats = 50_000
    q = OneHotCategorical(logits=LOGITS.expand(repeats, 5))
    values = rp.expect(index_squared, q, n=1, estimator=GumbelSoftmax(temperature, hard=hard))
    se = values.std() / math.sqrt(repeats)
    assert abs(values.mean() - exact_mean(LOGITS)) < 5 * se


def test_soft_gumbel_at_high_temperature_is_biased() -> None:
    repeats = 50_000
    q = OneHotCategorical(logits=LOGITS.expand(repeats, 5))
    values = rp.expect(index_squared, q, n=1, estimator=GumbelSoftmax(2.0))
    se = values.std() / math.sqrt(repeats)
    assert abs(values.mean() - exact_mean(LOGITS)) > 5 * se


@settings(max_examples=60, deadline=None)
@given(
    scale=st.sampled_from([1.0, 1e2, 1e4, 3e4]),
    temperature=st.sampled_from([1e-6, 1e-3, 0.1, 1.0, 10.0]),
    masked=st.booleans(),
    hard=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_gumbel_softmax_is_finite_for_extreme_inputs(
    scale: float, temperature: float, masked: bool, hard: bool, seed: int
) -> None:
    generator = torch.Generator().manual_seed(seed)
    raw = torch.randn(8, 6, generator=generator) * scale
    if masked:
        raw[:, :3] = -math.inf
    logits = raw.requires_grad_()
    q = Categorical(logits=logits)
    value = rp.expect(
        lambda y: (y * torch.arange(6.0)).sum(-1) ** 2,
        q,
        n=3,
        estimator=GumbelSoftmax(temperature, hard=hard),
    )
    value.sum().backward()
    assert torch.isfinite(value).all()
    assert torch.isfinite(logits.grad).all()


def test_relaxed_one_hot_lies_on_the_simplex() -> None:
    y = relaxed_one_hot(torch.randn(3, 7), 0.3, torch.Size((4,)))
    assert y.shape == (4, 3, 7)
    assert (y >= 0).all()
    torch.testing.assert_close(y.sum(-1), torch.ones(4, 3))


def test_straight_through_bernoulli_forward_hard_backward_identity() -> None:
    probs = torch.tensor([0.2, 0.7, 0.5], requires_grad=True)
    seen = []

    def f(z: torch.Tensor) -> torch.Tensor:
        seen.append(z.detach())
        return 3 * z

    rp.expect(f, Bernoulli(probs=probs), n=10, estimator=StraightThrough()).sum().backward()
    assert set(seen[0].unique().tolist()) <= {0.0, 1.0}
    torch.testing.assert_close(probs.grad, torch.full((3,), 3.0))


def test_straight_through_categorical_gives_one_hot() -> None:
    logits = torch.zeros(2, 3, requires_grad=True)
    seen = []

    def f(z: torch.Tensor) -> torch.Tensor:
        seen.append(z.detach())
        return z[..., 0]

    rp.expect(f, Categorical(logits=logits), n=4, estimator="straight-through").sum().backward()
    torch.testing.assert_close(seen[0].sum(-1), torch.ones(4, 2))
    assert set(seen[0].unique().tolist()) <= {0.0, 1.0}
    assert logits.grad.abs().sum() > 0


def test_relaxed_estimators_refuse_other_distributions() -> None:
    q = Normal(torch.zeros(2), 1.0)
    with pytest.raises(ValueError, match="Categorical or OneHotCategorical"):
        rp.expect(lambda z: z, q, estimator="gumbel-softmax")
    with pytest.raises(ValueError, match="Bernoulli, Categorical or OneHotCategorical"):
        rp.expect(lambda z: z, q, estimator="straight-through")
    with pytest.raises(ValueError, match="temperature must be positive"):
        GumbelSoftmax(0.0)


@pytest.mark.parametrize("edge", [0.0, 1.0])
def test_gumbel_noise_is_finite_at_the_edges_of_the_uniform(monkeypatch, edge: float) -> None:
    """u = 0 or u = 1 exactly (possible in float32) must not give ±inf noise."""
    monkeypatch.setattr(torch, "rand", lambda *shape, **kw: torch.full(shape[0], edge, **kw))
    assert torch.isfinite(gumbel_noise((4, 3), torch.zeros(1))).all()


@pytest.mark.parametrize("estimator", ["gumbel-softmax", "straight-through", "score"])
def test_independent_latent_vectors_get_one_cost_per_sample(estimator: str) -> None:
    """20 categorical codes of 10 classes per data point: f sees [n, B, 20, 10], returns [n, B]."""
    logits = torch.zeros(3, 20, 10, requires_grad=True)
    q = torch.distributions.Independent(OneHotCategorical(logits=logits), 1)
    value = rp.expect(lambda y: (y * torch.arange(10.0)).sum((-1, -2)), q, n=4, estimator=estimator)
    assert value.shape == (3,)
    value.sum().backward()
    assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0

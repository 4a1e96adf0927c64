"""The straight-through Gumbel-softmax that scores the relaxed sample (Pyro's
RelaxedOneHotCategoricalStraightThrough): one-hot values, the soft sample's gradient, the
Concrete density at the soft sample, and the ELBO's gradient against the relaxed objective's."""

import math

import pytest
import torch
from torch.distributions import Independent, OneHotCategorical, RelaxedOneHotCategorical

import reparam as rp
from reparam.estimators import GumbelSoftmax, parse
from reparam.estimators.relaxed import RelaxedOneHotCategoricalStraightThrough, relaxed_one_hot


def test_rsample_is_one_hot_with_the_soft_samples_gradient() -> None:
    logits = torch.randn(4, 5, dtype=torch.float64, requires_grad=True)
    weights = torch.randn(5, dtype=torch.float64)
    q = RelaxedOneHotCategoricalStraightThrough(torch.tensor(0.7), logits=logits)
    torch.manual_seed(3)
    z = q.rsample((6,))
    assert set(z.detach().unique().tolist()) <= {0.0, 1.0}
    torch.testing.assert_close(z.detach().sum(-1), torch.ones(6, 4, dtype=torch.float64))
    torch.testing.assert_close(z.detach().argmax(-1), z._unquantize.detach().argmax(-1))
    (grad,) = torch.autograd.grad((z * weights).sum(), logits, retain_graph=True)
    # the same noise, relaxed: the soft sample's gradient
    torch.manual_seed(3)
    soft = relaxed_one_hot(q.logits, q.temperature, torch.Size((6,)))
    torch.testing.assert_close(soft, z._unquantize)
    (expected,) = torch.autograd.grad((soft * weights).sum(), logits)
    torch.testing.assert_close(grad, expected, rtol=1e-12, atol=1e-12)


def test_log_prob_is_the_concrete_density_at_the_soft_sample() -> None:
    logits = torch.tensor([[0.3, -1.2, 2.0], [0.0, 0.5, -0.5]], dtype=torch.float64)
    tau = torch.tensor(0.6, dtype=torch.float64)
    q = RelaxedOneHotCategoricalStraightThrough(tau, logits=logits)
    z = q.rsample((7,))
    concrete = RelaxedOneHotCategorical(tau, logits=logits)
    torch.testing.assert_close(q.log_prob(z), concrete.log_prob(z._unquantize))
    # a value without a soft sample is scored as it is
    y = concrete.sample((3,))
    torch.testing.assert_close(q.log_prob(y), concrete.log_prob(y))


def test_the_estimator_hands_f_the_one_hot_carrying_the_soft_sample() -> None:
    logits = torch.zeros(3, 4, requires_grad=True)
    estimator = GumbelSoftmax(0.5, hard=True, score="relaxed")
    seen = []

    def f(z: torch.Tensor) -> torch.Tensor:
        seen.append(z)
        return estimator.relax(OneHotCategorical(logits=logits)).log_prob(z)

    value = rp.expect(f, OneHotCategorical(logits=logits), n=2, estimator=estimator)
    z = seen[0]
    assert set(z.detach().unique().tolist()) <= {0.0, 1.0}
    concrete = RelaxedOneHotCategorical(torch.tensor(0.5), logits=logits)
    torch.testing.assert_close(value, concrete.log_prob(z._unquantize).mean(0))
    value.sum().backward()
    assert torch.isfinite(logits.grad).all()


def test_relax_keeps_independent_wrappers_and_the_vocabulary_names_it() -> None:
    estimator = parse("st-gumbel-relaxed")
    assert (estimator.hard, estimator.score) == (True, "relaxed")
    q = Independent(OneHotCategorical(logits=torch.zeros(2, 5, 3)), 1)
    relaxed = estimator.relax(q)
    assert isinstance(relaxed, Independent)
    assert isinstance(relaxed.base_dist, RelaxedOneHotCategoricalStraightThrough)
    assert relaxed.batch_shape == q.batch_shape and relaxed.event_shape == q.event_shape
    soft = GumbelSoftmax(0.5, score="relaxed").relax(q.base_dist)
    assert type(soft) is RelaxedOneHotCategorical


def test_score_must_be_discrete_or_relaxed() -> None:
    with pytest.raises(ValueError, match="score must be one of discrete, relaxed; got 'soft'"):
        GumbelSoftmax(score="soft")


def binary_relaxed_terms(
    logits: torch.Tensor, prior: torch.Tensor, tau: float, weights: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""E_g[w·y] and KL(q_τ ‖ p_τ) = E_g[log q_τ(y) − log p_τ(y)] for K = 2 by quadrature:
    y = softmax((l + g)/τ) depends on g only through L = g₁ − g₀ ~ Logistic(0, 1), so each is
    a 1-d integral over L, here by the trapezoid rule on [−36, 36] (the logistic tails beyond
    weigh 2e−16)."""
    grid = torch.linspace(-36.0, 36.0, 200_001, dtype=torch.float64)
    density = torch.sigmoid(grid) * torch.sigmoid(-grid)
    noise = torch.stack([torch.zeros_like(grid), grid], -1)
    y = torch.softmax((logits + noise) / tau, -1)
    t = torch.tensor(tau, dtype=torch.float64)
    log_ratio = RelaxedOneHotCategorical(t, logits=logits).log_prob(y) - RelaxedOneHotCategorical(
        t, logits=prior
    ).log_prob(y)
    mean = torch.trapezoid((y * weights).sum(-1) * density, grid)
    return mean, torch.trapezoid(log_ratio * density, grid)


def test_the_elbo_gradient_is_unbiased_for_the_relaxed_objective() -> None:
    """With a likelihood w·z linear in z, the straight-through gradient of E[w·z] is the
    relaxed one, so the ELBO's gradient with score="relaxed" has the mean ∇J of the relaxed
    objective J = E[w·y] − KL(q_τ ‖ p_τ); its value estimates w·π − KL(q_τ ‖ p_τ) (the
    likelihood sees the one-hot z). Both within 5 standard errors on 40 000 draws."""
    tau, draws = 0.5, 40_000
    start = torch.tensor([0.4, -0.3], dtype=torch.float64)
    prior_logits = torch.tensor([1.5, -1.5], dtype=torch.float64)
    weights = torch.tensor([1.5, -0.5], dtype=torch.float64)
    logits = start.repeat(draws, 1).requires_grad_()
    torch.manual_seed(0)
    value = rp.objectives.elbo(
        lambda z: (z * weights).sum(-1),
        OneHotCategorical(logits=logits),
        OneHotCategorical(logits=prior_logits),
        estimator=GumbelSoftmax(tau, hard=True, score="relaxed"),
    )
    value.sum().backward()
    grads, value = logits.grad, value.detach()
    exact_logits = start.clone().requires_grad_()
    relaxed_mean, relaxed_kl = binary_relaxed_terms(exact_logits, prior_logits, tau, weights)
    (exact,) = torch.autograd.grad(relaxed_mean - relaxed_kl, exact_logits)
    se = grads.std(0) / math.sqrt(draws)
    assert ((grads.mean(0) - exact).abs() < 5 * se).all(), (grads.mean(0), exact, se)
    expected = float((start.softmax(-1) * weights).sum() - relaxed_kl.detach())
    assert abs(float(value.mean()) - expected) < 5 * float(value.std()) / math.sqrt(draws)
    # the discrete score's ELBO differs: its KL is the categorical one
    discrete = rp.objectives.elbo(
        lambda z: (z * weights).sum(-1),
        OneHotCategorical(logits=start),
        OneHotCategorical(logits=prior_logits),
        estimator=GumbelSoftmax(tau, hard=True),
        k=draws,
    )
    assert float(discrete) - expected > 0.3  # KL 0.41 against the relaxed 0.81

import itertools
import math

import pytest
import torch
from torch.distributions import Categorical, Independent, Normal, OneHotCategorical

from reparam.conjugate import NormalNormal
from reparam.estimators import (
    VIMCO,
    AutoBound,
    BoundEstimator,
    DReG,
    Pathwise,
    PathwiseBound,
    parse,
)
from reparam.objectives import KLAnnealing, analytic_kl, elbo, iwae, iwae_bound

MODEL = NormalNormal(prior_mean=0.0, prior_std=1.0, noise_std=0.7)
Y = torch.tensor([0.9, 1.4, 0.3], dtype=torch.float64)
LOG_P = float(MODEL.log_marginal(Y))


def log_joint(theta: torch.Tensor) -> torch.Tensor:
    return MODEL.log_joint(theta, Y, dim=-1)


def test_iwae_bound_is_stable_and_exact_for_equal_weights() -> None:
    log_w = torch.full((7, 3), -1e5, dtype=torch.float64)
    torch.testing.assert_close(iwae_bound(log_w), torch.full((3,), -1e5, dtype=torch.float64))
    assert torch.isfinite(iwae_bound(torch.tensor([[1e4], [-1e4]]))).all()


@pytest.mark.parametrize("estimator", ["pathwise", "dreg"])
def test_exact_posterior_gives_log_marginal_for_every_k(estimator: str) -> None:
    posterior = MODEL.posterior(Y)
    for k in (1, 5, 50):
        value = iwae(log_joint, posterior, k, estimator)
        torch.testing.assert_close(value, torch.tensor(LOG_P, dtype=torch.float64))


def test_bounds_tighten_with_k_towards_log_marginal() -> None:
    """L_1 ≤ L_5 ≤ L_50 ≤ log p(y), with the prior as a poor q (means over 4000 repeats)."""
    q = Normal(torch.zeros(4000, dtype=torch.float64), 1.0)
    bounds = {k: iwae(log_joint, q, k) for k in (1, 5, 50, 5000)}
    means = {k: float(b.mean()) for k, b in bounds.items()}
    ses = {k: float(b.std()) / math.sqrt(4000) for k, b in bounds.items()}
    for small, large in [(1, 5), (5, 50)]:
        assert means[small] + 5 * ses[small] < means[large]
    assert means[50] < LOG_P
    assert abs(means[5000] - LOG_P) < 5 * ses[5000] + 0.01


def replicated_gradients(estimator: str, k: int, repeats: int = 20_000) -> dict[str, torch.Tensor]:
    """R independent gradient estimates of L_k w.r.t. q's mean (encoder) and the prior mean (decoder)."""
    loc = torch.full((repeats,), 0.3, dtype=torch.float64, requires_grad=True)
    prior_mean = torch.zeros(repeats, dtype=torch.float64, requires_grad=True)

    def joint(theta: torch.Tensor) -> torch.Tensor:
        prior = Normal(prior_mean, 1.0).log_prob(theta)
        return prior + Normal(theta.unsqueeze(-1), 0.7).log_prob(Y).sum(-1)

    value = iwae(joint, Normal(loc, 0.8), k, estimator)
    encoder, decoder = torch.autograd.grad(value.sum(), [loc, prior_mean])
    return {"encoder": encoder, "decoder": decoder}


def test_dreg_and_pathwise_agree_in_expectation_and_dreg_is_quieter() -> None:
    plain = replicated_gradients("pathwise", k=20)
    dreg = replicated_gradients("dreg", k=20)
    for part in ("encoder", "decoder"):
        diff = plain[part].mean() - dreg[part].mean()
        se = math.sqrt((plain[part].var() + dreg[part].var()) / len(plain[part]))
        assert abs(float(diff)) < 5 * se, part
    assert dreg["encoder"].var() < 0.5 * plain["encoder"].var()


def test_vimco_is_unbiased_against_enumeration() -> None:
    """k = 2 draws from a 3-way categorical: E[log mean w] has 9 terms, exactly."""
    logits0 = torch.tensor([0.2, -0.5, 1.0], dtype=torch.float64)
    table = torch.tensor([-1.0, -2.5, -0.3], dtype=torch.float64)  # log p(x, z) per class

    def exact(logits: torch.Tensor) -> torch.Tensor:
        log_q = torch.log_softmax(logits, -1)
        total = 0
        for i, j in itertools.product(range(3), repeat=2):
            w = torch.stack([table[i] - log_q[i], table[j] - log_q[j]])
            total = total + log_q[i].exp() * log_q[j].exp() * iwae_bound(w)
        return total

    leaf = logits0.clone().requires_grad_()
    (truth,) = torch.autograd.grad(exact(leaf), leaf)
    repeats = 40_000
    logits = logits0.expand(repeats, 3).clone().requires_grad_()
    q = Categorical(logits=logits)
    value = iwae(lambda z: table[z], q, 2, "vimco")
    (grads,) = torch.autograd.grad(value.sum(), logits)
    se = grads.std(0) / math.sqrt(repeats)
    assert ((grads.mean(0) - truth).abs() < 5 * se).all()
    value = value.detach()
    assert abs(float(value.mean()) - float(exact(logits0))) < 5 * float(value.std()) / math.sqrt(
        repeats
    )


def test_elbo_analytic_and_monte_carlo_kl_agree() -> None:
    posterior = MODEL.posterior(Y)
    q = Normal(posterior.mean + 0.2, posterior.stddev * 1.3)
    prior = MODEL.prior(Y)

    def likelihood(theta: torch.Tensor) -> torch.Tensor:
        return Normal(theta.unsqueeze(-1), 0.7).log_prob(Y).sum(-1)

    expected = float(MODEL.elbo(q, Y))
    analytic = elbo(likelihood, q, prior, k=200_000)
    assert abs(float(analytic) - expected) < 0.01
    flow_like = torch.distributions.TransformedDistribution(
        Normal(posterior.mean + 0.2, posterior.stddev * 1.3), []
    )
    monte_carlo = elbo(likelihood, flow_like, prior, k=200_000)
    assert abs(float(monte_carlo) - expected) < 0.02


def test_elbo_takes_relaxed_estimators_with_the_analytic_kl() -> None:
    logits = torch.zeros(4, 20, 10, requires_grad=True)
    q = Independent(OneHotCategorical(logits=logits), 1)
    prior = Independent(OneHotCategorical(logits=torch.zeros(20, 10)), 1)
    value = elbo(lambda y: -(y[..., 0] ** 2).sum(-1), q, prior, k=3, estimator="gumbel-softmax")
    assert value.shape == (4,)
    value.sum().backward()
    assert torch.isfinite(logits.grad).all()


def test_kl_annealing_and_bad_estimators() -> None:
    schedule = KLAnnealing(warmup=10, beta=2.0)
    assert [schedule(t) for t in (0, 5, 10, 20)] == [0.0, 1.0, 2.0, 2.0]
    sigmoid = KLAnnealing(warmup=1000, beta=2.0, shape="sigmoid")
    values = [sigmoid(t) for t in range(0, 3000, 50)]
    assert all(a < b for a, b in itertools.pairwise(values))  # rises throughout
    assert sigmoid(500) == 1.0 and values[0] < 0.02 and 1.98 < sigmoid(1000) < 2.0
    assert KLAnnealing(warmup=0, beta=0.5, shape="sigmoid")(7) == 0.5
    with pytest.raises(ValueError, match="warmup must be an integer >= 0, got -1"):
        KLAnnealing(warmup=-1)
    q = Normal(torch.zeros(3), 1.0)
    with pytest.raises(ValueError, match=r"use reparam\.objectives\.elbo"):
        iwae(lambda z: z, q, 5, "score")
    with pytest.raises(ValueError, match="estimator='vimco'"):
        iwae(lambda z: z.float(), Categorical(logits=torch.zeros(3, 4)), 5, "pathwise")
    with pytest.raises(ValueError, match="Gaussian posterior"):
        iwae(lambda z: z, torch.distributions.Gamma(torch.ones(3), 1.0), 5, "dreg")
    with pytest.raises(ValueError, match="k >= 2"):
        iwae(lambda z: z.float(), Categorical(logits=torch.zeros(3, 4)), 1, "vimco")
    with pytest.raises(ValueError, match=r"shape \(k, \*q.batch_shape\)"):
        iwae(lambda z: z.sum(0), q, 5)


BOUND_CASES = [
    ("auto", Normal, AutoBound),
    ("auto", Categorical, AutoBound),
    ("pathwise", Normal, PathwiseBound),
    ("dreg", Normal, DReG),
    ("vimco", Categorical, VIMCO),
    ("vimco", Normal, VIMCO),
]


def bound_problem(family: type) -> tuple:
    """log p(x, z), q and the leaf tensor q's parameters come from."""
    if family is Normal:
        loc = torch.zeros(3, requires_grad=True)
        return (lambda z: Normal(0.5, 1.0).log_prob(z)), Normal(loc, 1.0), loc
    logits = torch.zeros(3, 4, requires_grad=True)
    return (lambda z: -z.float()), Categorical(logits=logits), logits


@pytest.mark.parametrize(("spec", "family", "kind"), BOUND_CASES)
def test_iwae_dispatches_to_every_bound_estimator(spec: str, family: type, kind: type) -> None:
    """A spec and the object it parses to give the same bound and gradient on the same draws."""
    estimator = parse(spec, objective="iwae")
    assert isinstance(estimator, kind)
    results = []
    for chosen in (spec, estimator):
        joint, q, leaf = bound_problem(family)
        torch.manual_seed(0)
        value = iwae(joint, q, 4, chosen)
        (grad,) = torch.autograd.grad(value.sum(), [leaf])
        results.append((value.detach(), grad))
    assert results[0][0].shape == (3,)
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_iwae_calls_the_estimators_own_method() -> None:
    """Any BoundEstimator subclass plugs in: iwae calls its .iwae, no list of known ones."""

    class Halved(BoundEstimator):
        def iwae(self, log_joint, q, k):
            return 0.5 * PathwiseBound().iwae(log_joint, q, k)

    q = MODEL.posterior(Y)
    torch.testing.assert_close(
        iwae(log_joint, q, 3, Halved()), torch.tensor(LOG_P / 2, dtype=torch.float64)
    )


def test_iwae_refuses_per_sample_estimator_objects() -> None:
    q = Normal(torch.zeros(3), 1.0)
    with pytest.raises(ValueError, match=r"per-sample estimator.*reparam\.objectives\.elbo"):
        iwae(lambda z: z, q, 5, Pathwise())


@pytest.mark.parametrize("batch", [0, 4])
def test_elbo_with_impossible_categories_has_torch_s_kl_and_finite_gradients(batch: int) -> None:
    """torch's categorical KL has a NaN gradient for a logit of -inf (0 · log 0); the ELBO's is
    finite, with the same value; an empty batch of Independent latents gives an empty ELBO."""
    raw = torch.randn(batch, 3, 5, dtype=torch.float64)
    raw[..., 1] = -math.inf
    logits = raw.requires_grad_()
    default = torch.distributions.Distribution._validate_args
    torch.distributions.Distribution.set_default_validate_args(False)  # torch's empty-batch check
    try:
        q = Independent(OneHotCategorical(logits=logits), 1)
    finally:
        torch.distributions.Distribution.set_default_validate_args(default)
    prior = Independent(OneHotCategorical(logits=torch.zeros(3, 5, dtype=torch.float64)), 1)
    value = elbo(
        lambda y: -(y[..., 0] ** 2).sum(-1), q, prior, k=2, estimator="score+leave-one-out"
    )
    assert value.shape == (batch,)
    (grad,) = torch.autograd.grad(value.sum(), logits)
    assert torch.isfinite(value).all() and torch.isfinite(grad).all() and (grad[..., 1] == 0).all()
    if batch:
        torch.testing.assert_close(
            analytic_kl(q, prior), torch.distributions.kl_divergence(q, prior).detach()
        )

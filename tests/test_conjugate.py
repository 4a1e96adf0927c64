import math

import pytest
import torch
from torch.distributions import MultivariateNormal, Normal

import reparam as rp
from reparam.conjugate import NormalNormal

MODEL = NormalNormal(prior_mean=0.5, prior_std=2.0, noise_std=1.5)
Y = torch.tensor([1.3, 2.9, 0.4, 2.2, 1.7], dtype=torch.float64)


def test_posterior_matches_numerical_integration() -> None:
    theta = torch.linspace(-15, 15, 200_001, dtype=torch.float64)
    log_joint = MODEL.log_joint(theta, Y, dim=-1)
    weights = torch.softmax(log_joint, 0)
    mean = (weights * theta).sum()
    var = (weights * (theta - mean) ** 2).sum()
    posterior = MODEL.posterior(Y)
    torch.testing.assert_close(posterior.mean, mean, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(posterior.variance, var, rtol=1e-7, atol=1e-9)
    step = float(theta[1] - theta[0])
    log_evidence = torch.logsumexp(log_joint, 0) + math.log(step)
    torch.testing.assert_close(MODEL.log_marginal(Y), log_evidence, rtol=1e-9, atol=1e-9)


def test_log_marginal_matches_the_multivariate_normal() -> None:
    n = Y.shape[0]
    cov = 1.5**2 * torch.eye(n, dtype=torch.float64) + 2.0**2 * torch.ones(
        n, n, dtype=torch.float64
    )
    oracle = MultivariateNormal(torch.full((n,), 0.5, dtype=torch.float64), cov).log_prob(Y)
    torch.testing.assert_close(MODEL.log_marginal(Y), oracle)


def test_shrinkage_formulas() -> None:
    one = Y[:1]
    mu1 = MODEL.posterior(one).mean
    adjusted = 0.5 + (one[0] - 0.5) * 2.0**2 / (1.5**2 + 2.0**2)
    shrunk = one[0] - (one[0] - 0.5) * 1.5**2 / (1.5**2 + 2.0**2)
    torch.testing.assert_close(mu1, adjusted)
    torch.testing.assert_close(mu1, shrunk)
    b = MODEL.shrinkage(len(Y))
    torch.testing.assert_close(MODEL.posterior(Y).mean, 0.5 + (1 - b) * (Y.mean() - 0.5))
    assert MODEL.shrinkage(10**8) < 1e-7  # the data swamp the prior


def test_batched_observations_along_dim() -> None:
    y = torch.randn(6, 3, dtype=torch.float64)
    batched = MODEL.posterior(y).mean
    single = torch.stack([MODEL.posterior(y[:, i]).mean for i in range(3)])
    torch.testing.assert_close(batched, single)


def test_elbo_is_log_marginal_minus_kl() -> None:
    posterior = MODEL.posterior(Y)
    torch.testing.assert_close(MODEL.elbo(posterior, Y), MODEL.log_marginal(Y))
    q = Normal(torch.tensor(0.0, dtype=torch.float64), torch.tensor(0.3, dtype=torch.float64))
    kl = torch.distributions.kl_divergence(q, posterior)
    torch.testing.assert_close(MODEL.elbo(q, Y), MODEL.log_marginal(Y) - kl)


def test_variational_inference_with_expect_recovers_the_posterior() -> None:
    loc = torch.tensor(0.0, dtype=torch.float64, requires_grad=True)
    log_scale = torch.tensor(0.0, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.Adam([loc, log_scale], lr=0.05)
    schedule = torch.optim.lr_scheduler.StepLR(optimizer, step_size=500, gamma=0.2)
    for _ in range(2000):
        q = Normal(loc, log_scale.exp())
        loss = -(rp.expect(lambda t: MODEL.log_joint(t, Y, dim=-1), q, n=32) + q.entropy())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    kl = torch.distributions.kl_divergence(Normal(loc, log_scale.exp()), MODEL.posterior(Y))
    assert float(kl.detach()) < 1e-3


def test_rejects_non_positive_scales() -> None:
    with pytest.raises(ValueError, match=r"prior_std must be positive and finite; got 0\.0"):
        NormalNormal(prior_std=0.0)
    with pytest.raises(ValueError, match=r"noise_std must be positive and finite; got -1\.0"):
        NormalNormal(noise_std=-1.0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("scale", [1e-30, 1e-10, 1e10, 1e30])
def test_every_quantity_is_exact_at_extreme_scales(scale: float, dtype: torch.dtype) -> None:
    """Scaling the prior, the noise and the data by c scales the posterior by c and shifts
    the log marginal by −n log c; in float32 the squares of 1e±30 would overflow or vanish."""
    y = Y.to(dtype)
    model = NormalNormal(prior_mean=0.5 * scale, prior_std=2.0 * scale, noise_std=1.5 * scale)
    posterior = model.posterior(y * scale)
    exact = MODEL.posterior(Y)
    torch.testing.assert_close(posterior.mean.double() / scale, exact.mean)
    torch.testing.assert_close(posterior.stddev.double() / scale, exact.stddev)
    shift = len(Y) * math.log(scale)
    torch.testing.assert_close(
        model.log_marginal(y * scale).double() + shift, MODEL.log_marginal(Y), rtol=1e-5, atol=1e-5
    )
    torch.testing.assert_close(
        model.elbo(posterior, y * scale).double() + shift,
        MODEL.log_marginal(Y),
        rtol=1e-5,
        atol=1e-5,
    )
    theta = torch.tensor([0.3, 1.2], dtype=dtype)
    torch.testing.assert_close(
        model.log_joint(theta * scale, y * scale, dim=-1).double() + shift + math.log(scale),
        MODEL.log_joint(theta.double(), Y, dim=-1),
        rtol=1e-5,
        atol=1e-5,
    )


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_prior_and_noise_of_very_different_scales(dtype: torch.dtype) -> None:
    """τ₀ ≫ σ: the posterior is the data's, N(ȳ, σ²/n); τ₀ ≪ σ: it is the prior."""
    y = torch.tensor([1.0, 2.0], dtype=dtype)
    vague = NormalNormal(prior_mean=0.0, prior_std=1e30, noise_std=1.0).posterior(y)
    torch.testing.assert_close(vague.mean, torch.tensor(1.5, dtype=dtype))
    torch.testing.assert_close(vague.stddev, torch.tensor(math.sqrt(0.5), dtype=dtype))
    sharp = NormalNormal(prior_mean=0.25, prior_std=1e-30, noise_std=1e30).posterior(y)
    torch.testing.assert_close(sharp.mean, torch.tensor(0.25, dtype=dtype))
    torch.testing.assert_close(sharp.stddev, torch.tensor(1e-30, dtype=dtype))


def test_no_observations_give_the_prior() -> None:
    empty = Y[:0]
    posterior = MODEL.posterior(empty)
    assert float(posterior.mean) == 0.5 and float(posterior.stddev) == 2.0
    assert float(MODEL.log_marginal(empty)) == 0.0
    assert float(MODEL.shrinkage(0)) == 1.0
    q = Normal(torch.tensor(0.1, dtype=torch.float64), torch.tensor(0.4, dtype=torch.float64))
    kl = torch.distributions.kl_divergence(q, MODEL.prior(empty))
    torch.testing.assert_close(MODEL.elbo(q, empty), -kl)

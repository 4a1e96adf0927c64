"""Priors: the closed-form Normal KL against Monte Carlo and torch, per-replica parameters,
and the scale mixture's log-density and Monte Carlo KL against float64 / quadrature references.

Monte Carlo comparisons use a fixed seed and a 5-standard-error band, the standard error
computed from the per-sample KL terms themselves.
"""

import math

import mpmath
import numpy as np
import pytest
import torch
from scipy import integrate
from torch.distributions import Normal, kl_divergence

from reparam.bayes import NormalPrior, ScaleMixturePrior

Z = 5.0
N = 200_000


def f64(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


def one_sample_terms(prior, loc: torch.Tensor, scale: torch.Tensor, n: int) -> torch.Tensor:
    """n independent one-sample KL estimates per element, along a new last dimension (so the
    prior's per-replica parameters still index the leading dimensions)."""
    shape = (*loc.shape, n)
    q = Normal(loc.unsqueeze(-1).expand(shape), scale.unsqueeze(-1).expand(shape))
    return prior.kl_monte_carlo(q)


LOC = f64(-1.0, 0.0, 0.3, 2.0)
SCALE = f64(0.2, 1.0, 0.5, 3.0)


def test_normal_prior_docstring_values() -> None:
    q = Normal(f64(0.0, 1.0, 0.0), f64(1.0, 1.0, 2.0))
    expected = f64(0.0, 0.5, 0.5 * (4 - 1 - math.log(4)))
    torch.testing.assert_close(NormalPrior(1.0).kl(q), expected)


def test_normal_prior_kl_matches_torch() -> None:
    q = Normal(LOC, SCALE)
    for sigma in (0.1, 1.0, 2.5):
        expected = kl_divergence(q, Normal(torch.zeros_like(LOC), torch.full_like(LOC, sigma)))
        torch.testing.assert_close(NormalPrior(sigma).kl(q), expected, rtol=1e-12, atol=1e-12)


def test_normal_prior_log_prob_matches_torch() -> None:
    w = f64(-3.0, -0.1, 0.0, 0.7, 5.0)
    expected = Normal(f64(0.0), f64(1.7)).log_prob(w)
    torch.testing.assert_close(NormalPrior(1.7).log_prob(w), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("sigma", [0.5, 1.5])
def test_normal_prior_closed_form_kl_matches_monte_carlo(sigma: float) -> None:
    prior = NormalPrior(sigma)
    closed = prior.kl(Normal(LOC, SCALE))
    terms = one_sample_terms(prior, LOC, SCALE, N)
    se = terms.std(-1) / math.sqrt(N)
    assert ((terms.mean(-1) - closed).abs() < Z * se).all(), (terms.mean(-1), closed, se)
    # the `samples` argument averages that many draws: same mean, same standard error
    averaged = prior.kl_monte_carlo(Normal(LOC, SCALE), samples=N)
    assert averaged.shape == LOC.shape
    assert ((averaged - closed).abs() < Z * se).all(), (averaged, closed, se)


def test_monte_carlo_kl_detects_a_wrong_prior() -> None:
    """Negative control: the band above is narrow enough to tell sigma = 1.5 from 1.4."""
    terms = one_sample_terms(NormalPrior(1.5), LOC, SCALE, N)
    se = terms.std(-1) / math.sqrt(N)
    wrong = NormalPrior(1.4).kl(Normal(LOC, SCALE))
    assert ((terms.mean(-1) - wrong).abs() > Z * se).any()


SIGMAS = f64(0.5, 1.0, 2.0)


def test_per_replica_sigma_closed_form() -> None:
    """A sigma of the layer's batch_shape indexes the leading dimension of the weights."""
    loc = torch.randn(3, 2, 4, dtype=torch.float64)
    scale = torch.rand(3, 2, 4, dtype=torch.float64) + 0.1
    q = Normal(loc, scale)
    got = NormalPrior(SIGMAS).kl(q)
    assert got.shape == (3, 2, 4)
    expected = kl_divergence(q, Normal(torch.zeros_like(loc), SIGMAS.view(3, 1, 1).expand(3, 2, 4)))
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)
    for r, sigma in enumerate(SIGMAS.tolist()):
        replica = Normal(loc[r], scale[r])
        torch.testing.assert_close(got[r], NormalPrior(sigma).kl(replica), rtol=1e-12, atol=1e-12)
        w = loc[r]
        torch.testing.assert_close(
            NormalPrior(SIGMAS).log_prob(loc)[r], NormalPrior(sigma).log_prob(w)
        )


def test_per_replica_sigma_monte_carlo() -> None:
    """The Monte Carlo KL with per-replica sigmas, one draw per element and many draws
    (``samples``), agrees per replica with the closed form."""
    loc, scale = f64(0.3, -1.0, 2.0), f64(0.4, 1.0, 0.8)
    prior = NormalPrior(SIGMAS)
    closed = prior.kl(Normal(loc, scale))
    separate = torch.stack(
        [NormalPrior(s).kl(Normal(loc[r], scale[r])) for r, s in enumerate(SIGMAS.tolist())]
    )
    torch.testing.assert_close(closed, separate)
    terms = one_sample_terms(prior, loc, scale, N)
    assert terms.shape == (3, N)
    se = terms.std(-1) / math.sqrt(N)
    assert ((terms.mean(-1) - closed).abs() < Z * se).all(), (terms.mean(-1), closed, se)
    averaged = prior.kl_monte_carlo(Normal(loc, scale), samples=N)
    assert averaged.shape == (3,)
    assert ((averaged - closed).abs() < Z * se).all(), (averaged, closed, se)
    one = prior.kl_monte_carlo(Normal(loc, scale), samples=1)
    assert one.shape == (3,)


def direct_mixture_log_prob(w: float, pi: float, sigma1: float, sigma2: float) -> float:
    def density(sigma: float) -> float:
        return math.exp(-0.5 * (w / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))

    return math.log(pi * density(sigma1) + (1 - pi) * density(sigma2))


def exact_mixture_log_prob(w: float, pi: float, sigma1: float, sigma2: float) -> float:
    """The same in 50-digit arithmetic, whose exponent range has no underflow."""
    with mpmath.workdps(50):
        density = [mpmath.npdf(mpmath.mpf(w), 0, s) for s in (sigma1, sigma2)]
        return float(mpmath.log(pi * density[0] + (1 - pi) * density[1]))


MIXTURES = [(0.5, 1.0, math.exp(-6)), (0.25, math.exp(-1), math.exp(-8)), (0.9, 2.0, 0.5)]


@pytest.mark.parametrize(("pi", "sigma1", "sigma2"), MIXTURES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_scale_mixture_log_prob(pi: float, sigma1: float, sigma2: float, dtype) -> None:
    prior = ScaleMixturePrior(pi, sigma1, sigma2)
    moderate = [0.0, 1e-4, -3e-4, 2e-3, -0.01, 0.1, -0.5, 1.0, 3.0]
    got = prior.log_prob(torch.tensor(moderate, dtype=dtype))
    expected = f64(*(direct_mixture_log_prob(w, pi, sigma1, sigma2) for w in moderate))
    tolerance = 1e-12 if dtype == torch.float64 else 1e-5
    torch.testing.assert_close(got.double(), expected, rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize(("pi", "sigma1", "sigma2"), MIXTURES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_scale_mixture_log_prob_extreme_weights(pi, sigma1, sigma2, dtype) -> None:
    """At w = ±1e3 both densities underflow in float64; the log-density must stay finite,
    correct, and differentiable."""
    prior = ScaleMixturePrior(pi, sigma1, sigma2)
    extreme = [-1e3, 1e3, 50.0, -20.0]
    w = torch.tensor(extreme, dtype=dtype, requires_grad=True)
    got = prior.log_prob(w)
    assert torch.isfinite(got).all()
    (grad,) = torch.autograd.grad(got.sum(), w)
    assert torch.isfinite(grad).all()
    expected = f64(*(exact_mixture_log_prob(v, pi, sigma1, sigma2) for v in extreme))
    tolerance = 1e-12 if dtype == torch.float64 else 1e-6
    torch.testing.assert_close(got.detach().double(), expected, rtol=tolerance, atol=0)


def quadrature_kl(mu: float, s: float, pi: float, sigma1: float, sigma2: float) -> float:
    """KL(N(mu, s²) || mixture) by adaptive quadrature in float64."""

    def integrand(w: float) -> float:
        log_q = -0.5 * ((w - mu) / s) ** 2 - math.log(s) - 0.5 * math.log(2 * math.pi)
        log_p = np.logaddexp(
            math.log(pi) - 0.5 * (w / sigma1) ** 2 - math.log(sigma1),
            math.log1p(-pi) - 0.5 * (w / sigma2) ** 2 - math.log(sigma2),
        ) - 0.5 * math.log(2 * math.pi)
        return math.exp(log_q) * (log_q - log_p)

    lo, hi = mu - 12 * s, mu + 12 * s
    inner = [p for p in (-8 * sigma2, 0.0, 8 * sigma2) if lo < p < hi]
    value, error = integrate.quad(integrand, lo, hi, points=inner or None, limit=500)
    assert error < 1e-6  # negligible next to the Monte Carlo standard errors (>= 1e-4)
    return value


@pytest.mark.parametrize(
    ("mu", "s"), [(0.0, 1e-3), (2e-3, 5e-4), (0.3, 0.05), (-1.0, 0.5), (0.05, 0.2)]
)
def test_scale_mixture_monte_carlo_kl_is_unbiased(mu: float, s: float) -> None:
    pi, sigma1, sigma2 = 0.5, 1.0, math.exp(-6)
    prior = ScaleMixturePrior(pi, sigma1, sigma2)
    exact = quadrature_kl(mu, s, pi, sigma1, sigma2)
    terms = one_sample_terms(prior, f64(mu), f64(s), N)
    se = float(terms.std()) / math.sqrt(N)
    assert abs(float(terms.mean()) - exact) < Z * se, (float(terms.mean()), exact, se)
    # Prior.kl is the one-sample estimate
    single = prior.kl(Normal(f64(mu).expand(N), f64(s).expand(N)))
    assert abs(float(single.mean()) - exact) < Z * se, (float(single.mean()), exact, se)


def test_scale_mixture_per_replica_parameters() -> None:
    """Per-replica pi / sigmas: replica r's log-density and Monte Carlo KL are those of the
    mixture with replica r's parameters."""
    pis, sigma1s, sigma2s = f64(0.2, 0.5, 0.8), f64(1.0, 0.5, 2.0), f64(1e-3, 1e-2, 3e-3)
    prior = ScaleMixturePrior(pis, sigma1s, sigma2s)
    w = torch.randn(3, 5, dtype=torch.float64) * 0.1
    got = prior.log_prob(w)
    for r in range(3):
        replica = ScaleMixturePrior(float(pis[r]), float(sigma1s[r]), float(sigma2s[r]))
        torch.testing.assert_close(got[r], replica.log_prob(w[r]))
    loc, scale = f64(0.02, 0.3, -0.1), f64(0.01, 0.1, 0.05)
    exact = [
        quadrature_kl(
            float(loc[r]), float(scale[r]), *(float(t[r]) for t in (pis, sigma1s, sigma2s))
        )
        for r in range(3)
    ]
    terms = one_sample_terms(prior, loc, scale, N)
    se = terms.std(-1) / math.sqrt(N)
    averaged = prior.kl_monte_carlo(Normal(loc, scale), samples=N)
    for estimate in (terms.mean(-1), averaged):
        assert ((estimate - f64(*exact)).abs() < Z * se).all(), (estimate, exact, se)

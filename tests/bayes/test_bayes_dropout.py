"""Variational dropout: Kingma et al.'s KL fit (formula, clipping, monotonicity, and against the
KL computed by numerical integration), and the output moments of type A and B layers."""

import math

import pytest
import torch
from scipy import integrate

from reparam.bayes import VariationalDropoutLinear, variational_dropout_kl

Z = 5.0
C1, C2, C3 = 1.16145124, -1.50204118, 0.58629921  # Kingma, Salimans & Welling (2015), eq. (10)
ALPHAS = [1e-3, 0.01, 0.05, 0.1, 0.3, 0.5, 0.6, 0.9, 1.0]


def fit(alpha: float) -> float:
    return -(0.5 * math.log(alpha) + C1 * alpha + C2 * alpha**2 + C3 * alpha**3)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_kl_is_the_papers_polynomial(dtype) -> None:
    log_alpha = torch.tensor([math.log(a) for a in ALPHAS], dtype=dtype)
    expected = torch.tensor([fit(a) for a in ALPHAS], dtype=torch.float64)
    tolerance = 1e-12 if dtype == torch.float64 else 1e-5
    torch.testing.assert_close(
        variational_dropout_kl(log_alpha).double(), expected, rtol=tolerance, atol=tolerance
    )


def test_kl_is_clipped_above_alpha_one() -> None:
    log_alpha = torch.tensor([0.0, 1e-3, 0.5, 2.0, 10.0], dtype=torch.float64, requires_grad=True)
    kl = variational_dropout_kl(log_alpha)
    torch.testing.assert_close(kl, torch.full_like(kl, fit(1.0)), rtol=1e-12, atol=1e-12)
    (grad,) = torch.autograd.grad(kl.sum(), log_alpha)
    assert torch.equal(grad[1:], torch.zeros(4, dtype=torch.float64))
    layer = VariationalDropoutLinear(3, 2)
    with torch.no_grad():
        layer.log_alpha.fill_(2.0)
    assert torch.equal(layer.alpha, torch.ones(3))


def test_kl_fit_decreases_in_alpha() -> None:
    log_alpha = torch.linspace(-12.0, 0.0, 20_001, dtype=torch.float64)
    kl = variational_dropout_kl(log_alpha)
    assert (kl.diff() < 0).all()


def expected_log_abs(alpha: float) -> float:
    """E_{ε ~ N(0, 1)} log|1 + √α ε| by quadrature, split at the log singularity ε = −1/√α."""
    s = math.sqrt(alpha)

    def integrand(e: float) -> float:
        return math.log(abs(1 + s * e)) * math.exp(-0.5 * e * e) / math.sqrt(2 * math.pi)

    total = 0.0
    for lo, hi in ((-math.inf, -1 / s), (-1 / s, 0.0), (0.0, math.inf)):
        value, error = integrate.quad(integrand, lo, hi, limit=200)
        assert error < 1e-7  # far below the 0.02 asserted on below
        total += value
    return total


def test_expected_log_abs_quadrature() -> None:
    """The quadrature against two known values: E log|ε| = −(γ + log 2)/2 as α → ∞ (scaled),
    and E log|1 + √α ε| ≈ −α/2 for small α."""
    euler_gamma = 0.5772156649015329
    large = 1e8
    assert (
        abs(expected_log_abs(large) - 0.5 * math.log(large) + (euler_gamma + math.log(2)) / 2)
        < 1e-6
    )
    assert abs(expected_log_abs(1e-4) + 0.5e-4) < 1e-7


def test_kl_fit_against_numerical_kl() -> None:
    """Under the log-uniform prior, KL(q ‖ p) = const − ½ log α + E log|1 + √α ε| (Kingma et
    al., appendix C). The fit minus that should be one constant on α ≤ 1; the fit is only an
    approximation: the differences are −0.027, −0.039, −0.032, −0.037, −0.037 (spread 0.012)
    at these α, and tend to 0 as α → 0 (−0.006 at α = 0.01), where the fit's slope c1 = 1.16
    differs from the exact ½."""
    alphas = [0.05, 0.1, 0.3, 0.6, 1.0]
    log_alpha = torch.tensor([math.log(a) for a in alphas], dtype=torch.float64)
    numeric = torch.tensor([-0.5 * math.log(a) + expected_log_abs(a) for a in alphas])
    differences = variational_dropout_kl(log_alpha) - numeric.double()
    assert differences.max() - differences.min() < 0.02, differences
    assert (differences.abs() < 0.05).all(), differences
    # power: a fit with c1 10 % off would fail the spread check
    alpha = log_alpha.exp()
    perturbed = differences - 0.1 * C1 * alpha
    assert perturbed.max() - perturbed.min() > 0.02, perturbed


@pytest.mark.parametrize("kind", ["A", "B"])
def test_output_moments(kind: str) -> None:
    """Per example, mean x·θᵀ + b and variance Σ_i α x_i² θ_ji² (α per input for A, per weight
    for B), from many independent examples (the local reparameterization draws each example's
    noise independently)."""
    layer = VariationalDropoutLinear(4, 3, kind=kind).double()
    with torch.no_grad():
        layer.log_alpha.copy_(
            torch.linspace(-3.0, 0.0, layer.log_alpha.numel()).view_as(layer.log_alpha)
        )
    x = torch.tensor([0.5, -1.0, 2.0, 0.3], dtype=torch.float64)
    theta, alpha = layer.linear.weight.detach(), layer.alpha.detach()
    mean = theta @ x + layer.linear.bias.detach()
    if kind == "A":
        var = torch.stack(
            [sum(alpha[i] * x[i] ** 2 * theta[j, i] ** 2 for i in range(4)) for j in range(3)]
        )
    else:
        var = torch.stack(
            [sum(alpha[j, i] * x[i] ** 2 * theta[j, i] ** 2 for i in range(4)) for j in range(3)]
        )
    n = 40_000
    with torch.no_grad():
        draws = layer(x.expand(n, 4))
    got_mean, centered = draws.mean(0), draws - draws.mean(0)
    got_var = centered.pow(2).sum(0) / (n - 1)
    se_mean, se_var = (got_var / n).sqrt(), ((centered.pow(4).mean(0) - got_var**2) / n).sqrt()
    assert ((got_mean - mean).abs() < Z * se_mean).all(), (got_mean, mean)
    assert ((got_var - var).abs() < Z * se_var).all(), (got_var, var)
    # power: a variance 10 % off is rejected
    assert ((got_var - 1.1 * var).abs() > Z * se_var).any()


def test_type_a_matches_multiplicative_gaussian_noise_on_inputs() -> None:
    """Type A is Gaussian dropout on the inputs, b = (x ⊙ ξ) θᵀ + c, ξ_i ~ N(1, α_i)."""
    layer = VariationalDropoutLinear(4, 3, kind="A").double()
    with torch.no_grad():
        layer.log_alpha.copy_(torch.tensor([-2.0, -1.0, -0.5, 0.0]))
    x = torch.tensor([0.5, -1.0, 2.0, 0.3], dtype=torch.float64)
    n = 40_000
    xi = 1 + layer.alpha.detach().sqrt() * torch.randn(n, 4, dtype=torch.float64)
    with torch.no_grad():
        explicit = layer.linear(x * xi)
        local = layer(x.expand(n, 4))
    se_mean = ((explicit.var(0) + local.var(0)) / n).sqrt()
    assert ((explicit.mean(0) - local.mean(0)).abs() < Z * se_mean).all()
    centered = [t - t.mean(0) for t in (explicit, local)]
    se_var = sum((c.pow(4).mean(0) - c.pow(2).mean(0) ** 2) / n for c in centered).sqrt()
    assert ((explicit.var(0) - local.var(0)).abs() < Z * se_var).all()


@pytest.mark.parametrize("kind", ["A", "B"])
def test_layer_kl(kind: str) -> None:
    layer = VariationalDropoutLinear(4, 3, kind=kind)
    with torch.no_grad():
        layer.log_alpha.copy_(
            torch.linspace(-4.0, 1.0, layer.log_alpha.numel()).view_as(layer.log_alpha)
        )
    per_alpha = variational_dropout_kl(layer.log_alpha)
    if kind == "A":
        assert layer.log_alpha.shape == (4,)
        expected = 3 * sum(fit(min(math.exp(v), 1.0)) for v in layer.log_alpha.tolist())
        torch.testing.assert_close(layer.kl(), 3 * per_alpha.sum())
    else:
        assert layer.log_alpha.shape == (3, 4)
        expected = sum(fit(min(math.exp(v), 1.0)) for v in layer.log_alpha.flatten().tolist())
        torch.testing.assert_close(layer.kl(), per_alpha.sum())
    assert abs(float(layer.kl().detach()) - expected) < 1e-4 * abs(expected)

"""KL divergences and forward passes of the Bayesian layers at extreme but valid parameters.

softplus(ρ) underflows to 0 below ρ ≈ −88 (float32) or −745 (float64), where log σ ≈ ρ is
still an ordinary number: the layers' KL must stay finite and exact (the closed form, in
50-digit arithmetic, for the normal prior; a float64 Monte Carlo against the small-σ limit or
quadrature, within five standard errors, for the scale mixture), with finite gradients.
"""

import math

import mpmath
import pytest
import torch
from scipy import integrate
from torch import nn

from reparam.bayes import (
    ESTIMATORS,
    BayesConv2d,
    BayesLinear,
    NormalPrior,
    ScaleMixturePrior,
    VariationalDropoutLinear,
    predict,
)
from reparam.bayes.softplus import log_softplus

DTYPES = [torch.float32, torch.float64]
RHOS = [-1e4, -1e3, -745.5, -100.0, -89.0, -88.0, -50.0, -20.5, -19.5, -5.0, 0.0, 5.0, 30.0]
Z = 5.0


def exact_softplus(rho: float) -> mpmath.mpf:
    return mpmath.log1p(mpmath.exp(mpmath.mpf(rho)))


def exact_normal_kl(mu: float, rho: float, sigma: float) -> tuple[float, float, float]:
    """KL(N(μ, softplus(ρ)²) ‖ N(0, σ²)) and its derivatives in μ and ρ, in 50 digits."""
    with mpmath.workdps(50):
        s, mu, sigma = exact_softplus(rho), mpmath.mpf(mu), mpmath.mpf(sigma)
        kl = mpmath.log(sigma / s) + (s * s + mu * mu) / (2 * sigma * sigma) - mpmath.mpf(1) / 2
        slope = 1 / (1 + mpmath.exp(-mpmath.mpf(rho)))
        return float(kl), float(mu / sigma**2), float((s / sigma**2 - 1 / s) * slope)


def test_log_softplus_is_exact_everywhere() -> None:
    for dtype in DTYPES:
        rho = torch.tensor(RHOS, dtype=dtype, requires_grad=True)
        value = log_softplus(rho)
        (grad,) = torch.autograd.grad(value.sum(), rho)
        with mpmath.workdps(50):
            expected = [float(mpmath.log(exact_softplus(r))) for r in RHOS]
            slopes = [
                float(1 / ((1 + mpmath.exp(-mpmath.mpf(r))) * exact_softplus(r))) for r in RHOS
            ]
        # F.softplus is linear above ρ = 20 (threshold=20): 1e-13 relative in float64 at ρ = 30
        tolerance = 1e-6 if dtype == torch.float32 else 1e-12
        for got, want in ((value, expected), (grad, slopes)):
            want = torch.tensor(want, dtype=torch.float64)
            torch.testing.assert_close(got.double(), want, rtol=tolerance, atol=0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("sigma", [1e-3, 1.0, 30.0])
def test_normal_prior_kl_is_the_closed_form_for_every_rho(dtype, sigma: float) -> None:
    """The fused KL of a layer, and its gradients in μ and ρ, per weight, for ρ from −1e4
    (σ = 0 in floating point; KL ≈ −ρ) to 30."""
    mus = [-3.0, 0.0, 0.7]
    layer = BayesLinear(len(RHOS), len(mus), bias=False, prior=NormalPrior(sigma)).to(dtype)
    with torch.no_grad():
        layer.weight_mu.copy_(torch.tensor(mus, dtype=dtype).unsqueeze(1).expand(3, len(RHOS)))
        layer.weight_rho.copy_(torch.tensor(RHOS, dtype=dtype).expand(3, len(RHOS)))
    kl = layer.kl()
    kl.backward()
    exact = [[exact_normal_kl(m, r, sigma) for r in RHOS] for m in mus]
    value, d_mu, d_rho = (
        torch.tensor([[e[i] for e in row] for row in exact], dtype=torch.float64) for i in range(3)
    )
    tolerance = 2e-6 if dtype == torch.float32 else 1e-12
    assert math.isfinite(float(kl.detach()))
    assert abs(float(kl.detach()) - float(value.sum())) <= tolerance * float(value.abs().sum())
    torch.testing.assert_close(layer.weight_mu.grad.double(), d_mu, rtol=tolerance, atol=1e-30)
    # ∂/∂ρ = sigmoid(ρ)(s/σ² − 1/s) cancels to ≈ 0 at s = σ: an absolute tolerance too
    torch.testing.assert_close(
        layer.weight_rho.grad.double(), d_rho, rtol=5 * tolerance, atol=tolerance
    )


@pytest.mark.parametrize("dtype", DTYPES)
def test_normal_prior_kl_at_extreme_prior_scales(dtype) -> None:
    """σ from 1e-15 to 1e15: the ratios s/σ and μ/σ are formed before they are squared."""
    mu, rho = 1e-10, -30.0
    for sigma in (1e-15, 1e-5, 1e5, 1e15):
        layer = BayesLinear(1, 1, bias=False, prior=NormalPrior(sigma)).to(dtype)
        with torch.no_grad():
            layer.weight_mu.fill_(mu)
            layer.weight_rho.fill_(rho)
        kl = layer.kl()
        kl.backward()
        value, d_mu, d_rho = exact_normal_kl(mu, rho, sigma)
        tolerance = 1e-5 if dtype == torch.float32 else 1e-12
        assert abs(float(kl.detach()) - value) <= tolerance * abs(value)
        assert abs(float(layer.weight_mu.grad) - d_mu) <= tolerance * abs(d_mu)
        assert abs(float(layer.weight_rho.grad) - d_rho) <= tolerance * abs(d_rho)


MIXTURE = (0.5, 1.0, math.exp(-6))


def mixture_log_prob(w: float) -> float:
    pi, sigma1, sigma2 = MIXTURE
    with mpmath.workdps(30):
        w = mpmath.mpf(w)
        density = pi * mpmath.npdf(w, 0, sigma1) + (1 - pi) * mpmath.npdf(w, 0, sigma2)
        return float(mpmath.log(density))


def exact_mixture_kl(mu: float, rho: float) -> float:
    """KL(N(μ, s²) ‖ mixture): by quadrature where s is resolvable, else its s → 0 limit
    −log s − ½ log(2πe) − log p(μ) (the next term is O(s²), below 1e-30 here)."""
    with mpmath.workdps(30):
        s = exact_softplus(rho)
        if s < 1e-15:
            limit = -mpmath.log(s) - mpmath.log(2 * mpmath.pi * mpmath.e) / 2
            return float(limit - mixture_log_prob(mu))
    s = float(s)

    def integrand(eps: float) -> float:
        log_q = -0.5 * eps * eps - math.log(s) - 0.5 * math.log(2 * math.pi)
        weight = math.exp(-0.5 * eps * eps) / math.sqrt(2 * math.pi)
        return weight * (log_q - mixture_log_prob(mu + s * eps))

    return integrate.quad(integrand, -12, 12, limit=200)[0]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rho", [-1e4, -745.5, -100.0, -89.0, -30.0, -5.0, 0.0])
def test_scale_mixture_kl_is_finite_and_unbiased_for_every_rho(dtype, rho: float) -> None:
    """The layer's one-sample Monte Carlo KL over n replicas of one weight: its mean within
    five standard errors (from the draws themselves) of the exact KL; finite gradients."""
    n, mu = 20_000, 0.01
    layer = BayesLinear(1, 1, bias=False, batch_shape=(n,), prior=ScaleMixturePrior(*MIXTURE)).to(
        dtype
    )
    with torch.no_grad():
        layer.weight_mu.fill_(mu)
        layer.weight_rho.fill_(rho)
    draws = layer.kl()
    draws.sum().backward()
    assert torch.isfinite(draws).all()
    assert (
        torch.isfinite(layer.weight_mu.grad).all() and torch.isfinite(layer.weight_rho.grad).all()
    )
    draws = draws.detach().double()
    se = float(draws.std()) / math.sqrt(n)
    exact = exact_mixture_kl(mu, rho)
    # float32 rounds each draw (of size ≈ |ρ|) to 6e-8 relative, which the mean keeps
    rounding = 1e-6 * abs(exact) if dtype == torch.float32 else 0.0
    assert abs(float(draws.mean()) - exact) < Z * se + rounding, (float(draws.mean()), exact, se)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_kl_and_forward_at_extreme_rates(dtype) -> None:
    layer = VariationalDropoutLinear(3, 2, kind="B").to(dtype)
    with torch.no_grad():
        layer.log_alpha.copy_(torch.tensor([[-1e4, -100.0, 0.0], [10.0, 1e4, -1.0]]))
    out = layer(torch.randn(4, 3, dtype=dtype))
    (out.sum() + layer.kl()).backward()
    for t in (out, layer.kl(), layer.log_alpha.grad, layer.linear.weight.grad):
        assert torch.isfinite(t).all()
    # α = e^-1e4 ≈ 0: KL ≈ −½ log α = 5e3 for that weight (the others are bounded)
    assert 5e3 - 100 < float(layer.kl().detach()) < 5e3 + 100


def exact_local_std(layer: BayesLinear, x: torch.Tensor) -> torch.Tensor:
    """√(Σ x²σ² + σ_c²) in float64 from the layer's float32 numbers."""
    x = x.double()
    var = (x * x) @ (layer.weight_sigma.double() ** 2).T
    if layer.bias_sigma is not None:
        var = var + layer.bias_sigma.double() ** 2
    return var.sqrt()


@pytest.mark.parametrize("bias", [True, False])
def test_local_reparameterization_std_at_any_input_scale(bias: bool) -> None:
    """float32 inputs from 1e-30 to 1e30, and rows of very different scales in one batch:
    the standard deviation of the pre-activations is the float64 one to float32 precision."""
    layer = BayesLinear(4, 3, bias=bias, init_std=0.1)
    x = torch.randn(6, 4) * torch.tensor([1e-30, 1e-10, 1.0, 1e10, 1e30, 0.0]).unsqueeze(1)
    got = layer.local_std(x).double()
    expected = exact_local_std(layer, x)
    # where the variance is 0 (a zero row, no bias), the std is √(smallest normal float32)
    floor = math.sqrt(torch.finfo(torch.float32).tiny)
    expected = torch.where(expected == 0, floor, expected)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=0)
    x.requires_grad_()
    layer(x).sum().backward()
    for t in (x.grad, layer.weight_mu.grad, layer.weight_rho.grad):
        assert torch.isfinite(t).all()


@pytest.mark.parametrize("estimator", ESTIMATORS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_empty_batches_give_empty_outputs_and_zero_gradients(estimator: str, dtype) -> None:
    for layer, x in (
        (BayesLinear(3, 2, estimator=estimator), torch.randn(0, 3)),
        (BayesLinear(3, 2, estimator=estimator, batch_shape=(2,)), torch.randn(2, 0, 3)),
        (BayesConv2d(2, 3, 3, estimator=estimator), torch.randn(0, 2, 5, 5)),
    ):
        layer = layer.to(dtype)
        out = layer(x.to(dtype))
        assert out.shape[-2 if isinstance(layer, BayesLinear) else 0] == 0
        out.sum().backward()
        for grad in (layer.weight_mu.grad, layer.weight_rho.grad):
            assert grad is None or (grad == 0).all()
    dropout = VariationalDropoutLinear(3, 2).to(dtype)
    assert dropout(torch.randn(0, 3, dtype=dtype)).shape == (0, 2)


def test_one_sample_predictive_and_empty_batches() -> None:
    regression = predict(BayesLinear(3, 1), torch.randn(4, 3), samples=1, task="regression")
    assert (regression.epistemic == 0).all() and torch.isfinite(regression.mean).all()
    classes = predict(BayesLinear(3, 5), torch.randn(4, 3), samples=1, task="classification")
    torch.testing.assert_close(classes.mutual_information, torch.zeros(4))
    empty = predict(BayesLinear(3, 5), torch.randn(0, 3), samples=3, task="classification")
    assert empty.probs.shape == (0, 5) and empty.entropy.shape == (0,)


def test_predictive_of_huge_logits_is_finite() -> None:
    """Logits of ±1e4: one-hot probabilities, entropy and mutual information 0, not NaN."""
    layer = BayesLinear(2, 3, init_std=1e-3)
    with torch.no_grad():
        layer.weight_mu.copy_(torch.tensor([[1e4, 0.0], [-1e4, 0.0], [0.0, 0.0]]))
    p = predict(nn.Sequential(layer), torch.tensor([[1.0, 0.0]]), samples=4, task="classification")
    for t in (p.probs, p.entropy, p.mutual_information):
        assert torch.isfinite(t).all()
    torch.testing.assert_close(p.probs, torch.tensor([[1.0, 0.0, 0.0]]))

"""Bayesian layers: each estimator's output distribution against the analytic Gaussian
pre-activation, the cross-example correlations that distinguish them, Flipout's unbiased
gradients, batch_shape replicas, convolutions, the KL term, and argument checks.

Statistical assertions use a fixed seed and 5 standard errors: of the sample mean
(s / sqrt(n)), of the sample variance (sqrt((m4 - s^4) / n)) or of a difference of means.
"""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Normal, kl_divergence

import reparam.bayes
from reparam.bayes import (
    ESTIMATORS,
    BayesConv2d,
    BayesLinear,
    NormalPrior,
    ScaleMixturePrior,
)
from reparam.bayes.layers import inverse_softplus

Z = 5.0


def moments(draws: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Sample mean and variance over the first dimension, with their standard errors."""
    n = draws.shape[0]
    mean = draws.mean(0)
    centered = draws - mean
    var = centered.pow(2).sum(0) / (n - 1)
    m4 = centered.pow(4).mean(0)
    return mean, var, (var / n).sqrt(), ((m4 - var**2) / n).sqrt()


def assert_moments(draws: torch.Tensor, mean: torch.Tensor, var: torch.Tensor, label: str) -> None:
    got_mean, got_var, se_mean, se_var = moments(draws)
    z_mean = ((got_mean - mean).abs() / se_mean).max()
    z_var = ((got_var - var).abs() / se_var).max()
    assert z_mean < Z, f"{label}: mean {got_mean} vs {mean} ({z_mean:.1f} SE)"
    assert z_var < Z, f"{label}: variance {got_var} vs {var} ({z_var:.1f} SE)"


def make_linear(estimator: str = "local", **kwargs) -> BayesLinear:
    """A float64 BayesLinear(3, 2) with distinct, sizeable posterior scales."""
    layer = BayesLinear(3, 2, estimator=estimator, init_std=0.5, **kwargs).double()
    with torch.no_grad():
        layer.weight_rho.add_(torch.linspace(-0.5, 0.5, 6, dtype=torch.float64).view(2, 3))
        if layer.bias_rho is not None:
            layer.bias_rho.copy_(torch.tensor([inverse_softplus(0.3), inverse_softplus(0.8)]))
    return layer


def linear_moments(layer: BayesLinear, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The exact mean x·μ + μ_b and variance x²·σ² + σ_b² of each pre-activation."""
    with torch.no_grad():
        mean = x @ layer.weight_mu.T
        var = (x * x) @ (layer.weight_sigma**2).T
        if layer.bias_mu is not None:
            mean, var = mean + layer.bias_mu, var + layer.bias_sigma**2
    return mean, var


@torch.no_grad()
def forward_passes(layer: nn.Module, x: torch.Tensor, n: int) -> torch.Tensor:
    return torch.stack([layer(x) for _ in range(n)])


def replicate(layer: BayesLinear, replicas: int) -> BayesLinear:
    """``replicas`` copies of ``layer`` as one layer with ``batch_shape=(replicas,)``: one
    forward pass draws ``replicas`` independent outputs."""
    batched = BayesLinear(
        layer.in_features,
        layer.out_features,
        layer.bias_mu is not None,
        estimator=layer.estimator,
        batch_shape=(replicas,),
    ).to(layer.weight_mu.dtype)
    with torch.no_grad():
        for name, parameter in layer.named_parameters():
            getattr(batched, name).copy_(parameter.expand_as(getattr(batched, name)))
    return batched


def replicated_outputs(layer: BayesLinear, x: torch.Tensor, n: int) -> torch.Tensor:
    """n independent outputs of ``layer`` on ``x``, [n, *x.shape[:-1], out]: one forward pass
    of n replicas, the input given per replica (``[*batch_shape, M, in]``)."""
    return replicate(layer, n)(x.expand(n, *x.shape))


X = torch.tensor([[0.5, -1.0, 2.0], [1.5, 0.0, -0.3]], dtype=torch.float64)
PASSES = 2000
DRAWS = 20_000


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_linear_marginals_match_the_analytic_gaussian(estimator: str) -> None:
    """Each example's pre-activations have mean x·μ + μ_b and variance x²·σ² + σ_b² under
    every estimator (independent draws: replicas of the layer, see ``replicate``)."""
    layer = make_linear(estimator)
    mean, var = linear_moments(layer, X)
    with torch.no_grad():
        draws = replicated_outputs(layer, X, DRAWS)
    assert draws.shape == (DRAWS, *X.shape[:-1], 2)
    assert_moments(draws, mean, var, estimator)


@pytest.mark.parametrize(("first", "second"), [("weight", "local"), ("flipout", "separate")])
def test_linear_estimators_agree_in_distribution(first: str, second: str) -> None:
    """Independent forward passes of one plain layer: the local reparameterization's outputs
    have weight sampling's means and variances, and Flipout's those of separate weights per
    example (within 5 SE of the differences)."""
    layer = make_linear(first)
    first_draws = forward_passes(layer, X, PASSES)
    layer.estimator = second
    second_draws = forward_passes(layer, X, PASSES)
    (m1, v1, sm1, sv1), (m2, v2, sm2, sv2) = moments(first_draws), moments(second_draws)
    assert ((m1 - m2).abs() < Z * (sm1**2 + sm2**2).sqrt()).all(), (m1, m2)
    assert ((v1 - v2).abs() < Z * (sv1**2 + sv2**2).sqrt()).all(), (v1, v2)


def test_marginal_check_has_power() -> None:
    """Negative control: the variance band rejects a layer whose σ is 10% off."""
    layer = make_linear("local")
    _, var = linear_moments(layer, X)
    with torch.no_grad():
        _, got_var, _, se_var = moments(replicated_outputs(layer, X, DRAWS))
    assert ((got_var - 1.21 * var).abs() > Z * se_var).any()


def correlation(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    a, b = a - a.mean(0), b - b.mean(0)
    return (a * b).mean(0) / (a.pow(2).mean(0) * b.pow(2).mean(0)).sqrt()


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_identical_examples_correlation(estimator: str) -> None:
    """Two identical examples in one minibatch: independent noise ("local", "flipout",
    "separate") gives correlation ~0, shared weights ("weight") correlation 1."""
    layer = make_linear(estimator)
    x = X[:1].expand(2, 3)
    with torch.no_grad():
        draws = replicated_outputs(layer, x, DRAWS)
    rho = correlation(draws[:, 0], draws[:, 1])
    if estimator == "weight":
        assert torch.equal(draws[:, 0], draws[:, 1])
        torch.testing.assert_close(rho, torch.ones_like(rho))
    else:
        assert (rho.abs() < Z / math.sqrt(DRAWS)).all(), rho
        assert not torch.equal(draws[:, 0], draws[:, 1])


REPLICAS = 20_000
TARGET = torch.tensor([0.3, -0.2], dtype=torch.float64)


def per_example_loss(b: torch.Tensor) -> torch.Tensor:
    return (b - TARGET) ** 2 + torch.sin(b)


def expected_loss(layer: BayesLinear, x: torch.Tensor) -> torch.Tensor:
    """E[(b - t)² + sin b] = (m - t)² + v + sin(m) exp(-v/2) for b ~ N(m, v)."""
    mean = x @ layer.weight_mu.T + layer.bias_mu
    var = (x * x) @ (layer.weight_sigma**2).T + layer.bias_sigma**2
    return ((mean - TARGET) ** 2 + var + torch.sin(mean) * torch.exp(-var / 2)).sum()


def gradient_draws(layer: BayesLinear, x: torch.Tensor, loss) -> dict[str, torch.Tensor]:
    """REPLICAS independent draws of the gradient of ``loss`` w.r.t. each parameter."""
    batched = replicate(layer, REPLICAS)
    loss(batched(x.expand(REPLICAS, *x.shape))).sum().backward()
    return {name: p.grad for name, p in batched.named_parameters()}


def test_flipout_gradient_is_unbiased() -> None:
    """The average gradient w.r.t. μ and ρ under Flipout equals the weight estimator's (within
    5 SE of the difference) and the exact gradient of the expected loss."""
    layer = make_linear("flipout")
    x = torch.cat([X, -X, X])  # repeated examples share Flipout's perturbation
    flipout = gradient_draws(layer, x, per_example_loss)
    layer.estimator = "weight"
    weight = gradient_draws(layer, x, per_example_loss)
    exact = dict(
        zip(
            [name for name, _ in layer.named_parameters()],
            torch.autograd.grad(expected_loss(layer, x), list(layer.parameters())),
            strict=True,
        )
    )
    for name in exact:
        f, w = flipout[name], weight[name]
        se_f, se_w = f.std(0) / math.sqrt(REPLICAS), w.std(0) / math.sqrt(REPLICAS)
        difference = (f.mean(0) - w.mean(0)).abs() / (se_f**2 + se_w**2).sqrt()
        assert difference.max() < Z, f"{name}: {f.mean(0)} vs {w.mean(0)}"
        for label, g, se in (("flipout", f, se_f), ("weight", w, se_w)):
            z = ((g.mean(0) - exact[name]).abs() / se).max()
            assert z < Z, f"{label}/{name}: {g.mean(0)} vs {exact[name]} ({z:.1f} SE)"


def test_gradient_comparison_has_power() -> None:
    """Negative control: for a loss coupling two identical examples, E[b₁ b₂], the weight
    estimator (shared noise) and Flipout (decorrelated noise) have different expected ρ
    gradients, and the comparison above detects it."""
    layer = make_linear("flipout")
    x = X[:1].expand(2, 3)

    def coupled(b: torch.Tensor) -> torch.Tensor:
        return b[..., 0, :] * b[..., 1, :]

    flipout = gradient_draws(layer, x, coupled)["weight_rho"]
    layer.estimator = "weight"
    weight = gradient_draws(layer, x, coupled)["weight_rho"]
    se = ((flipout.var(0) + weight.var(0)) / REPLICAS).sqrt()
    assert ((flipout.mean(0) - weight.mean(0)).abs() > Z * se).any()


def ones_like_noise(monkeypatch: pytest.MonkeyPatch) -> None:
    """Replace every source of noise in the layers by ones (deterministic outputs)."""

    def randn(*size, dtype=None, device=None, **_):
        return torch.ones(*size, dtype=dtype or torch.get_default_dtype(), device=device)

    monkeypatch.setattr(torch, "randn", randn)
    monkeypatch.setattr(torch, "randn_like", lambda t, **_: torch.ones_like(t))
    monkeypatch.setattr(
        reparam.bayes.layers,
        "random_signs",
        lambda shape, like: torch.ones(shape, dtype=like.dtype),
    )


@pytest.mark.parametrize("estimator", ESTIMATORS)
@pytest.mark.parametrize("bias", [True, False])
def test_batch_shape_replicas_equal_separate_layers(
    estimator: str, bias: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A layer with batch_shape=(3,) computes exactly what three layers with the same
    parameters compute (noise fixed to ones, so every path is deterministic), and its KL
    is theirs, replica by replica, also with per-replica prior scales."""
    sigmas = [0.5, 1.0, 2.0]
    singles = [
        BayesLinear(4, 3, bias, estimator=estimator, init_std=0.1 * (r + 1), prior=NormalPrior(s))
        for r, s in enumerate(sigmas)
    ]
    batched = BayesLinear(
        4, 3, bias, estimator=estimator, batch_shape=(3,), prior=NormalPrior(torch.tensor(sigmas))
    )
    with torch.no_grad():
        for name, parameter in batched.named_parameters():
            parameter.copy_(torch.stack([getattr(s, name) for s in singles]))
    torch.testing.assert_close(batched.kl(), torch.stack([s.kl() for s in singles]))
    x = torch.randn(3, 5, 4)
    ones_like_noise(monkeypatch)
    expected = torch.stack([s(x[r]) for r, s in enumerate(singles)])
    torch.testing.assert_close(batched(x), expected)
    # and the noise does enter: μ + σ·1 differs from μ
    mean = torch.stack([F.linear(x[r], s.weight_mu, s.bias_mu) for r, s in enumerate(singles)])
    assert not torch.allclose(expected, mean)


def test_batch_shape_with_a_per_replica_scale_mixture() -> None:
    """layer.kl() with a per-replica ScaleMixturePrior (a Monte Carlo KL) is, per replica,
    unbiased for that replica's KL: compare with replicas sharing one scalar prior. (n copies
    of each replica along a second batch dimension give n independent one-sample KLs.)"""
    n, pis = 4000, torch.tensor([0.25, 0.75])
    init = BayesLinear(3, 2, init_std=0.05)
    batched = BayesLinear(
        3, 2, batch_shape=(2, n), init_std=0.05, prior=ScaleMixturePrior(pis[:, None].expand(2, n))
    )
    with torch.no_grad():
        for name, parameter in init.named_parameters():
            getattr(batched, name).copy_(parameter.expand_as(getattr(batched, name)))
    draws = batched.kl().detach()
    assert draws.shape == (2, n)
    for r in range(2):
        alone = BayesLinear(
            3, 2, batch_shape=(n,), init_std=0.05, prior=ScaleMixturePrior(float(pis[r]))
        )
        with torch.no_grad():
            for name, parameter in init.named_parameters():
                getattr(alone, name).copy_(parameter.expand_as(getattr(alone, name)))
        reference = alone.kl().detach()
        se = ((draws[r].var() + reference.var()) / n).sqrt()
        assert (draws[r].mean() - reference.mean()).abs() < Z * se, (
            draws[r].mean(),
            reference.mean(),
        )
    # the two replicas' priors differ enough for their KLs to differ: the check has power
    se = ((draws[0].var() + draws[1].var()) / n).sqrt()
    assert (draws[0].mean() - draws[1].mean()).abs() > Z * se


def make_conv(estimator: str, groups: int = 1, bias: bool = True) -> BayesConv2d:
    conv = BayesConv2d(
        2, 4, 3, padding=1, groups=groups, bias=bias, estimator=estimator, init_std=0.4
    ).double()
    with torch.no_grad():
        conv.weight_rho.add_(0.3 * torch.randn_like(conv.weight_rho))
    return conv


def conv_moments(conv: BayesConv2d, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The exact mean and variance of each output, by explicit patches (F.unfold)."""
    patches = F.unfold(x, 3, padding=1)  # [M, C·9, L]
    m, _, locations = patches.shape
    g, per_group = conv.groups, conv.in_channels // conv.groups
    patches = patches.view(m, g, per_group * 9, locations)
    with torch.no_grad():
        mu = conv.weight_mu.reshape(g, -1, per_group * 9)
        var = (conv.weight_sigma**2).reshape(g, -1, per_group * 9)
        mean = torch.einsum("gok,mgkl->mgol", mu, patches).reshape(m, -1, 5, 5)
        variance = torch.einsum("gok,mgkl->mgol", var, patches**2).reshape(m, -1, 5, 5)
        if conv.bias_mu is not None:
            mean = mean + conv.bias_mu.view(-1, 1, 1)
            variance = variance + conv.bias_sigma.view(-1, 1, 1) ** 2
    return mean, variance


IMAGE = torch.randn(1, 2, 5, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
CONV_DRAWS = 1500


def conv_draws(conv: BayesConv2d, n: int = CONV_DRAWS) -> torch.Tensor:
    """n independent outputs on IMAGE: n forward passes, or, where the estimator draws every
    example independently ("local", "separate"), one pass over n copies of the image."""
    with torch.no_grad():
        if conv.estimator in ("local", "separate"):
            return conv(IMAGE.expand(n, *IMAGE.shape[1:]))
        return torch.cat([conv(IMAGE) for _ in range(n)])


@pytest.mark.parametrize("estimator", ESTIMATORS)
@pytest.mark.parametrize("groups", [1, 2])
def test_conv_marginals_match_the_analytic_gaussian(estimator: str, groups: int) -> None:
    """Every estimator's per-output mean and variance on a small image, padding included,
    against the explicit sum over each patch."""
    conv = make_conv(estimator, groups)
    mean, var = conv_moments(conv, IMAGE)
    assert_moments(conv_draws(conv), mean[0], var[0], estimator)


def test_conv_local_matches_weight_sampling() -> None:
    conv = make_conv("weight")
    weight_draws = conv_draws(conv)
    conv.estimator = "local"
    local_draws = conv_draws(conv)
    (m1, v1, sm1, sv1), (m2, v2, sm2, sv2) = moments(weight_draws), moments(local_draws)
    assert ((m1 - m2).abs() < Z * (sm1**2 + sm2**2).sqrt()).all()
    assert ((v1 - v2).abs() < Z * (sv1**2 + sv2**2).sqrt()).all()


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_conv_identical_examples(estimator: str) -> None:
    """ "separate" (and "local", "flipout") gives two identical images different outputs;
    "weight" one kernel, so identical outputs."""
    conv = make_conv(estimator, groups=2)
    out = conv(IMAGE.expand(2, 2, 5, 5))
    assert out.shape == (2, 4, 5, 5)
    if estimator == "weight":
        assert torch.equal(out[0], out[1])
    elif estimator == "flipout":
        # a corner pixel sees few inputs, whose ±1 signs can coincide by chance (p = 2^-k)
        assert torch.isclose(out[0], out[1]).float().mean() < 0.1
    else:
        assert not torch.isclose(out[0], out[1]).any()


def test_conv_separate_shapes_with_stride() -> None:
    conv = BayesConv2d(3, 5, (3, 2), stride=2, padding=1, estimator="separate")
    out = conv(torch.randn(4, 3, 9, 8))
    assert out.shape == (4, 5, 5, 5)
    conv.estimator = "local"
    assert conv(torch.randn(4, 3, 9, 8)).shape == (4, 5, 5, 5)


@pytest.mark.parametrize("bias", [True, False])
def test_kl_is_the_sum_of_torch_kl_divergences(bias: bool) -> None:
    prior = NormalPrior(0.7)
    for layer in (
        BayesLinear(3, 2, bias, prior=prior, init_std=0.3),
        BayesConv2d(2, 4, 3, bias=bias, prior=prior, init_std=0.3),
    ):
        with torch.no_grad():
            layer.weight_rho.add_(torch.randn_like(layer.weight_rho))
        expected = kl_divergence(
            Normal(layer.weight_mu, layer.weight_sigma), Normal(0.0, 0.7)
        ).sum()
        if bias:
            expected = (
                expected
                + kl_divergence(Normal(layer.bias_mu, layer.bias_sigma), Normal(0.0, 0.7)).sum()
            )
        assert layer.kl().shape == ()
        torch.testing.assert_close(layer.kl(), expected)
    model = nn.Sequential(
        BayesLinear(3, 2, bias, prior=prior), nn.ReLU(), BayesLinear(2, 1, bias, prior=prior)
    )
    torch.testing.assert_close(reparam.bayes.kl(model), model[0].kl() + model[2].kl())


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_no_bias(estimator: str) -> None:
    layer = BayesLinear(3, 2, bias=False, estimator=estimator, init_std=0.5)
    assert layer.bias_mu is None and layer.bias_rho is None and layer.bias_sigma is None
    assert len(list(layer.parameters())) == 2
    assert len(layer.posteriors()) == 1
    # no bias, so (almost) no output at x = 0: "local" floors the variance at the smallest
    # normal number, noise of 1e-19 there
    assert layer(torch.zeros(4, 3)).abs().max() <= 1e-7
    assert layer(torch.randn(4, 3)).shape == (4, 2)
    conv = BayesConv2d(2, 3, 3, bias=False, estimator=estimator, init_std=0.5)
    assert conv(torch.zeros(2, 2, 5, 5)).abs().max() <= 1e-7


def test_switching_estimator() -> None:
    layer = make_linear("local")
    x = X[:1].expand(2, 3)
    out = layer(x)
    assert not torch.equal(out[0], out[1])
    layer.estimator = "weight"
    assert layer.estimator == "weight"
    out = layer(x)
    assert torch.equal(out[0], out[1])
    for name in ("flipout", "separate"):
        layer.estimator = name
        assert layer.estimator == name
        out = layer(x)
        assert not torch.equal(out[0], out[1])
    with pytest.raises(ValueError, match=r"'bogus'.*weight, local, flipout, separate"):
        layer.estimator = "bogus"
    assert layer.estimator == "separate"
    assert "estimator='separate'" in repr(layer)


@pytest.mark.parametrize("init_std", [0.0, -0.1, float("nan"), float("inf")])
def test_non_positive_init_std_raises(init_std: float) -> None:
    with pytest.raises(ValueError, match="init_std must be finite"):
        BayesLinear(3, 2, init_std=init_std)
    with pytest.raises(ValueError, match="init_std must be finite"):
        BayesConv2d(1, 2, 3, init_std=init_std)


def test_init_std_is_the_posterior_scale() -> None:
    for init_std in (1e-8, 1e-2, 0.5, 3.0):
        layer = BayesLinear(3, 2, init_std=init_std)
        torch.testing.assert_close(layer.weight_sigma, torch.full((2, 3), init_std))
        torch.testing.assert_close(layer.bias_sigma, torch.full((2,), init_std))

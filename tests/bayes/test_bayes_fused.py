"""The fused draw-and-KL node (reparam.bayes.fused) against the plain formulas, in float64:
the same outputs and the same gradients, whether the likelihood and the KL are differentiated
together or apart, and a cached KL that is never stale."""

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Normal, kl_divergence

from reparam.bayes import BayesConv2d, BayesLinear, NormalPrior, ScaleMixturePrior
from reparam.bayes.layers import random_signs

DTYPE = torch.float64


def plain_kl(layer, sigma) -> torch.Tensor:
    """Σ KL(q ‖ N(0, σ²)) by torch.distributions, per replica."""
    keep = len(layer.batch_shape)
    total = 0
    for mu, rho in ((layer.weight_mu, layer.weight_rho), (layer.bias_mu, layer.bias_rho)):
        if mu is None:
            continue
        prior_sigma = torch.as_tensor(sigma, dtype=DTYPE).reshape(
            (*layer.batch_shape, *(1,) * (mu.dim() - keep))
        )
        terms = kl_divergence(
            Normal(mu, F.softplus(rho)), Normal(torch.zeros_like(mu), prior_sigma)
        )
        total = total + terms.flatten(keep).sum(-1)
    return total


def plain_forward(layer, x: torch.Tensor) -> torch.Tensor:
    """The estimators' formulas written out with autograd, drawing the noise in the layer's
    order (weight noise, bias noise, then the signs or the output noise)."""
    mu, sigma = layer.weight_mu, F.softplus(layer.weight_rho)
    bias_mu = layer.bias_mu
    bias_sigma = None if layer.bias_rho is None else F.softplus(layer.bias_rho)
    if isinstance(layer, BayesConv2d):
        op = lambda a, w, b: F.conv2d(a, w, b, layer.stride, layer.padding)  # noqa: E731
        per_output = lambda b: b[:, None, None]  # noqa: E731
    else:
        op = layer.apply
        per_output = layer.per_output
    if layer.estimator == "weight":
        weight = mu + sigma * torch.randn_like(mu)
        bias = None if bias_mu is None else bias_mu + bias_sigma * torch.randn_like(bias_mu)
        return op(x, weight, bias)
    mean = op(x, mu, bias_mu)
    if layer.estimator == "local":
        var = op(x * x, sigma * sigma, None)
        if bias_sigma is not None:
            var = var + per_output(bias_sigma) ** 2
        return mean + var.sqrt() * torch.randn_like(mean)
    weight_noise = sigma * torch.randn_like(mu)
    bias_noise = None if bias_mu is None else bias_sigma * torch.randn_like(bias_mu)
    perturbation = op(x * random_signs(x.shape, x), weight_noise, bias_noise)
    return mean + perturbation * random_signs(mean.shape, mean)


def layers() -> list[tuple[str, object, torch.Tensor, object]]:
    sigmas = torch.tensor([0.5, 2.0], dtype=DTYPE)
    return [
        ("linear", BayesLinear(5, 3, init_std=0.3), torch.randn(7, 5, dtype=DTYPE), 1.0),
        (
            "linear, no bias, prior 0.7",
            BayesLinear(5, 3, bias=False, init_std=0.3, prior=NormalPrior(0.7)),
            torch.randn(7, 5, dtype=DTYPE),
            0.7,
        ),
        (
            "replicas",
            BayesLinear(4, 2, init_std=0.2, batch_shape=(2,), prior=NormalPrior(sigmas)),
            torch.randn(2, 6, 4, dtype=DTYPE),
            sigmas,
        ),
        (
            "conv",
            BayesConv2d(2, 3, 3, padding=1, init_std=0.2),
            torch.randn(2, 2, 5, 5, dtype=DTYPE),
            1.0,
        ),
    ]


def gradients(layer, x: torch.Tensor, loss) -> list[torch.Tensor]:
    tensors = [x, *layer.parameters()]
    for t in tensors:
        t.grad = None
    loss().backward()
    return [t.grad.clone() for t in tensors]


@pytest.mark.parametrize("estimator", ["weight", "local", "flipout"])
@pytest.mark.parametrize("case", range(4))
def test_fused_draw_and_kl_equal_the_plain_formulas(estimator: str, case: int) -> None:
    name, layer, x, sigma = layers()[case]
    layer = layer.to(DTYPE)
    layer.estimator = estimator
    x.requires_grad_()
    torch.manual_seed(5)
    weights = torch.randn(layer(x).shape, dtype=DTYPE)

    def fused() -> torch.Tensor:
        torch.manual_seed(1)
        return (layer(x) * weights).sum() + layer.kl().sum()

    def plain() -> torch.Tensor:
        torch.manual_seed(1)
        return (plain_forward(layer, x) * weights).sum() + plain_kl(layer, sigma).sum()

    torch.testing.assert_close(fused(), plain(), rtol=1e-12, atol=0)
    for got, want in zip(gradients(layer, x, fused), gradients(layer, x, plain), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12, msg=name)


@pytest.mark.parametrize("estimator", ["weight", "local", "flipout"])
def test_the_likelihood_and_the_kl_differentiate_apart_in_either_order(estimator: str) -> None:
    layer = BayesLinear(4, 3, estimator=estimator, init_std=0.3).to(DTYPE)
    x = torch.randn(6, 4, dtype=DTYPE)

    def run(order: str) -> list[torch.Tensor]:
        for p in layer.parameters():
            p.grad = None
        torch.manual_seed(2)
        likelihood = layer(x).square().sum()
        kl = layer.kl()
        if order == "together":
            (likelihood + kl).backward()
        elif order == "likelihood first":
            likelihood.backward()
            kl.backward()
        else:
            kl.backward()
            likelihood.backward()
        return [p.grad.clone() for p in layer.parameters()]

    together = run("together")
    for order in ("likelihood first", "kl first"):
        for got, want in zip(run(order), together, strict=True):
            torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-14)


def test_the_cached_kl_is_used_once_and_never_stale() -> None:
    layer = BayesLinear(4, 3, init_std=0.3).to(DTYPE)
    x = torch.randn(5, 4, dtype=DTYPE)
    fresh = lambda: plain_kl(layer, 1.0)  # noqa: E731
    layer(x)
    first, second = layer.kl(), layer.kl()  # the cached one, then one computed anew
    assert first.grad_fn is not second.grad_fn
    torch.testing.assert_close(first, second, rtol=1e-13, atol=0)
    # a parameter updated in place (an optimizer step) after the forward
    layer(x)
    with torch.no_grad():
        layer.weight_rho.add_(0.5)
    torch.testing.assert_close(layer.kl(), fresh(), rtol=1e-13, atol=0)
    # a new prior, or a new scale of the same prior
    layer(x)
    layer.prior = NormalPrior(3.0)
    torch.testing.assert_close(layer.kl(), plain_kl(layer, 3.0), rtol=1e-13, atol=0)
    layer(x)
    layer.prior.sigma = 0.25
    torch.testing.assert_close(layer.kl(), plain_kl(layer, 0.25), rtol=1e-13, atol=0)
    # a forward without gradients caches nothing; a KL asked for without them is not reused
    layer.prior = NormalPrior(1.0)
    with torch.no_grad():
        layer(x)
    assert layer.kl().requires_grad
    layer(x)
    with torch.no_grad():
        assert not layer.kl().requires_grad
    assert layer.kl().requires_grad


def test_an_in_place_change_before_the_backward_raises() -> None:
    layer = BayesLinear(3, 2, estimator="weight")
    loss = layer(torch.randn(4, 3)).sum() + layer.kl()
    with torch.no_grad():
        layer.weight_rho.add_(1.0)
    with pytest.raises(RuntimeError, match="modified in place"):
        loss.backward()


def test_a_scale_mixture_prior_keeps_its_monte_carlo_kl() -> None:
    layer = BayesLinear(3, 2, prior=ScaleMixturePrior(0.5, 1.0, 0.01))
    layer(torch.randn(4, 3))
    assert layer._kl_cache is None
    torch.manual_seed(0)
    first = layer.kl()
    torch.manual_seed(0)
    torch.testing.assert_close(first, layer.kl())


def test_local_std_skips_the_power_of_two_scaling_only_where_it_changes_nothing() -> None:
    """Rows from 1e-9 to 1e9 need no scaling (in float32 their squares are normal numbers);
    the result is the scaled computation's; one row beyond 2^32 brings the scaling back."""
    from reparam.bayes.layers import example_top, needs_no_scale, power_of_two, std_from_variance

    layer = BayesLinear(4, 3, init_std=0.1)
    x = torch.randn(6, 4) * torch.tensor([1e-9, 1e-3, 1.0, 1e3, 1e9, 1.0]).unsqueeze(1)
    bias_sigma = layer.bias_sigma
    top = example_top(x, -1, bias_sigma.amax(-1, keepdim=True))
    assert needs_no_scale(top)
    scale = power_of_two(top)
    scaled = x / scale
    var = torch.addcmul(
        F.linear(scaled * scaled, layer.weight_sigma**2), bias_sigma / scale, bias_sigma / scale
    )
    torch.testing.assert_close(layer.local_std(x), std_from_variance(var, scale), rtol=1e-6, atol=0)
    assert not needs_no_scale(
        example_top(x * torch.tensor([[1.0], [1.0], [1.0], [1.0], [1e2], [1.0]]), -1)
    )


def test_a_layer_with_a_cached_kl_copies_and_pickles() -> None:
    import copy
    import io

    layer = BayesLinear(3, 2)
    layer(torch.randn(4, 3))
    twin = copy.deepcopy(layer)
    assert twin._kl_cache is None and layer._kl_cache is not None
    buffer = io.BytesIO()
    torch.save(layer, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=False)
    torch.testing.assert_close(loaded.kl(), layer.kl())

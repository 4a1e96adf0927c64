"""A property-based sweep of ``reparam.bayes`` on extreme but valid inputs: posterior μ from
−1e4 to 1e4 and ρ from −1e4 to 30 (σ = softplus(ρ) from 0 in floating point to 30), prior
scales from 1e-30 to 1e30 (1e-15 to 1e15 in float32, where the KL and its gradient, up to
(μ/σ)² ≈ 1e38, are still float32 numbers), inputs scaled 1e-30…1e30, empty batches, replicas,
one-sample predictives, variational dropout rates from e^-1e4 to 1. Every value and every
gradient is finite."""

from __future__ import annotations

import math

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reparam.bayes import (
    ESTIMATORS,
    BayesConv2d,
    BayesLinear,
    NormalPrior,
    ScaleMixturePrior,
    VariationalDropoutLinear,
    kl,
    kl_weights,
    predict,
)
from reparam.models import BayesMLP

DTYPES = st.sampled_from([torch.float32, torch.float64])
MU = st.one_of(st.floats(-1e4, 1e4), st.sampled_from([-1e4, 0.0, 1e4]))
RHO = st.one_of(st.floats(-1e4, 30), st.sampled_from([-1e4, -800.0, -100.0, -89.0, 30.0]))


def examples(ci: int) -> int:
    """``ci`` examples under the CI profile (40 by default), as many more under a longer one."""
    return max(1, ci * settings.default.max_examples // 40)


FAST = settings(max_examples=examples(25), suppress_health_check=[HealthCheck.too_slow])


def finite(*tensors: torch.Tensor | None) -> bool:
    return all(t is None or bool(torch.isfinite(t).all()) for t in tensors)


def scale(draw, dtype, low: float = -30, high: float = 30) -> float:
    """10^e, with the exponent range cut to ±15 for float32 prior scales (see the module)."""
    return 10.0 ** draw(st.floats(low, high))


@st.composite
def priors(draw, dtype):
    low, high = (-15, 15) if dtype == torch.float32 else (-30, 30)
    if draw(st.booleans()):
        return NormalPrior(scale(draw, dtype, low, high))
    pi = draw(st.floats(1e-6, 1 - 1e-6))
    return ScaleMixturePrior(pi, scale(draw, dtype, low, high), scale(draw, dtype, low, high))


def fill(layer: BayesLinear | BayesConv2d, mus: list[float], rhos: list[float]) -> None:
    """The layer's μ and ρ (weights and biases) cycled through the drawn values."""
    with torch.no_grad():
        for name, values in (("mu", mus), ("rho", rhos)):
            for parameter in (getattr(layer, f"weight_{name}"), getattr(layer, f"bias_{name}")):
                if parameter is not None:
                    flat = torch.tensor(values, dtype=torch.float64)
                    parameter.copy_(
                        flat.repeat(parameter.numel() // len(values) + 1)[
                            : parameter.numel()
                        ].view_as(parameter)
                    )


@FAST
@given(
    dtype=DTYPES,
    data=st.data(),
    mus=st.lists(MU, min_size=1, max_size=4),
    rhos=st.lists(RHO, min_size=1, max_size=4),
    replicas=st.sampled_from([(), (2,)]),
)
def test_kl_and_its_gradients_are_finite(dtype, data, mus, rhos, replicas) -> None:
    prior = data.draw(priors(dtype))
    layer = BayesLinear(3, 2, prior=prior, batch_shape=replicas).to(dtype)
    fill(layer, mus, rhos)
    value = kl(torch.nn.Sequential(layer))
    assert value.shape == replicas
    value.sum().backward()
    assert finite(value, layer.weight_mu.grad, layer.weight_rho.grad, layer.bias_rho.grad)


@FAST
@given(
    dtype=DTYPES,
    estimator=st.sampled_from(ESTIMATORS),
    x_scale=st.floats(-30, 30),
    mus=st.lists(MU, min_size=1, max_size=3),
    rhos=st.lists(RHO, min_size=1, max_size=3),
    batch=st.sampled_from([0, 1, 3]),
    replicas=st.sampled_from([(), (2,)]),
    bias=st.booleans(),
)
def test_linear_forward_and_gradients_are_finite(
    dtype, estimator, x_scale, mus, rhos, batch, replicas, bias
) -> None:
    layer = BayesLinear(3, 2, bias, estimator=estimator, batch_shape=replicas).to(dtype)
    fill(layer, mus, rhos)
    x = (torch.randn(*replicas, batch, 3, dtype=dtype) * 10.0**x_scale).requires_grad_()
    out = layer(x)
    assert out.shape == (*replicas, batch, 2)
    out.sum().backward()
    assert finite(out, x.grad, layer.weight_mu.grad, layer.weight_rho.grad)


@FAST
@given(
    dtype=DTYPES,
    estimator=st.sampled_from(ESTIMATORS),
    x_scale=st.floats(-30, 30),
    rhos=st.lists(RHO, min_size=1, max_size=3),
    batch=st.sampled_from([0, 1, 2]),
)
def test_conv_forward_and_gradients_are_finite(dtype, estimator, x_scale, rhos, batch) -> None:
    layer = BayesConv2d(2, 3, 3, padding=1, estimator=estimator).to(dtype)
    fill(layer, [0.5, -1.0], rhos)
    x = (torch.randn(batch, 2, 4, 4, dtype=dtype) * 10.0**x_scale).requires_grad_()
    out = layer(x)
    assert out.shape == (batch, 3, 4, 4)
    out.sum().backward()
    assert finite(out, x.grad, layer.weight_mu.grad, layer.weight_rho.grad)


@FAST
@given(
    dtype=DTYPES,
    kind=st.sampled_from(["A", "B"]),
    log_alpha=st.floats(-1e4, 1e4),
    x_scale=st.floats(-30, 30),
    batch=st.sampled_from([0, 1, 3]),
)
def test_variational_dropout_is_finite(dtype, kind, log_alpha, x_scale, batch) -> None:
    layer = VariationalDropoutLinear(3, 2, kind=kind).to(dtype)
    with torch.no_grad():
        layer.log_alpha.fill_(log_alpha)
    x = (torch.randn(batch, 3, dtype=dtype) * 10.0**x_scale).requires_grad_()
    out = layer(x)
    (out.sum() + layer.kl()).backward()
    assert finite(out, layer.kl(), x.grad, layer.log_alpha.grad, layer.linear.weight.grad)


@FAST
@given(
    task=st.sampled_from(["regression", "classification"]),
    samples=st.sampled_from([1, 2, 7]),
    batch=st.sampled_from([0, 1, 4]),
    logit_scale=st.floats(-30, 4),
    replicas=st.sampled_from([(), (3,)]),
)
def test_predictive_is_finite(task, samples, batch, logit_scale, replicas) -> None:
    outputs = 1 if task == "regression" else 4
    model = BayesMLP([2, 5, outputs], task=task, batch_shape=replicas)
    with torch.no_grad():
        model.layers[-1].weight_mu.mul_(10.0**logit_scale)
    p = predict(model, torch.randn(*replicas, batch, 2), samples=samples)
    values = (p.mean, p.variance) if task == "regression" else (p.probs, p.entropy)
    assert finite(*values)
    if task == "classification":
        assert finite(p.mutual_information) and (p.mutual_information >= 0).all()


@settings(max_examples=examples(20))
@given(batches=st.integers(1, 3000), scheme=st.sampled_from(["uniform", "blundell"]))
def test_kl_weights_are_a_distribution(batches: int, scheme: str) -> None:
    weights = kl_weights(batches, scheme)
    assert weights.shape == (batches,) and (weights >= 0).all()
    assert math.isclose(float(weights.sum()), 1.0, rel_tol=1e-12)

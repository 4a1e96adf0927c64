import pytest
import torch
from torch.distributions import Bernoulli, Binomial, Categorical, Normal, OneHotCategorical, Poisson

import reparam as rp
from reparam.estimators import Enumerate


def check_exact(make_q, params: torch.Tensor, f, closed_form) -> None:
    leaf = params.clone().requires_grad_()
    value = rp.expect(f, make_q(leaf), estimator="enumerate")
    value.sum().backward()
    oracle = params.clone().requires_grad_()
    expected = closed_form(oracle)
    expected.sum().backward()
    torch.testing.assert_close(value, expected.detach(), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(leaf.grad, oracle.grad, rtol=1e-12, atol=1e-12)


def test_bernoulli() -> None:
    check_exact(
        lambda p: Bernoulli(probs=p),
        torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64),
        lambda z: (z - 0.3) ** 2,
        lambda p: p * 0.49 + (1 - p) * 0.09,
    )


def test_categorical_batched() -> None:
    def closed_form(logits: torch.Tensor) -> torch.Tensor:
        return (logits.softmax(-1) * torch.arange(5, dtype=logits.dtype).exp()).sum(-1)

    check_exact(
        lambda logits: Categorical(logits=logits),
        torch.randn(2, 3, 5, dtype=torch.float64),
        lambda z: z.double().exp(),
        closed_form,
    )


def test_one_hot_categorical() -> None:
    weights = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    check_exact(
        lambda logits: OneHotCategorical(logits=logits),
        torch.randn(4, 3, dtype=torch.float64),
        lambda z: (z * weights).sum(-1) ** 2,
        lambda logits: (logits.softmax(-1) * weights**2).sum(-1),
    )


def test_binomial() -> None:
    check_exact(
        lambda p: Binomial(total_count=6, probs=p),
        torch.tensor([0.2, 0.6], dtype=torch.float64),
        lambda z: z,
        lambda p: 6 * p,
    )


def test_refuses_continuous_infinite_and_large_supports() -> None:
    with pytest.raises(ValueError, match="continuous: use 'pathwise'"):
        rp.expect(lambda z: z, Normal(0.0, 1.0), estimator="enumerate")
    with pytest.raises(ValueError, match=r"infinite or not enumerable.*'score'"):
        rp.expect(lambda z: z, Poisson(torch.tensor(3.0)), estimator="enumerate")
    with pytest.raises(ValueError, match="more than max_support=100"):
        rp.expect(
            lambda z: z.float(), Categorical(logits=torch.zeros(101)), estimator=Enumerate(100)
        )

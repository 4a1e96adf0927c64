"""Replicas in one batched pass: a stacked layer computes what its replicas' linear layers
would, SGD on the rate-weighted sum of their losses is SGD at each replica's own rate, and
the bad inputs are refused by name."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from reparam.models.networks import mlp
from reparam.models.replicas import (
    StackedLinear,
    finite_replicas,
    replica_count,
    stack,
    unstack,
)


def perturbed(replicas: int) -> tuple[nn.Module, nn.Module]:
    """A small MLP and its stack, each replica's weights moved apart."""
    torch.manual_seed(0)
    model = mlp([5, 4, 3], activation=nn.ReLU, last=False)
    stacked = stack(model, replicas)
    with torch.no_grad():
        for p in stacked.parameters():
            p.add_(torch.randn_like(p))
    return model, stacked


@pytest.mark.parametrize("lead", [(), (3,), (2, 3)])
def test_a_stack_computes_what_its_replicas_do(lead: tuple[int, ...]) -> None:
    _, stacked = perturbed(4)
    x = torch.randn(*lead, 4, 6, 5, dtype=torch.float64)
    stacked = stacked.double()
    y = stacked(x)
    assert y.shape == (*lead, 4, 6, 3)
    for r in range(4):
        assert torch.allclose(unstack(stacked, r)(x[..., r, :, :]), y[..., r, :, :], atol=1e-12)


def test_the_gradients_of_a_stack_are_its_replicas() -> None:
    _, stacked = perturbed(3)
    x = torch.randn(3, 6, 5)
    stacked(x).square().sum().backward()
    for r in range(3):
        plain = unstack(stacked, r)
        plain(x[r]).square().sum().backward()
        first = plain[0]
        assert torch.allclose(first.weight.grad, stacked[0].weight.grad[r], atol=1e-5)
        assert torch.allclose(first.bias.grad, stacked[0].bias.grad[r], atol=1e-5)


def test_sgd_on_the_weighted_sum_is_sgd_at_each_rate() -> None:
    """Momentum SGD at rate 1 on sum_r lr_r L_r, 20 steps, equals momentum SGD at lr_r on each
    replica alone, from the same start."""
    torch.manual_seed(1)
    model = mlp([5, 4, 1], activation=nn.Tanh, last=False).double()
    rates = (0.3, 0.03, 0.003)
    stacked = stack(model, len(rates))
    plains = [unstack(stacked, r) for r in range(len(rates))]
    x, y = torch.randn(8, 5, dtype=torch.float64), torch.randn(8, 1, dtype=torch.float64)
    together = torch.optim.SGD(stacked.parameters(), lr=1.0, momentum=0.9)
    alone = [
        torch.optim.SGD(p.parameters(), lr=r, momentum=0.9)
        for p, r in zip(plains, rates, strict=True)
    ]
    weights = torch.tensor(rates, dtype=torch.float64)
    for _ in range(20):
        losses = (stacked(x.expand(3, 8, 5)) - y).square().mean((-2, -1))
        together.zero_grad()
        (weights * losses).sum().backward()
        together.step()
        for plain, optimizer in zip(plains, alone, strict=True):
            optimizer.zero_grad()
            (plain(x) - y).square().mean().backward()
            optimizer.step()
    for r, plain in enumerate(plains):
        mine = unstack(stacked, r).state_dict()
        for name, value in plain.state_dict().items():
            assert torch.allclose(mine[name], value, atol=1e-12), (r, name)
    # and the rates did matter: the replicas moved apart
    assert not torch.allclose(stacked[0].weight[0], stacked[0].weight[2])


def test_replicas_start_equal_and_are_counted() -> None:
    model = nn.Linear(3, 2)
    stacked = stack(model, 5)
    assert replica_count(stacked) == 5 and replica_count(model) is None
    assert all(torch.equal(stacked.weight[r], model.weight) for r in range(5))
    assert isinstance(stacked, StackedLinear) and "replicas=5" in repr(stacked)


def test_a_replica_that_is_not_finite_is_found() -> None:
    _, stacked = perturbed(3)
    with torch.no_grad():
        stacked[2].bias[1, 0] = float("nan")
    assert finite_replicas(stacked).tolist() == [True, False, True]


def test_bad_inputs_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"0\.weight, 0\.bias would be shared"):
        stack(nn.Sequential(nn.LayerNorm(3), nn.Linear(3, 2)), 2)
    with pytest.raises(ValueError, match="replicas"):
        stack(nn.Linear(3, 2), 0)
    stacked = stack(nn.Linear(3, 2), 4)
    with pytest.raises(ValueError, match=r"inputs \[\*, 4, B, 3\].*got \[5, 3\]"):
        stacked(torch.randn(5, 3))
    with pytest.raises(ValueError, match=r"got \[2, 5, 3\]"):
        stacked(torch.randn(2, 5, 3))
    with pytest.raises(ValueError, match="index must be a replica, 0 to 3; got 4"):
        unstack(stacked, 4)
    with pytest.raises(ValueError, match="no stacked layers"):
        unstack(nn.Linear(3, 2), 0)

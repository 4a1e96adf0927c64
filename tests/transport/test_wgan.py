"""WGAN critics: the KR objective, weight clipping, the gradient penalty and a short training run."""

import math

import pytest
import torch
from torch import nn

from reparam.transport.wgan import (
    CRITIC_CONSTRAINTS,
    clip_weights_,
    critic_loss,
    critic_step,
    generator_loss,
    gradient_penalty,
    lipschitz_estimate,
)


class Tanh1(nn.Module):
    """f(x) = w2ᵀ tanh(W1 x + b1) + b2, with its input gradient written out by hand."""

    def __init__(self, d: int, h: int) -> None:
        super().__init__()
        self.l1 = nn.Linear(d, h, dtype=torch.float64)
        self.l2 = nn.Linear(h, 1, dtype=torch.float64)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.l2(torch.tanh(self.l1(x)))

    def input_grad(self, x: torch.Tensor) -> torch.Tensor:
        s = 1 - torch.tanh(self.l1(x)).square()  # [batch, h]
        return (s * self.l2.weight) @ self.l1.weight  # [batch, d]


def test_penalty_gradient_matches_hand_written_penalty() -> None:
    critic = Tanh1(3, 5)
    real, fake = torch.randn(7, 3, dtype=torch.float64), torch.randn(7, 3, dtype=torch.float64)
    t = torch.rand(7, dtype=torch.float64)
    lam = 2.5

    penalty = gradient_penalty(critic, real, fake, lam=lam, t=t)
    got = torch.autograd.grad(penalty, list(critic.parameters()), allow_unused=True)

    x_hat = t[:, None] * real + (1 - t[:, None]) * fake
    norms = critic.input_grad(x_hat).norm(dim=1)
    expected_penalty = lam * ((norms - 1) ** 2).mean()
    # l2.bias does not enter the input gradient
    params = [critic.l1.weight, critic.l1.bias, critic.l2.weight]
    expected = torch.autograd.grad(expected_penalty, params)

    torch.testing.assert_close(penalty, expected_penalty, rtol=1e-12, atol=1e-12)
    names = [n for n, _ in critic.named_parameters()]
    assert names == ["l1.weight", "l1.bias", "l2.weight", "l2.bias"]
    for g, e in zip(got[:3], expected, strict=True):
        torch.testing.assert_close(g, e, rtol=1e-10, atol=1e-12)
    assert got[3] is None or torch.all(got[3] == 0)


def test_seeded_generator_reproduces_t() -> None:
    critic = Tanh1(2, 4)
    real, fake = torch.randn(6, 2, dtype=torch.float64), torch.randn(6, 2, dtype=torch.float64)
    a = gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(3))
    t = torch.rand(6, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    b = gradient_penalty(critic, real, fake, t=t)
    torch.testing.assert_close(a, b, rtol=0, atol=0)


class LinearCritic(nn.Module):
    """f(x) = Σ w ⊙ x over the example's dims (any shape)."""

    def __init__(self, w: torch.Tensor) -> None:
        super().__init__()
        self.w = nn.Parameter(w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x * self.w).flatten(1).sum(1)


@pytest.mark.parametrize("shape", [(4,), (2, 3, 3)])
def test_linear_critic_penalty_and_lipschitz(shape: tuple[int, ...]) -> None:
    w = torch.randn(shape, dtype=torch.float64)
    critic = LinearCritic(w.clone())
    real = torch.randn(5, *shape, dtype=torch.float64)
    fake = torch.randn(5, *shape, dtype=torch.float64)
    norm = w.norm()
    penalty = gradient_penalty(critic, real, fake, lam=10.0)
    torch.testing.assert_close(penalty, 10.0 * (norm - 1) ** 2, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(lipschitz_estimate(critic, real, fake), norm, rtol=1e-12, atol=0)
    # penalty gradient w.r.t. w: 2λ(‖w‖ − 1) w/‖w‖
    (g,) = torch.autograd.grad(penalty, [critic.w])
    torch.testing.assert_close(g, 20.0 * (norm - 1) * w / norm, rtol=1e-10, atol=1e-12)


def test_unit_linear_critic_has_no_penalty() -> None:
    critic = nn.Linear(2, 1, bias=False)
    critic.weight.data.copy_(torch.tensor([[0.6, -0.8]]))
    penalty = gradient_penalty(critic, torch.randn(9, 2), torch.randn(9, 2))
    assert abs(penalty.item()) < 1e-10


@pytest.mark.parametrize("c", [0.01, 0.1, 0.5])
def test_clipping_bounds_weights_and_lipschitz(c: float) -> None:
    d, h = 6, 16
    critic = nn.Sequential(nn.Linear(d, h), nn.ReLU(), nn.Linear(h, 1))
    for p in critic.parameters():
        p.data.mul_(50.0)
    assert max(p.abs().max().item() for p in critic.parameters()) > c
    assert clip_weights_(critic, c) is critic
    for p in critic.parameters():
        assert (p.abs() <= c).all()  # c rounded to the parameters' dtype
    # ‖∇f‖ ≤ ‖W1‖_op ‖w2‖ ≤ ‖W1‖_F ‖w2‖_F ≤ c√(hd) · c√h
    bound_frob = (critic[0].weight.norm() * critic[2].weight.norm()).item()
    assert bound_frob <= c * math.sqrt(h * d) * c * math.sqrt(h) * (1 + 1e-6)  # float32
    real, fake = 3 * torch.randn(200, d), 3 * torch.randn(200, d)
    assert float(lipschitz_estimate(critic, real, fake)) <= bound_frob * (1 + 1e-5)


def test_critic_loss_point_masses() -> None:
    critic = nn.Linear(1, 1, bias=False)
    critic.weight.data.fill_(-1.0)  # f(x) = −x, 1-Lipschitz, optimal for δ0 vs δ3
    real, fake = torch.zeros(5, 1), torch.full((3, 1), 3.0)
    assert -critic_loss(critic, real, fake).item() == pytest.approx(3.0)
    assert generator_loss(critic, fake).item() == pytest.approx(3.0)


def test_critic_loss_equal_covariance_gaussians() -> None:
    # W1 between N(μ, I) and N(μ + δ, I) is ‖δ‖, attained by f(x) = −δᵀx / ‖δ‖.
    delta = torch.tensor([3.0, -4.0, 12.0], dtype=torch.float64)
    critic = nn.Linear(3, 1, bias=False, dtype=torch.float64)
    critic.weight.data.copy_(-(delta / delta.norm())[None])
    noise = torch.randn(1000, 3, dtype=torch.float64)
    real, fake = noise, noise + delta  # common noise: the estimate is exact
    assert -critic_loss(critic, real, fake).item() == pytest.approx(13.0, rel=1e-12)


def test_gp_training_estimates_w1() -> None:
    torch.manual_seed(0)
    critic = nn.Sequential(nn.Linear(1, 32), nn.Tanh(), nn.Linear(32, 1))
    opt = torch.optim.Adam(critic.parameters(), lr=1e-2, betas=(0.5, 0.9))
    for _ in range(300):
        real, fake = torch.randn(128, 1), torch.randn(128, 1) + 2.0
        stats = critic_step(critic, opt, real, fake, lipschitz="gp", lam=10.0)
    assert set(stats) == {"loss", "w1", "penalty"}
    real, fake = torch.randn(20000, 1), torch.randn(20000, 1) + 2.0
    w1 = -critic_loss(critic, real, fake).item()
    assert abs(w1 - 2.0) < 0.3, w1
    assert abs(float(lipschitz_estimate(critic, real[:2000], fake[:2000])) - 1.0) < 0.3


def test_clip_step_clips() -> None:
    critic = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 1))
    opt = torch.optim.SGD(critic.parameters(), lr=1.0)
    stats = critic_step(critic, opt, torch.randn(16, 2), torch.randn(16, 2) + 1, "clip", c=0.02)
    assert stats["penalty"] == 0.0 and stats["loss"] == pytest.approx(-stats["w1"])
    assert all((p.abs() <= 0.02).all() for p in critic.parameters())


def test_bad_inputs_raise() -> None:
    critic = nn.Linear(2, 1)
    x = torch.randn(4, 2)
    assert CRITIC_CONSTRAINTS == ("clip", "gp")
    with pytest.raises(ValueError, match="positive"):
        clip_weights_(critic, 0.0)
    with pytest.raises(ValueError, match="positive"):
        clip_weights_(critic, -1.0)
    with pytest.raises(ValueError, match="same shape"):
        gradient_penalty(critic, x, torch.randn(3, 2))
    with pytest.raises(ValueError, match="non-negative"):
        gradient_penalty(critic, x, x, lam=-1.0)
    with pytest.raises(ValueError, match="t must have shape"):
        gradient_penalty(critic, x, x, t=torch.rand(3))
    with pytest.raises(ValueError, match="same shape"):
        lipschitz_estimate(critic, x, torch.randn(4, 3))
    with pytest.raises(ValueError, match="same shape"):
        critic_loss(nn.Linear(3, 1), x, torch.randn(4, 3))
    with pytest.raises(ValueError, match="one value per example"):
        critic_loss(nn.Linear(2, 2), x, x)
    with pytest.raises(ValueError, match="non-empty"):
        gradient_penalty(critic, torch.zeros(0, 2), torch.zeros(0, 2))
    opt = torch.optim.SGD(critic.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="unknown Lipschitz"):
        critic_step(critic, opt, x, x, lipschitz="spectral")
    with pytest.raises(ValueError, match="positive"):
        critic_step(critic, opt, x, x, lipschitz="clip", c=0.0)

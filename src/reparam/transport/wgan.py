r"""Wasserstein GAN critics: the Kantorovich–Rubinstein objective and its Lipschitz constraint.

The Wasserstein-1 distance has the dual form (Kantorovich–Rubinstein; Villani 2009, Thm 5.10
and Remark 6.5)

.. math:: W_1(P, Q) = \sup_{\|f\|_L \le 1} \mathbb E_{x \sim P} f(x) - \mathbb E_{y \sim Q} f(y),

so a critic network :math:`f` trained to maximise :math:`\mathbb E_P f - \mathbb E_Q f` over a
set of (roughly) 1-Lipschitz functions estimates :math:`W_1` between the data :math:`P` and the
generator's distribution :math:`Q`, and the generator minimises :math:`-\mathbb E_Q f`, whose
gradient is that of :math:`W_1` (Arjovsky et al. 2017, Thm 3). Two ways to keep :math:`f`
Lipschitz:

- ``"clip"``: clamp every weight to :math:`[-c, c]` after each critic step (Arjovsky et al.
  2017). A network with bounded weights is :math:`K`-Lipschitz for some :math:`K` that depends on
  :math:`c` and the architecture (for ``Linear`` layers and 1-Lipschitz activations,
  :math:`K \le \prod_l \|W_l\|_{op} \le \prod_l \|W_l\|_F \le \prod_l c\sqrt{m_l n_l}`), so the
  critic estimates :math:`K\,W_1` rather than :math:`W_1` — the same gradient direction, not the
  same scale;
- ``"gp"``: the gradient penalty :math:`λ\,\mathbb E_{\hat x}(\|\nabla_{\hat x} f(\hat x)\|_2-1)^2`
  at random interpolates :math:`\hat x = t x + (1-t) y` (Gulrajani et al. 2017), a soft version of
  the fact that the optimal critic has unit gradient norm on the segments between coupled points.

References:
    Villani (2009), Optimal transport: old and new.
    Arjovsky, Chintala & Bottou (2017), Wasserstein GAN.
    Gulrajani, Ahmed, Arjovsky, Dumoulin & Courville (2017), Improved training of Wasserstein
    GANs.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

CRITIC_CONSTRAINTS = ("clip", "gp")


def _scores(critic: nn.Module, x: Tensor) -> Tensor:
    """The critic's values on a batch, one per example, shape ``[batch]``."""
    out = critic(x)
    if out.numel() != x.shape[0]:
        raise ValueError(
            f"the critic must return one value per example: got output shape "
            f"{tuple(out.shape)} for a batch of {x.shape[0]}"
        )
    return out.reshape(x.shape[0])


def _check_pair(real: Tensor, fake: Tensor) -> None:
    if real.shape != fake.shape:
        raise ValueError(
            f"real and fake batches must have the same shape, got {tuple(real.shape)} and "
            f"{tuple(fake.shape)}"
        )
    if real.dim() < 1 or real.shape[0] == 0:
        raise ValueError(f"expected a non-empty batch [batch, ...], got shape {tuple(real.shape)}")


def critic_loss(critic: nn.Module, real: Tensor, fake: Tensor) -> Tensor:
    r"""The critic's loss, the negated Kantorovich–Rubinstein objective

    .. math:: -\big(\mathbb E_{\text{real}} f - \mathbb E_{\text{fake}} f\big)
              = \mathbb E f(\text{fake}) - \mathbb E f(\text{real}),

    minimised by the critic; its negation is the :math:`W_1` estimate. The two batches may have
    different sizes but must have the same example shape.

    >>> critic = nn.Linear(1, 1, bias=False)
    >>> _ = critic.weight.data.fill_(-1.0)  # f(x) = -x, 1-Lipschitz
    >>> -critic_loss(critic, torch.zeros(4, 1), torch.full((4, 1), 3.0))  # W1(δ0, δ3) = 3
    tensor(3., grad_fn=<NegBackward0>)
    """
    if real.shape[1:] != fake.shape[1:]:
        raise ValueError(
            f"real and fake examples must have the same shape, got {tuple(real.shape[1:])} and "
            f"{tuple(fake.shape[1:])}"
        )
    return _scores(critic, fake).mean() - _scores(critic, real).mean()


def generator_loss(critic: nn.Module, fake: Tensor) -> Tensor:
    r"""The generator's loss :math:`-\mathbb E f(\text{fake})` (the real term of the critic
    objective does not depend on the generator)."""
    return -_scores(critic, fake).mean()


def clip_weights_(critic: nn.Module, c: float = 0.01) -> nn.Module:
    r"""Clamp every parameter of ``critic`` to :math:`[-c, c]` in place (Arjovsky et al. 2017,
    Algorithm 1, :math:`c = 0.01`); returns the critic.

    Bounded weights make the network :math:`K`-Lipschitz for some :math:`K(c,\text{architecture})`,
    not 1-Lipschitz; too small a :math:`c` makes gradients vanish, too large makes the critic slow
    to train (the paper's own caveat).

    >>> critic = clip_weights_(nn.Linear(3, 2), c=0.05)
    >>> all(p.abs().max() <= 0.05 for p in critic.parameters())
    True
    """
    if not c > 0:
        raise ValueError(f"the clipping bound c must be positive, got {c}")
    with torch.no_grad():
        for p in critic.parameters():
            p.clamp_(-c, c)
    return critic


def _interpolates(
    real: Tensor, fake: Tensor, t: Tensor | None, generator: torch.Generator | None
) -> Tensor:
    r""":math:`\hat x = t\,\text{real} + (1-t)\,\text{fake}`, one :math:`t \sim U(0,1)` per example
    broadcast over the other dimensions; detached, with ``requires_grad``."""
    _check_pair(real, fake)
    batch = real.shape[0]
    if t is None:
        t = torch.rand(batch, generator=generator, dtype=real.dtype, device=real.device)
    elif t.shape != (batch,):
        raise ValueError(f"t must have shape ({batch},), one per example, got {tuple(t.shape)}")
    t = t.to(real).reshape(batch, *([1] * (real.dim() - 1)))
    return (t * real.detach() + (1 - t) * fake.detach()).requires_grad_(True)


def _grad_norms(critic: nn.Module, x_hat: Tensor, create_graph: bool) -> Tensor:
    """Per-example ‖∇_x f(x̂)‖₂, shape ``[batch]`` (examples must not interact in the critic:
    no batch norm — Gulrajani et al. use layer norm instead)."""
    (grad,) = torch.autograd.grad(_scores(critic, x_hat).sum(), x_hat, create_graph=create_graph)
    return grad.flatten(1).norm(dim=1)


def gradient_penalty(
    critic: nn.Module,
    real: Tensor,
    fake: Tensor,
    lam: float = 10.0,
    generator: torch.Generator | None = None,
    t: Tensor | None = None,
) -> Tensor:
    r"""Gulrajani et al.'s (2017, eq. 3) gradient penalty

    .. math:: λ\,\mathbb E_{\hat x}\big(\|\nabla_{\hat x} f(\hat x)\|_2 - 1\big)^2,\qquad
              \hat x = t\,x_{\text{real}} + (1-t)\,x_{\text{fake}},\quad t \sim U(0, 1),

    with one :math:`t` per example (``t`` of shape ``[batch]`` may be given; otherwise drawn with
    ``generator``). The input gradient is taken with ``create_graph=True``, so the penalty is
    differentiable w.r.t. the critic's parameters; the interpolates are detached from
    ``real``/``fake`` (no gradient flows to the generator). Returns a scalar.

    >>> critic = nn.Linear(2, 1, bias=False)
    >>> _ = critic.weight.data.copy_(torch.tensor([[3.0, 4.0]]))  # ‖∇f‖ = 5 everywhere
    >>> gradient_penalty(critic, torch.randn(8, 2), torch.randn(8, 2), lam=1.0)  # (5 - 1)²
    tensor(16., grad_fn=<MulBackward0>)
    """
    if not lam >= 0:
        raise ValueError(f"the penalty weight lam must be non-negative, got {lam}")
    x_hat = _interpolates(real, fake, t, generator)
    return lam * (_grad_norms(critic, x_hat, create_graph=True) - 1).square().mean()


def lipschitz_estimate(
    critic: nn.Module,
    real: Tensor,
    fake: Tensor,
    generator: torch.Generator | None = None,
    t: Tensor | None = None,
) -> Tensor:
    r"""The largest input-gradient norm :math:`\max_{\hat x}\|\nabla_x f(\hat x)\|_2` over random
    interpolates of ``real`` and ``fake`` (a lower bound on the critic's Lipschitz constant near
    the data; the quantity to log during training). No graph is kept; returns a detached scalar.

    >>> critic = nn.Linear(2, 1)
    >>> _ = critic.weight.data.copy_(torch.tensor([[3.0, 4.0]]))
    >>> lipschitz_estimate(critic, torch.randn(8, 2), torch.randn(8, 2))
    tensor(5.)
    """
    x_hat = _interpolates(real, fake, t, generator)
    return _grad_norms(critic, x_hat, create_graph=False).max().detach()


def critic_step(
    critic: nn.Module,
    optimizer: torch.optim.Optimizer,
    real: Tensor,
    fake: Tensor,
    lipschitz: str = "clip",
    c: float = 0.01,
    lam: float = 10.0,
    generator: torch.Generator | None = None,
) -> dict[str, float]:
    r"""One critic update: zero the gradients, loss (+ gradient penalty for ``"gp"``), backward,
    ``optimizer.step()``, then clip the weights for ``"clip"``. ``fake`` is detached.

    Returns ``{"loss": total loss, "w1": -critic_loss (the W1 estimate, before the penalty),
    "penalty": the gradient penalty (0 for "clip")}``.

    >>> critic = nn.Sequential(nn.Linear(1, 8), nn.ReLU(), nn.Linear(8, 1))
    >>> opt = torch.optim.SGD(critic.parameters(), lr=1e-3)
    >>> sorted(critic_step(critic, opt, torch.randn(16, 1), torch.randn(16, 1), "gp"))
    ['loss', 'penalty', 'w1']
    """
    if lipschitz not in CRITIC_CONSTRAINTS:
        raise ValueError(
            f"unknown Lipschitz constraint {lipschitz!r}; choose from {', '.join(CRITIC_CONSTRAINTS)}"
        )
    if lipschitz == "clip" and not c > 0:
        raise ValueError(f"the clipping bound c must be positive, got {c}")
    fake = fake.detach()
    optimizer.zero_grad()
    loss = critic_loss(critic, real, fake)
    if lipschitz == "gp":
        penalty = gradient_penalty(critic, real, fake, lam=lam, generator=generator)
    else:
        penalty = torch.zeros((), dtype=loss.dtype, device=loss.device)
    total = loss + penalty
    total.backward()
    optimizer.step()
    if lipschitz == "clip":
        clip_weights_(critic, c)
    return {"loss": total.item(), "w1": -loss.item(), "penalty": penalty.item()}

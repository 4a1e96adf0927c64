r"""Bayesian layers: a factorized Gaussian posterior over the weights and four gradient
estimators of the expected log-likelihood.

Each weight has :math:`q(w) = N(μ, σ^2)` with :math:`σ = \operatorname{softplus}(ρ)`, sampled as
:math:`w = μ + \operatorname{softplus}(ρ)\,ε` (Blundell et al. 2015). Writing the layer as
:math:`b = \operatorname{op}(a, W)` (a matrix product or a convolution, both linear in W), the
estimators draw the pre-activations b of a minibatch of M examples as:

- ``"weight"``: one W for the whole minibatch (Bayes by Backprop). Cheap, but the examples share
  their noise, so the minibatch gradient's variance keeps a covariance term that does not fall
  with M (Kingma et al. 2015, eq. 6).
- ``"local"``: the local reparameterization trick (Kingma, Salimans & Welling 2015): since b is
  Gaussian given a, draw it directly, :math:`b = \operatorname{op}(a, μ) +
  \sqrt{\operatorname{op}(a^2, σ^2)}\,ζ`, ζ ~ N(0, I) per example — the distribution of a
  separate W per example at the cost of two deterministic passes.
- ``"flipout"``: Flipout (Wen et al. 2018): one perturbation ΔW = σ ⊙ ε, decorrelated across
  examples by random signs, :math:`b_n = \operatorname{op}(a_n, μ) +
  \operatorname{op}(a_n ⊙ s_n, ΔW) ⊙ r_n`; unbiased, each example's marginal is exact.
- ``"separate"``: a separate W per example; the exact but slow baseline of Kingma et al.'s
  Table 1.

References:
    Blundell, Cornebise, Kavukcuoglu & Wierstra (2015), Weight uncertainty in neural networks.
    Kingma, Salimans & Welling (2015), Variational dropout and the local reparameterization trick.
    Wen, Vicol, Ba, Tran & Grosse (2018), Flipout: efficient pseudo-independent weight
    perturbations on mini-batches.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.distributions import Normal

from reparam.bayes.priors import NormalPrior, Prior

ESTIMATORS = ("weight", "local", "flipout", "separate")


def check_estimator(estimator: str) -> str:
    """``estimator``, after checking it is one of ``ESTIMATORS``."""
    if estimator not in ESTIMATORS:
        raise ValueError(
            f"unknown weight-noise estimator {estimator!r}; choose from {', '.join(ESTIMATORS)}"
        )
    return estimator


def inverse_softplus(x: float) -> float:
    """ρ with softplus(ρ) = x."""
    return x + math.log(-math.expm1(-x))


def random_signs(shape: torch.Size, like: Tensor) -> Tensor:
    """Independent ±1 entries of ``shape``, in ``like``'s dtype and device."""
    return torch.randint(0, 2, shape, dtype=like.dtype, device=like.device).mul_(2).sub_(1)


class Bayesian(nn.Module):
    """A module with a posterior over its parameters: ``kl()`` is KL(q ‖ p), summed over its
    parameters, of shape ``batch_shape``; ``reparam.bayes.kl(model)`` adds these up."""

    batch_shape: torch.Size = torch.Size()

    def kl(self) -> Tensor:
        raise NotImplementedError


class BayesLayer(Bayesian):
    """The posterior, the prior and the estimators shared by ``BayesLinear`` and
    ``BayesConv2d``, which say what their linear operation is (``apply``) and how to apply a
    separate weight per example (``apply_per_example``)."""

    def __init__(
        self,
        weight_shape: tuple[int, ...],
        bias: bool,
        estimator: str,
        prior: Prior | None,
        init_std: float,
        batch_shape: tuple[int, ...],
    ) -> None:
        super().__init__()
        if not init_std > 0:
            raise ValueError(f"init_std must be > 0, got {init_std}")
        self.estimator = estimator
        self.prior = prior if prior is not None else NormalPrior(1.0)
        self.batch_shape = torch.Size(batch_shape)
        fan_in = math.prod(weight_shape[1:])
        bound = 1 / math.sqrt(fan_in)
        rho = inverse_softplus(init_std)
        shape = (*batch_shape, *weight_shape)
        self.weight_mu = nn.Parameter(torch.empty(shape).uniform_(-bound, bound))
        self.weight_rho = nn.Parameter(torch.full(shape, rho))
        if bias:
            bias_shape = (*batch_shape, weight_shape[0])
            self.bias_mu = nn.Parameter(torch.empty(bias_shape).uniform_(-bound, bound))
            self.bias_rho = nn.Parameter(torch.full(bias_shape, rho))
        else:
            self.register_parameter("bias_mu", None)
            self.register_parameter("bias_rho", None)

    @property
    def estimator(self) -> str:
        """The estimator's name; assigning another name switches estimator."""
        return self._estimator

    @estimator.setter
    def estimator(self, name: str) -> None:
        self._estimator = check_estimator(name)

    @property
    def weight_sigma(self) -> Tensor:
        return F.softplus(self.weight_rho)

    @property
    def bias_sigma(self) -> Tensor | None:
        return None if self.bias_rho is None else F.softplus(self.bias_rho)

    def posteriors(self) -> list[Normal]:
        """q over the weights and (if present) over the biases."""
        pairs = [(self.weight_mu, self.weight_sigma)]
        if self.bias_mu is not None:
            pairs.append((self.bias_mu, self.bias_sigma))
        return [Normal(mu, sigma, validate_args=False) for mu, sigma in pairs]

    def kl(self) -> Tensor:
        """KL(q ‖ p) summed over the weights and biases: one value per replica."""
        keep = len(self.batch_shape)
        if isinstance(self.prior, NormalPrior):
            total = self.prior.kl_sum(self.weight_mu, self.weight_rho, keep)
            if self.bias_mu is not None:
                total = total + self.prior.kl_sum(self.bias_mu, self.bias_rho, keep)
            return total
        total = torch.zeros(self.batch_shape, device=self.weight_mu.device)
        for q in self.posteriors():
            total = total + self.prior.kl(q).flatten(keep).sum(-1)
        return total

    def sample(self) -> tuple[Tensor, Tensor | None]:
        """One draw of the weights and biases from q."""
        weight = torch.addcmul(self.weight_mu, self.weight_sigma, torch.randn_like(self.weight_mu))
        if self.bias_mu is None:
            return weight, None
        return weight, torch.addcmul(self.bias_mu, self.bias_sigma, torch.randn_like(self.bias_mu))

    def forward(self, x: Tensor) -> Tensor:
        if self.estimator == "weight":
            return self.apply(x, *self.sample())
        if self.estimator == "local":
            mean = self.apply(x, self.weight_mu, self.bias_mu)
            bias_sigma = self.bias_sigma
            bias_var = None if bias_sigma is None else bias_sigma**2
            var = self.apply(x * x, self.weight_sigma**2, bias_var)
            return mean + var.clamp_min(1e-16).sqrt() * torch.randn_like(mean)
        if self.estimator == "flipout":
            mean = self.apply(x, self.weight_mu, self.bias_mu)
            weight_noise = self.weight_sigma * torch.randn_like(self.weight_mu)
            bias_noise = None
            if self.bias_mu is not None:
                bias_noise = self.bias_sigma * torch.randn_like(self.bias_mu)
            signs_in = random_signs(x.shape, x)
            perturbation = self.apply(x * signs_in, weight_noise, bias_noise)
            return mean + perturbation * random_signs(mean.shape, mean)
        return self.apply_per_example(x)

    def apply(self, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        raise NotImplementedError

    def apply_per_example(self, x: Tensor) -> Tensor:
        raise NotImplementedError


class BayesLinear(BayesLayer):
    r"""A fully connected layer :math:`b = a W^\top + c` with a factorized Gaussian posterior
    over W and c (see the module docstring for the estimators).

    Arguments:
        in_features, out_features, bias: as ``nn.Linear``.
        estimator: ``"weight"``, ``"local"`` (default), ``"flipout"`` or ``"separate"``;
            settable later (``layer.estimator = "flipout"``).
        prior: a ``Prior`` (default N(0, 1)).
        init_std: the posterior's initial σ (μ starts as ``nn.Linear``'s weights do).
        batch_shape: independent replicas of the layer (e.g. one per data split), trained side
            by side: parameters are ``[*batch_shape, out, in]`` and inputs
            ``[..., *batch_shape, M, in]``.

    >>> layer = BayesLinear(3, 2, estimator="flipout")
    >>> layer(torch.randn(5, 3)).shape, layer.kl().shape
    (torch.Size([5, 2]), torch.Size([]))
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        *,
        estimator: str = "local",
        prior: Prior | None = None,
        init_std: float = 1e-2,
        batch_shape: tuple[int, ...] = (),
    ) -> None:
        super().__init__((out_features, in_features), bias, estimator, prior, init_std, batch_shape)
        self.in_features, self.out_features = in_features, out_features

    def apply(self, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        if not self.batch_shape:
            return F.linear(x, weight, bias)
        out = x @ weight.mT
        return out if bias is None else out + bias.unsqueeze(-2)

    def apply_per_example(self, x: Tensor) -> Tensor:
        noise = torch.randn(
            (*x.shape[:-1], self.out_features, self.in_features), dtype=x.dtype, device=x.device
        )
        weight = self.weight_mu.unsqueeze(-3) + self.weight_sigma.unsqueeze(-3) * noise
        out = (weight @ x.unsqueeze(-1)).squeeze(-1)
        if self.bias_mu is None:
            return out
        bias_mu, bias_sigma = self.bias_mu.unsqueeze(-2), self.bias_sigma.unsqueeze(-2)
        return out + bias_mu + bias_sigma * torch.randn_like(out)

    def extra_repr(self) -> str:
        return (
            f"{self.in_features}, {self.out_features}, bias={self.bias_mu is not None}, "
            f"estimator={self.estimator!r}, prior={self.prior}, batch_shape={tuple(self.batch_shape)}"
        )


class BayesConv2d(BayesLayer):
    r"""A 2-d convolution with a factorized Gaussian posterior over its kernel and bias.

    Local reparameterization convolves the input with μ and its square with σ²; a separate
    kernel per example runs as one grouped convolution.

    Arguments:
        in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias: as
            ``nn.Conv2d``.
        estimator, prior, init_std: as ``BayesLinear``.

    >>> conv = BayesConv2d(1, 4, 3, padding=1, estimator="local")
    >>> conv(torch.randn(2, 1, 8, 8)).shape
    torch.Size([2, 4, 8, 8])
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        dilation: int | tuple[int, int] = 1,
        groups: int = 1,
        bias: bool = True,
        *,
        estimator: str = "local",
        prior: Prior | None = None,
        init_std: float = 1e-2,
    ) -> None:
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"groups={groups} must divide in_channels and out_channels")
        kernel = nn.modules.utils._pair(kernel_size)
        shape = (out_channels, in_channels // groups, *kernel)
        super().__init__(shape, bias, estimator, prior, init_std, ())
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups

    def apply(self, x: Tensor, weight: Tensor, bias: Tensor | None, groups: int = 0) -> Tensor:
        return F.conv2d(
            x, weight, bias, self.stride, self.padding, self.dilation, groups or self.groups
        )

    def apply_per_example(self, x: Tensor) -> Tensor:
        m = x.shape[0]
        noise = torch.randn((m, *self.weight_mu.shape), dtype=x.dtype, device=x.device)
        weight = (self.weight_mu + self.weight_sigma * noise).flatten(0, 1)
        bias = None
        if self.bias_mu is not None:
            noise = torch.randn((m, self.out_channels), dtype=x.dtype, device=x.device)
            bias = (self.bias_mu + self.bias_sigma * noise).flatten()
        out = self.apply(x.reshape(1, -1, *x.shape[2:]), weight, bias, groups=m * self.groups)
        return out.reshape(m, self.out_channels, *out.shape[2:])

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}, estimator={self.estimator!r}, "
            f"prior={self.prior}"
        )

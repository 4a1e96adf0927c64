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

from reparam.bayes.fused import DrawWithKL, posterior_statistic
from reparam.bayes.priors import NormalPrior, Prior
from reparam.bayes.softplus import inverse_softplus
from reparam.checks import integer, last_dim, positive_int, positive_real

ESTIMATORS = ("weight", "local", "flipout", "separate")
# What each estimator draws from q for the weights and for the biases (see reparam.bayes.fused).
STATISTICS = {
    "weight": ("sample", "sample"),
    "local": ("variance", "scale"),
    "flipout": ("noise", "noise"),
}


def check_estimator(estimator: str) -> str:
    """``estimator``, after checking it is one of ``ESTIMATORS``."""
    if estimator not in ESTIMATORS:
        raise ValueError(
            f"unknown weight-noise estimator {estimator!r}; choose from {', '.join(ESTIMATORS)}"
        )
    return estimator


def random_signs(shape: torch.Size, like: Tensor) -> Tensor:
    """Independent ±1 entries of ``shape``, in ``like``'s dtype and device."""
    return torch.randint(0, 2, shape, dtype=like.dtype, device=like.device).mul_(2).sub_(1)


def example_top(x: Tensor, dims: int | tuple[int, ...], at_least: Tensor | None = None) -> Tensor:
    """The largest |x| of each example (reducing ``dims``, kept), or ``at_least`` if that is
    larger; detached."""
    top = x.detach().abs().amax(dims, keepdim=True)
    return top if at_least is None else torch.maximum(top, at_least.detach())


def power_of_two(top: Tensor) -> Tensor:
    """A power of two c with top/c in [1/2, 1); 1 where top is 0 or not finite."""
    scale = torch.ldexp(torch.ones_like(top), torch.frexp(top).exponent)
    return torch.where(torch.isfinite(top), scale, 1.0)


def example_scale(x: Tensor, dims: int | tuple[int, ...], at_least: Tensor | None = None) -> Tensor:
    """A power of two c per example (reducing ``dims``, kept) with m/c in [1/2, 1), where m is
    the largest |x| of the example or ``at_least`` if that is larger; 1 where m is 0 or not
    finite. Dividing by c is exact, and (x/c)² neither overflows nor, for the entries that
    matter, underflows: the local reparameterization's Σ x²σ² stays finite and exact for
    inputs up to the dtype's largest number."""
    return power_of_two(example_top(x, dims, at_least))


def needs_no_scale(top: Tensor) -> bool:
    """Whether every example's m (``top``) lies in [2^-b, 2^b], b a quarter of the dtype's
    largest exponent (32 in float32): there x² and m² neither overflow nor, for entries above
    2^-b·m, underflow, so dividing by a power of two (exact) would change nothing that counts.
    Checked on the CPU only, where reading the answer costs no device synchronization, and
    not under ``torch.compile`` (a data-dependent branch would break its graph)."""
    if top.device.type != "cpu" or top.numel() == 0 or torch.compiler.is_compiling():
        return False
    bound = math.ldexp(1.0, math.frexp(torch.finfo(top.dtype).max)[1] // 4)
    return bool(((top >= 1 / bound) & (top <= bound)).all())


def version_key(tensor: Tensor) -> tuple[object, ...]:
    """What changes when ``tensor`` is replaced, moved or modified in place."""
    return id(tensor), tensor._version, tensor.data_ptr(), tensor.dtype, tensor.device


def std_from_variance(variance: Tensor, scale: Tensor | None) -> Tensor:
    """``scale`` · √``variance`` (``None``: 1), the variance floored at the dtype's smallest
    normal number: a gradient that is 0 (not NaN) where the variance is 0, at the price of
    noise 1e-19 (float32; 1e-154 in float64) times ``scale`` there."""
    std = variance.clamp_min(torch.finfo(variance.dtype).tiny).sqrt()
    return std if scale is None else std * scale


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
        positive_real("init_std", init_std)
        if not isinstance(batch_shape, tuple | list | torch.Size):
            raise TypeError(
                f"batch_shape must be a tuple of positive integers, got {batch_shape!r}"
            )
        for size in batch_shape:
            positive_int(f"every entry of batch_shape {tuple(batch_shape)}", size)
        self.estimator = estimator
        self.batch_shape = torch.Size(batch_shape)
        self.prior = prior if prior is not None else NormalPrior(1.0)
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
        self._kl_cache: tuple[object, ...] | None = None

    def __getstate__(self) -> dict[str, object]:
        """The module's state for copies and pickles, without the cached KL (a tensor of the
        last forward's graph, which ``copy.deepcopy`` refuses)."""
        return {**self.__dict__, "_kl_cache": None}

    @property
    def estimator(self) -> str:
        """The estimator's name; assigning another name switches estimator."""
        return self._estimator

    @estimator.setter
    def estimator(self, name: str) -> None:
        self._estimator = check_estimator(name)

    @property
    def prior(self) -> Prior:
        """The prior; assigning another one checks that its parameters are numbers or tensors
        of the layer's ``batch_shape``."""
        return self._prior

    @prior.setter
    def prior(self, prior: Prior) -> None:
        if not isinstance(prior, Prior):
            raise TypeError(f"prior must be a reparam.bayes Prior, got {type(prior).__name__}")
        if prior.batch_shape not in (torch.Size(), self.batch_shape):
            raise ValueError(
                f"prior {type(prior).__name__} has parameters of shape "
                f"{tuple(prior.batch_shape)}, but the "
                f"layer's batch_shape is {tuple(self.batch_shape)}: a prior's parameters are "
                "numbers or one per replica"
            )
        self._prior = prior
        self._kl_cache = None

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
        """KL(q ‖ p) summed over the weights and biases: one value per replica.

        After a forward pass that recorded gradients under a ``NormalPrior``, the first call
        returns the KL computed there, in the same autograd node as the weight noise
        (:mod:`reparam.bayes.fused`), provided no parameter, the prior or the grad mode changed
        since (a change through ``.data`` is not seen); otherwise it is computed anew."""
        if not torch.compiler.is_compiling():  # compiled code fuses on its own
            cached, self._kl_cache = self._kl_cache, None
            if cached is not None and cached[0] is self._prior and cached[1] == self._kl_key():
                return cached[2]  # type: ignore[return-value]
        keep = len(self.batch_shape)
        total = self.prior.kl_sum(self.weight_mu, self.weight_rho, keep)
        if self.bias_mu is not None:
            total = total + self.prior.kl_sum(self.bias_mu, self.bias_rho, keep)
        return total

    def _kl_key(self) -> tuple[object, ...]:
        """The state a cached KL was computed from: grad mode, prior scale, parameters."""
        sigma = getattr(self._prior, "sigma", None)
        params = (self.weight_mu, self.weight_rho, self.bias_mu, self.bias_rho)
        return (
            torch.is_grad_enabled(),
            version_key(sigma) if isinstance(sigma, Tensor) else sigma,
            *(version_key(p) for p in params if p is not None),
        )

    def sample(self) -> tuple[Tensor, Tensor | None]:
        """One draw of the weights and biases from q."""
        weight = torch.addcmul(self.weight_mu, self.weight_sigma, torch.randn_like(self.weight_mu))
        if self.bias_mu is None:
            return weight, None
        return weight, torch.addcmul(self.bias_mu, self.bias_sigma, torch.randn_like(self.bias_mu))

    def draw(self) -> tuple[Tensor, Tensor | None]:
        """What the estimator needs of q for the weights and for the biases (a sample for
        ``"weight"``, σ² and the biases' σ for ``"local"``, σ·ε for ``"flipout"``). Under a
        ``NormalPrior``, while gradients are recorded, each comes from one node with its KL
        term (:class:`~reparam.bayes.fused.DrawWithKL`), which the next ``kl()`` returns
        (not under ``torch.compile``, which fuses the plain formulas itself)."""
        fuse = (
            isinstance(self._prior, NormalPrior)
            and torch.is_grad_enabled()
            and not torch.compiler.is_compiling()
        )
        keep = len(self.batch_shape)
        pairs = [(self.weight_mu, self.weight_rho), (self.bias_mu, self.bias_rho)]
        stats: list[Tensor | None] = []
        total = None
        for (mu, rho), statistic in zip(pairs, STATISTICS[self.estimator], strict=True):
            if mu is None:
                stats.append(None)
                continue
            eps = torch.randn_like(mu) if statistic in ("sample", "noise") else None
            if not fuse:
                stats.append(posterior_statistic(mu, F.softplus(rho), eps, statistic))
                continue
            sigma = self._prior.sigma_like(mu)  # type: ignore[attr-defined]
            stat, kl = DrawWithKL.apply(mu, rho, eps, sigma, keep, statistic)
            stats.append(stat)
            total = kl if total is None else total + kl
        if fuse:
            self._kl_cache = (self._prior, self._kl_key(), total)
        return stats[0], stats[1]  # type: ignore[return-value]

    def forward(self, x: Tensor) -> Tensor:
        self.check_input(x)
        if self.estimator == "separate":
            return self.apply_per_example(x)
        weight, bias = self.draw()
        if self.estimator == "weight":
            return self.apply(x, weight, bias)
        mean = self.apply(x, self.weight_mu, self.bias_mu)
        if self.estimator == "local":
            return torch.addcmul(mean, self.local_std(x, weight, bias), torch.randn_like(mean))
        perturbation = self.apply(x * random_signs(x.shape, x), weight, bias)
        return torch.addcmul(mean, perturbation, random_signs(mean.shape, mean))

    def local_std(
        self, x: Tensor, weight_variance: Tensor | None = None, bias_sigma: Tensor | None = None
    ) -> Tensor:
        r"""The standard deviation :math:`\sqrt{\operatorname{op}(a^2, σ^2) + σ_c^2}` of the
        pre-activations, computed on each example divided by a power of two (exact), so that
        a² neither overflows nor underflows (see :func:`example_scale`, :func:`std_from_variance`).
        ``weight_variance`` (σ²) and ``bias_sigma``: the posterior's, if at hand."""
        if weight_variance is None:
            weight_variance, bias_sigma = self.weight_sigma**2, self.bias_sigma
        if bias_sigma is not None:
            bias_sigma = self.per_output(bias_sigma)
        largest = None if bias_sigma is None else bias_sigma.amax(self.example_dims, keepdim=True)
        top = example_top(x, self.example_dims, largest)
        scale = None if needs_no_scale(top) else power_of_two(top)
        scaled = x if scale is None else x / scale
        var = self.apply(scaled * scaled, weight_variance, None)
        if bias_sigma is not None:
            bias = bias_sigma if scale is None else bias_sigma / scale
            var = torch.addcmul(var, bias, bias)
        return std_from_variance(var, scale)

    def check_input(self, x: Tensor) -> None:
        """A ``ValueError`` naming ``x`` if its shape does not fit the layer."""
        raise NotImplementedError

    def apply(self, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        raise NotImplementedError

    def per_output(self, bias: Tensor) -> Tensor:
        """``bias`` [*batch_shape, out] shaped to broadcast against the outputs."""
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
        positive_int("in_features", in_features)
        positive_int("out_features", out_features)
        super().__init__((out_features, in_features), bias, estimator, prior, init_std, batch_shape)
        self.in_features, self.out_features = in_features, out_features

    example_dims = -1

    def check_input(self, x: Tensor) -> None:
        last_dim("x", x, self.in_features, "the layer's in_features")
        replicas = len(self.batch_shape)
        if replicas and (x.dim() < replicas + 2 or x.shape[-replicas - 2 : -2] != self.batch_shape):
            raise ValueError(
                f"x must be [..., *batch_shape, M, in_features] = [..., "
                f"{', '.join(map(str, self.batch_shape))}, M, {self.in_features}] for a layer "
                f"with batch_shape {tuple(self.batch_shape)}, got shape {tuple(x.shape)}"
            )

    def apply(self, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        if not self.batch_shape:
            return F.linear(x, weight, bias)
        out = x @ weight.mT
        return out if bias is None else out + bias.unsqueeze(-2)

    def per_output(self, bias: Tensor) -> Tensor:
        return bias.unsqueeze(-2) if self.batch_shape else bias

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
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels)):
            positive_int(name, value)
        positive_int("groups", groups)
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"groups={groups} must divide in_channels and out_channels")
        kernel = nn.modules.utils._pair(kernel_size)
        sizes = [("kernel_size", kernel, 1), ("stride", stride, 1), ("dilation", dilation, 1)]
        if not isinstance(padding, str):
            sizes.append(("padding", padding, 0))
        for name, value, low in sizes:
            if any(integer(name, entry) < low for entry in nn.modules.utils._pair(value)):
                raise ValueError(f"{name} must be integers >= {low}, got {value!r}")
        shape = (out_channels, in_channels // groups, *kernel)
        super().__init__(shape, bias, estimator, prior, init_std, ())
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups

    example_dims = (-3, -2, -1)

    def check_input(self, x: Tensor) -> None:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"x must be [N, in_channels = {self.in_channels}, H, W], got shape {tuple(x.shape)}"
            )

    def apply(self, x: Tensor, weight: Tensor, bias: Tensor | None, groups: int = 0) -> Tensor:
        return F.conv2d(
            x, weight, bias, self.stride, self.padding, self.dilation, groups or self.groups
        )

    def per_output(self, bias: Tensor) -> Tensor:
        return bias[:, None, None]

    def apply_per_example(self, x: Tensor) -> Tensor:
        m = x.shape[0]
        if m == 0:
            return self.apply(x, self.weight_mu, self.bias_mu)
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

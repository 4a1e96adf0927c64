r"""RELAX: a learned surrogate network as the control variate of the conditional
relaxation, trained by the gradient of the estimator's variance."""

from __future__ import annotations

import math

from torch import Tensor, nn

from reparam.checks import positive_int
from reparam.estimators.base import CostFn
from reparam.estimators.conditional_relaxation import ConditionalRelaxation, Latent


class SurrogateMLP(nn.Module):
    r"""RELAX's default free-form surrogate :math:`r_\rho`: an MLP from the flattened relaxed
    sample ``[..., E]`` to one value ``[...]``, ``Linear(E, hidden) → tanh → Linear(hidden, 1)``,
    its last layer zero at initialisation (so RELAX starts as REBAR).

    Arguments:
        features: E, the number of relaxed inputs (latents, times K for categorical ones);
            ``None``: inferred at the first call (``nn.LazyLinear``; call the estimator once
            before saving a ``state_dict``).
        hidden: the hidden width.

    Example:
        >>> import torch
        >>> SurrogateMLP(4)(torch.rand(2, 4)).shape
        torch.Size([2])
    """

    def __init__(self, features: int | None = None, hidden: int = 16) -> None:
        super().__init__()
        hidden = positive_int("hidden", hidden)
        first = (
            nn.LazyLinear(hidden)
            if features is None
            else nn.Linear(positive_int("features", features), hidden)
        )
        last = nn.Linear(hidden, 1)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        self.net = nn.Sequential(first, nn.Tanh(), last)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).squeeze(-1)


class RELAX(ConditionalRelaxation):
    r"""RELAX gradient of :math:`\mathbb{E}_{p_\theta(b)}[f(b)]` for Bernoulli and categorical
    latents (and ``Independent`` wrappers of them), with a learned control variate
    :math:`c_\phi`:

    .. math::
        \hat g = \big(f(b) - c_\phi(\tilde z)\big)\nabla_\theta \log p(b)
                 + \nabla_\theta c_\phi(z) - \nabla_\theta c_\phi(\tilde z),
        \qquad c_\phi(z) = \eta\, f(\sigma_\tau(z)) + r_\rho(\sigma_\tau(z)),

    :math:`b = H(z)`, :math:`\tilde z \sim p(z \mid b)`
    (:mod:`reparam.estimators.conditional_relaxation`). :math:`r_\rho` is any ``nn.Module``
    (``surrogate``), called on the relaxed sample with its event dimensions flattened into
    one, ``[n, *batch, E]``, and returning ``[n, *batch]``; by default a small
    :class:`SurrogateMLP`. ``with_f=True`` adds the relaxed ``f`` (the paper's choice for
    discrete latents, REBAR's control variate; ``f`` must then accept relaxed inputs);
    ``with_f=False`` uses :math:`r_\rho` alone, and ``f`` only ever sees exact samples.
    Unbiased for every :math:`\phi = (\eta, \tau, \rho)`.

    φ is trained by the gradient of the variance,
    :math:`\nabla_\phi \operatorname{Var}\hat g = \nabla_\phi \mathbb{E}\lVert\hat g\rVert^2`
    with :math:`\hat g` the gradient with respect to the logits (the paper's single-sample
    estimate), which the returned tensor carries in a term of value 0 that gives the model's
    parameters no gradient: the model's ``loss.backward(); optimizer.step()`` over parameters
    that include the estimator's trains both (see
    :class:`~reparam.estimators.conditional_relaxation.ConditionalRelaxation`). An estimator
    with state: create it once and keep it (as a submodule of the model); the spec
    ``"relax"`` is refused per call.

    Arguments:
        surrogate: :math:`r_\rho`, an ``nn.Module``; ``None``: ``SurrogateMLP()``.
        with_f: include :math:`\eta f(\sigma_\tau(z))` in :math:`c_\phi`.
        temperature: the initial τ > 0.
        scale: the initial η.

    References:
        Grathwohl, Choi, Wu, Roeder & Duvenaud (2018), Backpropagation through the Void:
        Optimizing control variates for black-box gradient estimation, ICLR, §3.3.

    Example:
        >>> import torch, reparam as rp
        >>> logits = torch.zeros(2, 3, requires_grad=True)
        >>> relax = RELAX(SurrogateMLP(features=3))
        >>> q = torch.distributions.Independent(torch.distributions.Bernoulli(logits=logits), 1)
        >>> loss = rp.expect(lambda b: ((b - 0.45) ** 2).sum(-1), q, n=4, estimator=relax).sum()
        >>> loss.backward()  # trains the logits and, through the variance, the surrogate
        >>> relax.surrogate.net[2].weight.grad is not None
        True
    """

    def __init__(
        self,
        surrogate: nn.Module | None = None,
        *,
        with_f: bool = True,
        temperature: float = 0.5,
        scale: float = 1.0,
    ) -> None:
        if surrogate is not None and not isinstance(surrogate, nn.Module):
            raise ValueError(
                f"surrogate must be an nn.Module (or None for the default MLP); got "
                f"{type(surrogate).__name__}."
            )
        super().__init__(temperature, scale)
        self.surrogate = SurrogateMLP() if surrogate is None else surrogate
        self.with_f = bool(with_f)
        if not self.with_f:
            self.scale.requires_grad_(False)

    def control(self, f: CostFn, relaxed: Tensor, latent: Latent) -> Tensor:
        batch = relaxed.shape[: relaxed.dim() - latent.event_ndim]
        flat = relaxed.reshape(*batch, math.prod(relaxed.shape[len(batch) :]))
        # the surrogate computes in its own dtype (float32 weights, float64 latents)
        dtype = next(self.surrogate.parameters(), flat).dtype
        value = self.surrogate(flat.to(dtype))
        if not isinstance(value, Tensor) or value.shape != batch:
            got = tuple(value.shape) if isinstance(value, Tensor) else type(value).__name__
            raise ValueError(
                f"the surrogate must map [n, *batch, E] = {tuple(flat.shape)} to one value per "
                f"sample, {tuple(batch)}; it returned {got}."
            )
        value = value.to(relaxed.dtype)
        return value + self.scale * f(relaxed) if self.with_f else value

    def extra_repr(self) -> str:
        return f"surrogate={type(self.surrogate).__name__}, with_f={self.with_f}"

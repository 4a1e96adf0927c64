r"""REBAR: the concrete relaxation as a control variate, with its scale and temperature
learned online to minimise the gradient's variance."""

from __future__ import annotations

from torch import Tensor

from reparam.estimators.base import CostFn
from reparam.estimators.conditional_relaxation import ConditionalRelaxation, Latent


class REBAR(ConditionalRelaxation):
    r"""REBAR gradient of :math:`\mathbb{E}_{p_\theta(b)}[f(b)]` for Bernoulli and categorical
    latents (and ``Independent`` wrappers of them):

    .. math::
        \hat g = \big(f(b) - \eta f(\sigma_\tau(\tilde z))\big)\nabla_\theta \log p(b)
                 + \eta\,\nabla_\theta f(\sigma_\tau(z)) - \eta\,\nabla_\theta f(\sigma_\tau(\tilde z)),

    :math:`b = H(z)`, :math:`\tilde z \sim p(z \mid b)` (the conditional reparameterisation,
    :mod:`reparam.estimators.conditional_relaxation`), :math:`\sigma_\tau` the sigmoid or
    softmax at temperature τ. The control variate is ``f`` itself at the relaxed sample, so
    ``f`` must accept relaxed inputs (probabilities in place of bits, relaxed one-hot vectors
    in place of categories). Unbiased for every η and τ.

    η (``scale``) and τ (``log_temperature``) are ``nn.Parameter`` objects of the estimator,
    trained by the gradient of the variance, :math:`\nabla_{\eta,\tau}\lVert\hat g\rVert^2`,
    which the returned tensor carries in a term of value 0 that gives the model's parameters
    no gradient: the model's ``loss.backward(); optimizer.step()`` over parameters that
    include the estimator's trains both (see
    :class:`~reparam.estimators.conditional_relaxation.ConditionalRelaxation`). An estimator
    with state: create it once and keep it (a model holds it as a submodule, so its
    ``state_dict`` and checkpoints carry η and τ); the spec ``"rebar"`` is refused per call.

    Arguments:
        temperature: the initial τ > 0 (the paper's initial λ = 0.5).
        scale: the initial η (1: the relaxation itself).

    References:
        Tucker, Mnih, Maddison, Lawson & Sohl-Dickstein (2017), REBAR: Low-variance,
        unbiased gradient estimates for discrete latent variable models, NeurIPS.

    Example:
        >>> import torch, reparam as rp
        >>> logits = torch.zeros(3, requires_grad=True)
        >>> rebar = REBAR()
        >>> q = torch.distributions.Bernoulli(logits=logits)
        >>> loss = rp.expect(lambda b: (b - 0.45) ** 2, q, n=4, estimator=rebar).sum()
        >>> loss.backward()  # logits.grad: REBAR's estimate; rebar.scale.grad: ∇η of ‖ĝ‖²
        >>> logits.grad.shape, rebar.scale.grad is not None
        (torch.Size([3]), True)
    """

    def control(self, f: CostFn, relaxed: Tensor, latent: Latent) -> Tensor:
        return self.scale * f(relaxed)

    def extra_repr(self) -> str:
        tau, eta = float(self.temperature.detach()), float(self.scale.detach())
        return f"temperature={tau:.4g}, scale={eta:.4g}"

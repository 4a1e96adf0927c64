"""The categorical VAE of Jang, Gu & Poole (2017): 20 ten-way latents."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.distributions import Distribution, Independent, OneHotCategorical

from reparam.checks import positive_int
from reparam.models.base import LatentModel
from reparam.models.networks import mlp


def one_hot_codes(logits: Tensor) -> Independent:
    """Independent one-hot categoricals over ``logits [..., latents, classes]``, unchecked."""
    return Independent(
        OneHotCategorical(logits=logits, validate_args=False), 1, validate_args=False
    )


class CategoricalVAE(LatentModel):
    r"""Latents :math:`z \in \{\text{one-hot}_{10}\}^{20}` with a uniform prior, ReLU MLPs
    784–512–256–(20×10) and (20×10)–256–512–784, a Bernoulli decoder.

    Train it with the ELBO and the analytic KL to the uniform prior, and any estimator that
    handles categorical latents: ``GumbelSoftmax(τ)`` (the paper's, τ annealed as
    :math:`\max(0.5, e^{-rt})`), ``GumbelSoftmax(τ, hard=True)``, ``StraightThrough()``,
    ``ScoreFunction`` with a baseline, or the IWAE bound with VIMCO. The decoder accepts
    relaxed (non-one-hot) codes.

    References:
        Jang, Gu & Poole (2017), Categorical Reparameterization with Gumbel-Softmax, §4.2.

    Example:
        >>> model = CategoricalVAE(64, latents=4, classes=3, hidden=(16,))
        >>> model.bound(torch.ones(2, 64).bernoulli(), objective="elbo", estimator="gumbel-softmax").shape
        torch.Size([2])
    """

    def __init__(
        self, x_dim: int, latents: int = 20, classes: int = 10, hidden: tuple[int, ...] = (512, 256)
    ) -> None:
        super().__init__()
        for name, value in (("x_dim", x_dim), ("latents", latents), ("classes", classes)):
            positive_int(name, value)
        self.x_dim, self.latents, self.classes = x_dim, latents, classes
        code = latents * classes
        self.encoder = mlp([x_dim, *hidden, code], activation=nn.ReLU, last=False)
        self.decoder = mlp([code, *hidden[::-1], x_dim], activation=nn.ReLU, last=False)
        self.register_buffer("prior_logits", torch.zeros(latents, classes))

    def posterior(self, x: Tensor) -> Distribution:
        logits = self.encoder(x).view(*x.shape[:-1], self.latents, self.classes)
        return one_hot_codes(logits)

    def prior(self) -> Distribution:
        return one_hot_codes(self.prior_logits)

    def decoder_logits(self, z: Tensor) -> Tensor:
        return self.decoder(z.flatten(-2))

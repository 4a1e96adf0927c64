"""The VAE of Jang, Gu & Poole (2017), Table 1, with 200 Bernoulli latents."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.distributions import Distribution

from reparam.checks import positive_int
from reparam.models.base import LatentModel
from reparam.models.discrete_layers import code_layer, code_values
from reparam.models.networks import mlp


class BernoulliVAE(LatentModel):
    r"""Latents :math:`z \in \{0, 1\}^{200}` with the uniform prior :math:`p(z_j = 1) = \frac12`,
    ReLU MLPs 784–512–256–200 and 200–256–512–784, a Bernoulli decoder: the Bernoulli column
    of the paper's Table 1, the twin of :class:`~reparam.models.CategoricalVAE`.

    Every estimator for discrete codes applies, the Gumbel-softmax ones through the binary
    Concrete relaxation; the decoder reads the units' values, relaxed or not.

    References:
        Jang, Gu & Poole (2017), Categorical Reparameterization with Gumbel-Softmax, §4.2.

    Example:
        >>> model = BernoulliVAE(64, latents=5, hidden=(16,))
        >>> model.bound(torch.ones(2, 64).bernoulli(), objective="elbo", estimator="score").shape
        torch.Size([2])
    """

    def __init__(
        self,
        x_dim: int,
        latents: int = 200,
        hidden: tuple[int, ...] = (512, 256),
    ) -> None:
        super().__init__()
        for name, value in (("x_dim", x_dim), ("latents", latents)):
            positive_int(name, value)
        self.x_dim, self.latents = x_dim, latents
        self.encoder = mlp([x_dim, *hidden, latents], activation=nn.ReLU, last=False)
        self.decoder = mlp([latents, *hidden[::-1], x_dim], activation=nn.ReLU, last=False)
        self.register_buffer("prior_logits", torch.zeros(latents))

    def posterior(self, x: Tensor) -> Distribution:
        return code_layer(self.encoder(x), "bernoulli")

    def prior(self) -> Distribution:
        return code_layer(self.prior_logits, "bernoulli")

    def decoder_logits(self, z: Tensor) -> Tensor:
        return self.decoder(code_values(z, "bernoulli"))

"""VAE and IWAE with the IWAE paper's architectures, optionally with a posterior flow."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.distributions import Distribution, TransformedDistribution

from reparam.checks import positive_int
from reparam.models.base import LatentModel
from reparam.models.chain import GaussianChain
from reparam.models.networks import GaussianHead, diagonal_normal, mlp

ONE_LAYER = (((200, 200), 50),)
TWO_LAYERS = (((200, 200), 100), ((100, 100), 50))


class VAE(LatentModel):
    r"""Gaussian latents in one or more stochastic layers, a Bernoulli decoder, tanh MLPs.

    ``layers`` lists ``(hidden sizes, latent size)`` bottom-up. The IWAE paper's two
    architectures are ``ONE_LAYER`` (784–200–200–50) and ``TWO_LAYERS`` (784–200–200–100 and
    100–100–100–50, mirrored in the decoder). The same model trains as a VAE (ELBO) or an
    IWAE (:math:`\mathcal L_k`): the objective is chosen at training time.

    ``flow`` (one stochastic layer only) maps the encoder's last hidden layer to a list of
    ``torch.distributions`` transforms applied to the Gaussian sample, as in Rezende &
    Mohamed (2015): :math:`q(z_K \mid x)` is then a ``TransformedDistribution``.

    References:
        Kingma & Welling (2014); Burda, Grosse & Salakhutdinov (2016), Importance Weighted
        Autoencoders, Appendix C; Rezende & Mohamed (2015), Variational Inference with
        Normalizing Flows.

    Example:
        >>> model = VAE(64, layers=(((32,), 4),))
        >>> model.bound(torch.ones(3, 64).bernoulli(), k=5).shape
        torch.Size([3])
    """

    def __init__(
        self,
        x_dim: int,
        layers: Sequence[tuple[Sequence[int], int]] = ONE_LAYER,
        flow: nn.Module | None = None,
    ) -> None:
        super().__init__()
        positive_int("x_dim", x_dim)
        if not layers:
            raise ValueError(
                "layers must list at least one stochastic layer (hidden sizes, latent size)"
            )
        for hidden, z in layers:
            positive_int("every latent size of layers", z)
            if not hidden:
                raise ValueError(
                    f"every stochastic layer needs a hidden layer, got layers {layers!r}"
                )
        if flow is not None and len(layers) != 1:
            raise ValueError("a posterior flow needs exactly one stochastic layer.")
        flow_dim = getattr(flow, "z_dim", None)
        if flow_dim is not None and flow_dim != layers[0][1]:
            raise ValueError(
                f"flow acts on points of dimension z_dim={flow_dim}, but the latent size is "
                f"{layers[0][1]}"
            )
        self.x_dim = x_dim
        self.sizes = [z for _, z in layers]
        inputs = [x_dim, *self.sizes[:-1]]
        self.encoders = nn.ModuleList(
            GaussianHead(a, hidden, z) for a, (hidden, z) in zip(inputs, layers, strict=True)
        )
        # p(z_l | z_{l+1}) for l = L-1 .. 1, top-down, mirroring the encoder's hidden sizes.
        self.conditionals = nn.ModuleList(
            GaussianHead(self.sizes[i + 1], list(layers[i + 1][0])[::-1], self.sizes[i])
            for i in reversed(range(len(layers) - 1))
        )
        self.decoder = mlp([self.sizes[0], *list(layers[0][0])[::-1], x_dim], last=False)
        self.flow = flow
        self.register_buffer("prior_loc", torch.zeros(self.sizes[-1]))

    def posterior(self, x: Tensor) -> Distribution:
        loc, scale, h = self.encoders[0](x)
        root = diagonal_normal(loc, scale)
        if self.flow is not None:
            return TransformedDistribution(root, self.flow(h))
        if len(self.encoders) == 1:
            return root
        return GaussianChain(root, list(self.encoders[1:]), self.sizes)

    def prior(self) -> Distribution:
        root = diagonal_normal(self.prior_loc, torch.ones_like(self.prior_loc))
        if not len(self.conditionals):
            return root
        return GaussianChain(root, list(self.conditionals), self.sizes[::-1], reverse=True)

    def decoder_logits(self, z: Tensor) -> Tensor:
        return self.decoder(z[..., : self.sizes[0]])

    def posterior_mean(self, x: Tensor) -> Tensor:
        """:math:`\\mathbb E_q[z_1 \\mid x]` of the first stochastic layer (for active units)."""
        return self.encoders[0](x)[0]

"""A convolutional VAE whose decoder unpools and convolves."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.distributions import Distribution

from reparam.checks import positive_int
from reparam.models.base import LatentModel
from reparam.models.networks import diagonal_normal


class Unpool2d(nn.Module):
    """Each entry becomes an s×s block with the entry in its top-left corner and zeros
    elsewhere (Dosovitskiy et al. 2015); the convolution that follows fills the block."""

    def __init__(self, scale: int = 2) -> None:
        super().__init__()
        self.scale = positive_int("scale", scale)

    def forward(self, x: Tensor) -> Tensor:
        n, c, h, w = x.shape
        out = x.new_zeros(n, c, h * self.scale, w * self.scale)
        out[..., :: self.scale, :: self.scale] = x
        return out


class ConvVAE(LatentModel):
    r"""Gaussian latents, a strided-convolution encoder and an unpool-and-convolve decoder.

    For square images whose side is a multiple of 4 (MNIST's 28, digits' 8): two stride-2
    convolutions (32, 64 channels) and a dense layer encode; a dense layer to 64 × (side/4)²,
    then twice unpool ×2 and a 3×3 convolution, decode to Bernoulli logits.

    References:
        Dosovitskiy, Springenberg & Brox (2015), Learning to Generate Chairs with
        Convolutional Neural Networks (up-convolution: unpooling followed by convolution).

    Example:
        >>> model = ConvVAE(side=8, z_dim=4)
        >>> model.bound(torch.ones(2, 64).bernoulli(), k=3).shape
        torch.Size([2])
    """

    def __init__(self, side: int = 28, z_dim: int = 50, hidden: int = 256) -> None:
        super().__init__()
        for name, value in (("side", side), ("z_dim", z_dim), ("hidden", hidden)):
            positive_int(name, value)
        if side % 4:
            raise ValueError(f"ConvVAE needs an image side divisible by 4; got {side}.")
        self.side, self.z_dim, cells = side, z_dim, side // 4
        self.x_dim = side * side
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 32, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(32, 64, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(64 * cells * cells, hidden),
            nn.ReLU(),
            nn.Linear(hidden, 2 * z_dim),
        )
        self.decoder = nn.Sequential(
            nn.Linear(z_dim, hidden),
            nn.ReLU(),
            nn.Linear(hidden, 64 * cells * cells),
            nn.ReLU(),
            nn.Unflatten(1, (64, cells, cells)),
            Unpool2d(2),
            nn.Conv2d(64, 32, 3, padding=1),
            nn.ReLU(),
            Unpool2d(2),
            nn.Conv2d(32, 1, 3, padding=1),
            nn.Flatten(),
        )
        self.register_buffer("prior_loc", torch.zeros(z_dim))

    def posterior(self, x: Tensor) -> Distribution:
        loc, log_scale = self.encoder(x.view(-1, 1, self.side, self.side)).chunk(2, -1)
        return diagonal_normal(loc, log_scale.exp())

    def prior(self) -> Distribution:
        return diagonal_normal(self.prior_loc, torch.ones_like(self.prior_loc))

    def decoder_logits(self, z: Tensor) -> Tensor:
        return self.decoder(z.reshape(-1, self.z_dim)).view(*z.shape[:-1], -1)

    def posterior_mean(self, x: Tensor) -> Tensor:
        return self.posterior(x).mean

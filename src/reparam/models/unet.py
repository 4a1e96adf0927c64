r"""The image-to-image networks of pix2pix (Isola et al. 2017), sized for spectrograms: a U-Net
generator and a patch discriminator.

The U-Net halves the resolution ``depth`` times (stride-2 convolutions, batch norm, leaky
ReLU), doubles it back (transposed convolutions, batch norm, ReLU, dropout in the deepest
half as pix2pix's noise), and concatenates each encoder level's features to the decoder level
of the same resolution (the skips). An input of any height and width is padded by
replication to a multiple of :math:`2^\text{depth}` and the output cropped back, so the output
has the input's shape. With ``residual`` the network predicts a correction added to its input.

The patch discriminator maps a (condition, spectrogram) pair, stacked as channels, to a grid
of logits, one per overlapping patch (the receptive field of three stride-2 convolutions and
two of stride 1 of kernel 4: 70 × 70 pixels, pix2pix's PatchGAN).

Reference:
    Isola, Zhu, Zhou & Efros (2017), Image-to-image translation with conditional adversarial
    networks, CVPR.
    Ronneberger, Fischer & Brox (2015), U-Net: convolutional networks for biomedical image
    segmentation, MICCAI.

Example:
    >>> net = UNet(channels=8, depth=3)
    >>> net(torch.randn(2, 1, 80, 123)).shape   # odd sizes come back unchanged
    torch.Size([2, 1, 80, 123])
    >>> PatchDiscriminator(channels=8)(torch.randn(2, 1, 80, 123), torch.randn(2, 1, 80, 123)).shape
    torch.Size([2, 1, 8, 13])
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from reparam import checks


def _down(a: int, b: int, norm: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(a, b, 4, stride=2, padding=1, bias=not norm)]
    if norm:
        layers.append(nn.BatchNorm2d(b))
    layers.append(nn.LeakyReLU(0.2))
    return nn.Sequential(*layers)


def _up(a: int, b: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(
        nn.ConvTranspose2d(a, b, 4, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(b),
        nn.Dropout(dropout),
        nn.ReLU(),
    )


class UNet(nn.Module):
    """The U-Net generator (see the module docstring): ``channels`` at the first level,
    doubling per level up to 8×, ``depth`` levels."""

    def __init__(
        self,
        in_channels: int = 1,
        channels: int = 32,
        depth: int = 4,
        dropout: float = 0.5,
        residual: bool = True,
    ) -> None:
        super().__init__()
        self.depth = checks.positive_int("depth", depth)
        channels = checks.positive_int("channels", channels)
        widths = [channels * min(2**i, 8) for i in range(depth)]
        self.downs = nn.ModuleList(
            _down(a, b, norm=i > 0)
            for i, (a, b) in enumerate(zip([in_channels, *widths], widths, strict=False))
        )
        self.ups = nn.ModuleList()
        for i in reversed(range(1, depth)):
            incoming = widths[i] if i == depth - 1 else 2 * widths[i]
            self.ups.append(_up(incoming, widths[i - 1], dropout if i > depth // 2 else 0.0))
        self.last = nn.ConvTranspose2d(
            2 * widths[0] if depth > 1 else widths[0], in_channels, 4, stride=2, padding=1
        )
        self.residual = residual

    def forward(self, x: Tensor) -> Tensor:
        checks.tensor("x", x)
        if x.dim() != 4:
            raise ValueError(f"x must be [B, C, H, W], got shape {tuple(x.shape)}")
        H, W = x.shape[-2:]
        unit = 2**self.depth
        padded = F.pad(x, (0, -W % unit, 0, -H % unit), mode="replicate")
        skips = []
        h = padded
        for down in self.downs:
            h = down(h)
            skips.append(h)
        skips.pop()
        for up in self.ups:
            h = torch.cat([up(h), skips.pop()], dim=1)
        out = self.last(h)[..., :H, :W]
        return x + out if self.residual else out


class PatchDiscriminator(nn.Module):
    """pix2pix's PatchGAN on (condition, spectrogram) pairs: logits ``[B, 1, h, w]``, one per
    patch. ``norm=False`` drops the batch norm, as a WGAN-GP critic must (the gradient penalty
    is per sample)."""

    def __init__(self, in_channels: int = 1, channels: int = 32, norm: bool = True) -> None:
        super().__init__()
        c = checks.positive_int("channels", channels)
        layers: list[nn.Module] = [
            _down(2 * in_channels, c, norm=False),
            _down(c, 2 * c, norm),
            _down(2 * c, 4 * c, norm),
        ]
        layers += [
            nn.Conv2d(4 * c, 8 * c, 4, padding=1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(8 * c, 1, 4, padding=1),
        ]
        self.net = nn.Sequential(*layers)

    def forward(self, condition: Tensor, spectrogram: Tensor) -> Tensor:
        if condition.shape != spectrogram.shape:
            raise ValueError(
                f"condition {tuple(condition.shape)} and spectrogram {tuple(spectrogram.shape)} must have one shape"
            )
        return self.net(torch.cat([condition, spectrogram], dim=1))

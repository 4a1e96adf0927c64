r"""DRAW's selective attention: an N×N grid of Gaussian filters read from and written to an
image (Gregor, Danihelka, Graves, Rezende & Wierstra 2015, §3.2).

A :class:`Glimpse` holds the five attention parameters of a batch (centre, stride,
variance, intensity); :func:`filterbank` turns a centre, stride and variance into the
horizontal or vertical filterbank matrix; :func:`read` and :func:`write` apply them. All are
plain differentiable functions of batched tensors: images are ``[..., B, A]`` (B rows of A
pixels), patches ``[..., N, N]``, and every parameter of a glimpse is ``[...]``.

Coordinates are the paper's: pixels are numbered :math:`a = 1, \dots, A` and filters
:math:`i = 1, \dots, N`, so the centre :math:`g_X = (A + 1)/2` is the middle of the image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from reparam.checks import positive_int, tensor

PARAMETERS = 5  # (g̃_X, g̃_Y, log σ², log δ̃, log γ): the decoder's linear map has 5 outputs


@dataclass(frozen=True)
class Glimpse:
    r"""The attention parameters of a batch of glimpses, each a tensor of the batch's shape.

    ``centre_x`` and ``centre_y`` are :math:`g_X, g_Y` in pixel coordinates (1 … A, 1 … B),
    ``stride`` is :math:`\delta`, ``log_variance`` :math:`\log\sigma^2` (the filters' variance)
    and ``log_intensity`` :math:`\log\gamma` (the read's gain; a write divides by it).
    """

    centre_x: Tensor
    centre_y: Tensor
    stride: Tensor
    log_variance: Tensor
    log_intensity: Tensor

    @classmethod
    def from_decoder(cls, raw: Tensor, width: int, height: int, size: int) -> Glimpse:
        r"""The glimpse of the decoder's linear output ``raw`` ``[..., 5]``
        :math:`= (\tilde g_X, \tilde g_Y, \log\sigma^2, \log\tilde\delta, \log\gamma)`, for an
        image of ``width`` A and ``height`` B and an ``size`` N × N grid:

        .. math::
            g_X = \frac{A + 1}{2}(\tilde g_X + 1), \quad
            g_Y = \frac{B + 1}{2}(\tilde g_Y + 1), \quad
            \delta = \frac{\max(A, B) - 1}{N - 1}\,\tilde\delta

        (:math:`N - 1` read as 1 for N = 1, where the stride moves no filter). ``raw = 0``
        is a grid centred on the image whose N filters span it.

        Example:
            >>> g = Glimpse.from_decoder(torch.zeros(5), width=28, height=28, size=5)
            >>> float(g.centre_x), float(g.stride)
            (14.5, 6.75)
        """
        tensor("raw", raw)
        if raw.dim() < 1 or raw.shape[-1] != PARAMETERS:
            raise ValueError(
                f"raw must have {PARAMETERS} entries in its last dimension (g_x, g_y, "
                f"log variance, log stride, log intensity), got shape {tuple(raw.shape)}"
            )
        width, height = positive_int("width", width), positive_int("height", height)
        size = positive_int("size", size)
        gx, gy, log_variance, log_stride, log_intensity = raw.unbind(-1)
        spread = (max(width, height) - 1) / max(size - 1, 1)
        return cls(
            centre_x=(width + 1) / 2 * (gx + 1),
            centre_y=(height + 1) / 2 * (gy + 1),
            stride=spread * log_stride.exp(),
            log_variance=log_variance,
            log_intensity=log_intensity,
        )

    def box(self, size: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        r"""The region an ``size`` × ``size`` grid covers, ``(left, top, right, bottom)`` in
        the 0-based coordinates of an image's pixel centres (what ``imshow`` draws): the
        grid's filter centres ± half a stride, :math:`g \pm N\delta/2`, less 1.

        Example:
            >>> g = Glimpse.from_decoder(torch.zeros(5), width=8, height=8, size=8)
            >>> tuple(float(v) for v in g.box(8))
            (-0.5, -0.5, 7.5, 7.5)
        """
        half = positive_int("size", size) * self.stride / 2
        return (
            self.centre_x - 1 - half,
            self.centre_y - 1 - half,
            self.centre_x - 1 + half,
            self.centre_y - 1 + half,
        )


def tiling(width: int, height: int, size: int, *, write: bool = False) -> Tensor:
    r"""The raw parameters ``[5]`` (:meth:`Glimpse.from_decoder`'s input) of a grid that tiles
    a ``height`` × ``width`` image: centred, its N = ``size`` filters a tile
    :math:`\delta = \max(A, B)/N` apart, each :math:`\sigma = \delta/2` wide, so that every
    pixel is read; :math:`\gamma = 1`, or for a ``write`` :math:`\hat\gamma = \delta^{-2}`.

    Each patch value's write spreads one unit of ink (every filterbank row sums to one) times
    :math:`1/\hat\gamma`, so with :math:`\hat\gamma = \delta^{-2}` a patch of ones adds
    exactly one to the mean pixel of an A × A canvas. :class:`~reparam.models.DRAW` starts its
    read and write heads here. The paper does not say where its glimpses start; from ``raw =
    0`` (σ = 1, the grid spanning the image, γ̂ = 1) a 2 × 2 read sees only MNIST's blank
    corners and a 5 × 5 write reaches a pixel in ten through patch values in the tens, and on a
    CPU schedule the model learns to ignore its latents (``docs/draw.md``).

    Example:
        >>> g = Glimpse.from_decoder(tiling(28, 28, 5, write=True), 28, 28, 5)
        >>> round(float(g.stride), 2), round(float(write(torch.ones(5, 5), g, 28, 28).mean()), 4)
        (5.6, 1.0)
    """
    width, height = positive_int("width", width), positive_int("height", height)
    size = positive_int("size", size)
    stride = max(width, height) / size
    log_intensity = -2 * math.log(stride) if write else 0.0
    raw = [
        0.0,
        0.0,
        2 * math.log(stride / 2),
        math.log(stride * max(size - 1, 1) / (max(width, height) - 1)),
        log_intensity,
    ]
    return torch.tensor(raw)


def filterbank(
    centre: Tensor, stride: Tensor, log_variance: Tensor, size: int, length: int
) -> Tensor:
    r"""The filterbank matrix ``[..., size, length]`` of N = ``size`` Gaussian filters on
    ``length`` pixels (:math:`F_X` with A = ``length``, or :math:`F_Y`):

    .. math::
        \mu^i = g + (i - N/2 - 0.5)\,\delta, \qquad
        F[i, a] = \frac{1}{Z_i}\exp\Big(-\frac{(a - \mu^i)^2}{2\sigma^2}\Big), \qquad
        Z_i = \sum_a \exp\Big(-\frac{(a - \mu^i)^2}{2\sigma^2}\Big),

    so every row sums to one. The normalisation is a softmax over the pixels, shifted by each
    row's nearest pixel, so that a tiny :math:`\sigma` (a filter as narrow as one pixel) or a
    centre far outside the image (its filters then rest on the nearest edge) stays finite;
    :math:`\log\sigma^2` is read as at least the logarithm of the dtype's smallest normal
    number.

    Example:
        >>> F = filterbank(torch.tensor(2.0), torch.tensor(1.0), torch.tensor(-20.0), 3, 4)
        >>> F.round(decimals=3)
        tensor([[1., 0., 0., 0.],
                [0., 1., 0., 0.],
                [0., 0., 1., 0.]])
    """
    for name, value in (("centre", centre), ("stride", stride), ("log_variance", log_variance)):
        tensor(name, value)
    size, length = positive_int("size", size), positive_int("length", length)
    dtype, device = centre.dtype, centre.device
    offsets = torch.arange(1, size + 1, dtype=dtype, device=device) - size / 2 - 0.5
    means = centre[..., None] + offsets * stride[..., None]  # [..., N]
    pixels = torch.arange(1, length + 1, dtype=dtype, device=device)
    squared = (pixels - means[..., None]) ** 2  # [..., N, length]
    nearest = squared.detach().amin(-1, keepdim=True)
    floor = math.log(torch.finfo(dtype).tiny)
    precision = torch.exp(-log_variance.clamp(min=floor))
    return torch.softmax(-(squared - nearest) * (precision / 2)[..., None, None], -1)


def filterbanks(glimpse: Glimpse, size: int, width: int, height: int) -> tuple[Tensor, Tensor]:
    """:math:`F_X` ``[..., size, width]`` and :math:`F_Y` ``[..., size, height]`` of a glimpse
    (:func:`filterbank` along each axis)."""
    fx = filterbank(glimpse.centre_x, glimpse.stride, glimpse.log_variance, size, width)
    fy = filterbank(glimpse.centre_y, glimpse.stride, glimpse.log_variance, size, height)
    return fx, fy


def read(x: Tensor, x_hat: Tensor, glimpse: Glimpse, size: int) -> Tensor:
    r"""DRAW's read with attention: an N × N patch of the image and of the error image,

    .. math:: \text{read}(x, \hat x) = \gamma\,[F_Y x F_X^\top,\; F_Y \hat x F_X^\top],

    ``x`` and ``x_hat`` ``[..., B, A]`` to ``[..., 2, N, N]``.

    Example:
        >>> x = torch.arange(16.0).view(4, 4)
        >>> g = Glimpse.from_decoder(torch.tensor([0.0, 0.0, -20.0, 0.0, 0.0]), 4, 4, 4)
        >>> torch.allclose(read(x, -x, g, 4)[0], x)
        True
    """
    tensor("x", x)
    tensor("x_hat", x_hat)
    if x.dim() < 2 or x_hat.shape != x.shape:
        raise ValueError(
            f"x and x_hat must be images [..., height, width] of one shape, got "
            f"{tuple(x.shape)} and {tuple(x_hat.shape)}"
        )
    fx, fy = filterbanks(glimpse, size, x.shape[-1], x.shape[-2])
    images = torch.stack([x, x_hat], -3)  # [..., 2, B, A]
    patches = fy.unsqueeze(-3) @ images @ fx.unsqueeze(-3).transpose(-1, -2)
    return glimpse.log_intensity.exp()[..., None, None, None] * patches


def write(patch: Tensor, glimpse: Glimpse, width: int, height: int) -> Tensor:
    r"""DRAW's write with attention: an N × N patch ``w`` placed on a B × A canvas,

    .. math:: \text{write}(w) = \frac{1}{\gamma}\, F_Y^\top w\, F_X,

    ``patch`` ``[..., N, N]`` to ``[..., height, width]``.

    Example:
        >>> g = Glimpse.from_decoder(torch.tensor([0.0, 0.0, -20.0, 0.0, 0.0]), 3, 3, 3)
        >>> write(torch.eye(3), g, 3, 3).round(decimals=3)
        tensor([[1., 0., 0.],
                [0., 1., 0.],
                [0., 0., 1.]])
    """
    tensor("patch", patch)
    if patch.dim() < 2 or patch.shape[-1] != patch.shape[-2]:
        raise ValueError(f"patch must be square [..., N, N], got shape {tuple(patch.shape)}")
    width, height = positive_int("width", width), positive_int("height", height)
    fx, fy = filterbanks(glimpse, patch.shape[-1], width, height)
    canvas = fy.transpose(-1, -2) @ patch @ fx
    return torch.exp(-glimpse.log_intensity)[..., None, None] * canvas

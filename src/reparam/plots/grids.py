"""Image grids: many small images tiled into one picture, and as a tensor for TensorBoard."""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import Tensor

from reparam.plots import pyplot


def tile(images: Tensor, columns: int) -> Tensor:
    """``[N, side²]`` images to one ``[rows·side, columns·side]`` grid with grey 1-pixel gaps."""
    n, pixels = images.shape
    side = math.isqrt(pixels)
    rows = math.ceil(n / columns)
    grid = torch.full((rows * (side + 1) + 1, columns * (side + 1) + 1), 0.5)
    for i, image in enumerate(images.view(n, side, side)):
        r, c = divmod(i, columns)
        grid[
            1 + r * (side + 1) : (r + 1) * (side + 1), 1 + c * (side + 1) : (c + 1) * (side + 1)
        ] = image
    return grid


def save_grid(images: Tensor, columns: int, title: str, path: Path) -> None:
    """``images`` [N, side²] in [0, 1] tiled ``columns`` a row into a PNG at ``path``."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 6 * math.ceil(len(images) / columns) / columns + 0.4))
    ax.imshow(tile(images.detach().cpu().float(), columns).numpy(), cmap="gray", vmin=0, vmax=1)
    ax.set_title(title, fontsize=10)
    ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)

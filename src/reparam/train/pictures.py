"""What a run shows: samples from the prior, reconstructions, and its learning curves."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
from torch import Tensor

from reparam.models import LatentModel


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
    fig, ax = plt.subplots(figsize=(6, 6 * math.ceil(len(images) / columns) / columns + 0.4))
    ax.imshow(tile(images.detach().cpu().float(), columns).numpy(), cmap="gray", vmin=0, vmax=1)
    ax.set_title(title, fontsize=10)
    ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


@torch.no_grad()
def draw_samples(model: LatentModel, path: Path, count: int = 64) -> None:
    """Decoder means :math:`\\mathbb E[x \\mid z]` for ``count`` draws from the prior."""
    z = model.prior().sample((count,))
    save_grid(torch.sigmoid(model.decoder_logits(z)), 8, "samples: E[x | z], z ~ p(z)", path)


@torch.no_grad()
def draw_reconstructions(model: LatentModel, x: Tensor, path: Path) -> None:
    """Pairs of data and :math:`\\mathbb E[x \\mid z]` for one ``z ~ q(z | x)``, four a row."""
    x = x[:32]
    z = model.posterior(x).sample()
    means = torch.sigmoid(model.decoder_logits(z))
    pairs = torch.stack([x, means], 1).view(-1, x.shape[-1])
    save_grid(pairs, 8, "reconstructions: data | E[x | z], z ~ q(z | x)", path)


def draw_curves(rows: Sequence[dict], path: Path) -> None:
    """Training loss and validation bound per epoch."""
    epochs = [r["epoch"] for r in rows]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(epochs, [-r["train_bound"] for r in rows], label="train −bound (nats)")
    ax.plot(epochs, [-r["valid_bound"] for r in rows], label="valid −bound (nats)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("nats")
    ax.legend()
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)

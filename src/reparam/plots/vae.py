"""What a VAE run shows: samples from the prior, reconstructions, its learning curves."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor

from reparam.models import LatentModel
from reparam.plots import pyplot
from reparam.plots.grids import save_grid, tile


@torch.no_grad()
def prior_means(model: LatentModel, count: int = 64) -> Tensor:
    r"""Decoder means :math:`\mathbb E[x \mid z]`, ``[count, pixels]``, for draws
    :math:`z \sim p(z)`."""
    z = model.prior().sample((count,))
    return torch.sigmoid(model.decoder_logits(z))


@torch.no_grad()
def reconstruction_pairs(model: LatentModel, x: Tensor) -> Tensor:
    r"""Each row of ``x`` followed by :math:`\mathbb E[x \mid z]` for one
    :math:`z \sim q(z \mid x)`: ``[2 len(x), pixels]``."""
    z = model.posterior(x).sample()
    means = torch.sigmoid(model.decoder_logits(z))
    return torch.stack([x, means], 1).view(-1, x.shape[-1])


def grid_image(images: Tensor, columns: int = 8) -> Tensor:
    """``[N, side²]`` images tiled into one ``[3, H, W]`` picture (TensorBoard's layout)."""
    return tile(images.detach().cpu().float(), columns).expand(3, -1, -1).clone()


def draw_samples(model: LatentModel, path: Path, count: int = 64) -> None:
    """Decoder means :math:`\\mathbb E[x \\mid z]` for ``count`` draws from the prior."""
    save_grid(prior_means(model, count), 8, "samples: E[x | z], z ~ p(z)", path)


def draw_reconstructions(model: LatentModel, x: Tensor, path: Path) -> None:
    """Pairs of data and :math:`\\mathbb E[x \\mid z]` for one ``z ~ q(z | x)``, four a row."""
    pairs = reconstruction_pairs(model, x[:32])
    save_grid(pairs, 8, "reconstructions: data | E[x | z], z ~ q(z | x)", path)


def draw_curves(rows: Sequence[dict], path: Path) -> None:
    """Training loss and validation bound per epoch."""
    epochs = [r["epoch"] for r in rows]
    plt = pyplot()
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

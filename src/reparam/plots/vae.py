"""What a VAE run shows: samples from the prior, reconstructions, its learning curves."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor

from reparam.models import LatentModel
from reparam.plots import pyplot
from reparam.plots.grids import save_grid


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

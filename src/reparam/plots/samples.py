"""Samples of a generative model: an image grid, or a scatter plot of 2-D points."""

from __future__ import annotations

import math
from pathlib import Path

from torch import Tensor

from reparam.plots import pyplot
from reparam.plots.grids import save_grid


def draw_samples(samples: Tensor, title: str, path: Path) -> None:
    """``samples`` [n, pixels] with a square number of pixels as a grid of images, or
    [n, 2] as points; anything else is a ValueError."""
    if samples.dim() != 2:
        raise ValueError(f"samples must be [n, features]; got shape {tuple(samples.shape)}")
    features = samples.shape[1]
    if features == 2:
        plt = pyplot()
        fig, ax = plt.subplots(figsize=(5, 5))
        ax.scatter(samples[:, 0], samples[:, 1], s=4)
        ax.set_aspect("equal")
        ax.set_title(title, fontsize=10)
        fig.tight_layout()
        fig.savefig(path, dpi=80)
        plt.close(fig)
        return
    if math.isqrt(features) ** 2 != features:
        raise ValueError(f"cannot draw samples of {features} features (not square images, not 2-D)")
    save_grid(samples, max(1, math.isqrt(len(samples) - 1) + 1), title, path)

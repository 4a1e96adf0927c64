"""What a WGAN trains on: the ring's sampler, or the rows of a data set, with a held-out part.

The training batches come from one seeded ``torch.Generator`` (``rng``), whose state the
trainer checkpoints, so that a resumed run draws the same batches as an uninterrupted one.
The held-out points are drawn once, so that the metrics compare every row with the same
points and computing them changes nothing in the training.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from reparam.data.arrays import load_arrays
from reparam.data.registry import load
from reparam.data.ring import RADIUS, sample_ring
from reparam.experiments.wgan_config import WGANConfig
from reparam.plots.wgan import Box, points_box


class WGANData:
    """Batches of real data on ``device``: ``batch(n)`` for training, ``held_out`` for the
    metrics (the ring: ``eval_points`` draws made once with ``held_out_rng``; a data set: a
    fixed sample of ``eval_points`` rows of its validation split).

    ``examples`` is the number of training rows (None for the ring, which has no rows),
    ``dim`` the data's width and ``images`` whether they are images (a square number ≥ 4 of
    values in [0, 1]: the registry's data sets always, a file when its rows are such).

    Example:
        >>> rng, fixed = torch.Generator().manual_seed(0), torch.Generator().manual_seed(1)
        >>> data = WGANData(WGANConfig(eval_points=4), rng, fixed, "cpu")
        >>> data.batch(3).shape, data.held_out.shape, data.examples, data.images
        (torch.Size([3, 2]), torch.Size([4, 2]), None, False)
    """

    def __init__(
        self,
        config: WGANConfig,
        rng: torch.Generator,
        held_out_rng: torch.Generator,
        device: torch.device | str,
    ) -> None:
        self.config, self.rng, self.device = config, rng, torch.device(device)
        self.rows: Tensor | None = None
        if config.ring:
            self.examples, self.dim, self.images = None, 2, False
            self.held_out = sample_ring(config.eval_points, held_out_rng).to(self.device)
            return
        train, valid = self._read()
        if config.subset is not None:
            if config.subset > len(train):
                raise ValueError(
                    f"--subset {config.subset} exceeds the {len(train)} training rows of "
                    f"{config.dataset}"
                )
            train = train[_fixed_order(len(train))[: config.subset]]
        valid = valid[_fixed_order(len(valid))[: config.eval_points]]
        self.rows, self.held_out = train.to(self.device), valid.to(self.device)
        self.examples, self.dim = train.shape
        pixels = self.dim
        self.images = config.registry or (
            pixels >= 4
            and math.isqrt(pixels) ** 2 == pixels
            and bool(((train >= 0) & (train <= 1)).all())
        )

    def _read(self) -> tuple[Tensor, Tensor]:
        config = self.config
        if config.registry:
            return (
                load(config.dataset, "train", config.data_dir),
                load(config.dataset, "valid", config.data_dir),
            )
        return load_arrays(config.dataset, "train"), load_arrays(config.dataset, "valid")

    def batch(self, n: int) -> Tensor:
        """``n`` training examples drawn uniformly (with replacement) with ``rng``."""
        if self.rows is None:
            return sample_ring(n, self.rng).to(self.device)
        return self.rows[torch.randint(len(self.rows), (n,), generator=self.rng).to(self.device)]

    def box(self, real: Tensor, fake: Tensor) -> Box:
        """Where to draw 2-D points: the ring's square, or the clouds' bounding box."""
        if self.config.ring:
            lim = RADIUS + 1.0
            return (-lim, lim, -lim, lim)
        return points_box(real, fake)


def _fixed_order(n: int) -> Tensor:
    """A permutation of ``n`` rows seeded 0 (the files are often ordered, so a prefix of
    them is not a fair sample)."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(0))

r"""DRAW on the run engine: ``reparam train draw``.

An epoch is one pass over the training split in a seeded random order; each step is one Adam
step on the batch's mean negative ELBO (one path a row, the per-step KLs analytic:
:class:`~reparam.models.DRAW`),

.. math:: -\frac1B \sum_b \Big(\log p(x_b \mid z_{1:T}) - \sum_{t=1}^T
    \mathrm{KL}\big(q(z_t \mid z_{<t}, x_b) \,\|\, \mathcal N(0, I)\big)\Big),

with the gradient's norm clipped to ``clip_norm`` and, with ``kl_warmup``, the KL term
weighted by :math:`\beta_t = \min(1, t / \text{warm-up})`
(:class:`~reparam.objectives.KLAnnealing`).
Each epoch's row holds β at its end, the mean training bound (with β), the validation bound
(the ELBO, β = 1, which picks ``best.pt``) and the validation KL
:math:`\sum_t \mathrm{KL}_t`. Under ``torchrun`` each rank trains on its share of every batch
through DistributedDataParallel; rank 0 writes. The pictures, drawn at the end from the best
weights with fixed noise: ``samples.png`` (64 images :math:`\sigma(c_T)`), ``canvas.png``
(the canvas of 8 samples over the steps, the write attention boxed), ``canvas.gif`` (the same
animated, 16 samples) and ``curves.png``.

References:
    Gregor, Danihelka, Graves, Rezende & Wierstra (2015), DRAW: A Recurrent Neural Network For
    Image Generation.

Example:
    One epoch of a small DRAW on 200 of the 8 × 8 digits, then the run loaded back:

    >>> import tempfile
    >>> from reparam.runs import load_run
    >>> from reparam.train import RunOptions, run
    >>> out = tempfile.mkdtemp() + "/draw"
    >>> config = DRAWConfig(dataset="digits", subset=200, epochs=1, glimpses=3, hidden=16,
    ...                     latent=4, read_size=3, write_size=3, batch_size=50, device="cpu")
    >>> result = run(DRAWTrainer, config, RunOptions(out, progress=False, tensorboard=False))
    >>> [row["epoch"] for row in result.history], (result.config.width, result.config.height)
    ([1], (8, 8))
    >>> load_run(out).sample(4).shape
    torch.Size([4, 64])
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from reparam.experiments.draw_config import DRAWConfig
from reparam.experiments.vae import fixed_noise
from reparam.experiments.vae_build import load_split
from reparam.experiments.vae_evaluation import Evaluation, merged_bounds
from reparam.models import DRAW
from reparam.objectives import KLAnnealing
from reparam.plots import draw as pictures
from reparam.plots.grids import save_grid
from reparam.plots.vae import draw_curves, grid_image
from reparam.train import Trainer
from reparam.train.checkpoint import load as load_checkpoint
from reparam.train.compile import maybe_compile
from reparam.train.distributed import Ranks

SAMPLES = 64  # images in samples.png and the TensorBoard grid


def image_size(config: DRAWConfig, pixels: int) -> tuple[int, int]:
    """``(width, height)`` of square images of ``pixels`` values, checked against a resumed
    run's; a ValueError naming ``--dataset`` for rows that are not square images."""
    side = math.isqrt(pixels)
    if side * side != pixels:
        raise ValueError(
            f"--dataset {config.dataset} has {pixels} values a row: DRAW needs square images"
        )
    if config.width is not None and (config.width, config.height) != (side, side):
        raise ValueError(
            f"--dataset {config.dataset} holds {side} x {side} images, but the run was trained "
            f"on {config.width} x {config.height}"
        )
    return side, side


class DRAWTrainer(Trainer):
    """DRAW on the run engine (see the module docstring)."""

    name, command, Config = "draw", "train draw", DRAWConfig
    monitor = "valid_bound"
    outputs = ("samples.png", "canvas.png", "canvas.gif", "curves.png")

    def __init__(self, config: DRAWConfig, ranks: Ranks) -> None:
        device = ranks.device
        train_x = load_split(config.dataset, "train", config.data_dir, config.subset)
        valid_x = load_split(config.dataset, "valid", config.data_dir, config.subset)
        width, height = image_size(config, train_x.shape[1])
        self.config = replace(config, width=width, height=height, device=str(device))
        self.ranks = ranks
        self.train_x, self.valid_x = train_x.to(device), valid_x.to(device)
        torch.manual_seed(config.seed)
        self.model: DRAW = self.build_model(self.config).to(device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr)
        self.annealing = KLAnnealing(config.kl_warmup)
        self.net = DistributedDataParallel(self.model) if ranks.world > 1 else self.model
        self.bound = maybe_compile(self.batch_bound, config.compile)
        self.steps = math.ceil(len(self.train_x) / config.batch_size)
        self.order = torch.zeros(0, dtype=torch.long)
        self.total, self.count = 0.0, 0
        torch.manual_seed(config.seed + ranks.rank)

    @property
    def periods(self) -> int:
        return self.config.epochs

    def steps_in(self, period: int) -> int:
        return self.steps

    def start_period(self, period: int) -> None:
        seed = self.config.seed * 1_000_003 + period
        self.order = torch.randperm(
            len(self.train_x), generator=torch.Generator().manual_seed(seed)
        )
        self.total, self.count = 0.0, 0
        self.model.train()

    def batch_bound(self, x: Tensor, beta: float) -> Tensor:
        """The ELBO of each row of ``x``, its KL weighted by ``beta`` (the function
        ``--compile`` compiles)."""
        return self.net(x, beta=beta)

    def train_step(self, period: int, index: int) -> None:
        ranks, size = self.ranks, self.config.batch_size
        share = ranks.share(self.order, index, size)
        x = self.train_x[share.to(self.train_x.device)]
        bound = self.bound(x, self.annealing(period * self.steps + index))
        self.optimizer.zero_grad(set_to_none=True)
        (-bound.mean()).backward()
        nn.utils.clip_grad_norm_(self.model.parameters(), self.config.clip_norm)
        self.optimizer.step()
        self.total += float(bound.detach().sum())
        self.count += len(x)

    def end_period(self, period: int) -> dict[str, Any]:
        valid_bound, valid_kl = self.validate()
        return {
            "beta": self.annealing((period + 1) * self.steps),
            "train_bound": self.total / self.count,
            "valid_bound": valid_bound,
            "valid_kl": valid_kl,
        }

    @torch.no_grad()
    def validate(self) -> tuple[float, float]:
        """The mean ELBO and the mean :math:`\\sum_t \\mathrm{KL}_t` of the validation split,
        one path a row."""
        self.model.eval()
        bound = kl = 0.0
        for x in self.valid_x.split(self.config.batch_size):
            log_likelihood, divergence = self.model.elbo_terms(x)
            bound += float((log_likelihood - divergence).sum())
            kl += float(divergence.sum())
        self.model.train()
        return bound / len(self.valid_x), kl / len(self.valid_x)

    def state_dict(self) -> dict[str, Any]:
        return {
            "optimizer": self.optimizer.state_dict(),
            "order": self.order,
            "total": self.total,
            "count": self.count,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.order, self.total, self.count = state["order"].cpu(), state["total"], state["count"]

    def summary(self, row: dict[str, Any]) -> str:
        return (
            f"train_bound {row['train_bound']:.2f}  valid_bound {row['valid_bound']:.2f}  "
            f"valid_kl {row['valid_kl']:.2f}"
        )

    def images(self) -> dict[str, Tensor]:
        """Samples for TensorBoard, from fixed noise that leaves torch's random state as it
        was (a resumed run must draw what a straight one does)."""
        with fixed_noise(self.ranks.device):
            self.model.eval()
            samples = self.model.sample(SAMPLES)
            self.model.train()
        return {"samples": grid_image(samples)}

    def draw(self, folder: Path, history: list[dict[str, Any]]) -> None:
        """samples.png, canvas.png and canvas.gif of the best model, and curves.png."""
        model = self.build_model(self.config).to(self.ranks.device)
        model.load_state_dict(load_checkpoint(folder / "best.pt", self.ranks.device)["model"])
        model.eval()
        with fixed_noise(self.ranks.device):
            drawing = model.sample(SAMPLES, steps=True)
        title = f"samples σ(c_T), T = {model.glimpses}"
        save_grid(drawing.means, 8, title, folder / "samples.png")
        pictures.draw_canvas_grid(drawing, folder / "canvas.png")
        pictures.draw_canvas_animation(drawing, folder / "canvas.gif")
        draw_curves(history, folder / "curves.png")

    @classmethod
    def build_model(cls, config: DRAWConfig) -> DRAW:
        if config.width is None or config.height is None:
            raise ValueError("the draw config records no width and height: it needs the data's")
        return DRAW(
            config.width,
            config.height,
            glimpses=config.glimpses,
            hidden=config.hidden,
            latent=config.latent,
            attention=config.attention,
            read_size=config.read_size,
            write_size=config.write_size,
        )

    @classmethod
    def generate(cls, model: nn.Module, config: DRAWConfig, n: int) -> Tensor:
        r"""``n`` images :math:`\sigma(c_T)` ``[n, pixels]`` generated from the prior."""
        assert isinstance(model, DRAW)
        return model.sample(n)

    @classmethod
    @torch.no_grad()
    def test_bounds(
        cls,
        folder: Path,
        model: nn.Module,
        config: DRAWConfig,
        *,
        split: str,
        k: int,
        chunk: int,
        subset: int | None,
        batch_size: int,
        meter: Callable[[int], Callable[[], None]],
    ) -> Evaluation:
        r"""``reparam eval``: :math:`-\mathcal L_k` from k paths a digit (:meth:`DRAW.
        log_weights`, ``chunk`` paths at a time), the mean log-weight and, as ``kl``, the mean
        :math:`\sum_t \mathrm{KL}_t` of one path."""
        assert isinstance(model, DRAW)
        model.eval()
        data = load_split(config.dataset, split, config.data_dir, subset)
        data = data.to(model.prior_loc.device)
        advance = meter(math.ceil(len(data) / batch_size))
        nll = negative_elbo = kl = 0.0
        for x in data.split(batch_size):
            bound, elbo = merged_bounds(lambda n: model.log_weights(x, n), k, chunk)  # noqa: B023
            nll -= float(bound.sum())
            negative_elbo -= float(elbo.sum())
            kl += float(model.elbo_terms(x)[1].sum())
            advance()
        n = len(data)
        return Evaluation(split, k, nll / n, negative_elbo / n, None, n, 0.0, {"kl": kl / n})

r"""Train a Wasserstein GAN (clipped or gradient-penalised critic) and watch :math:`W_1` fall.

Each generator step follows ``critic_steps`` critic steps that maximise the
Kantorovich–Rubinstein objective :math:`\mathbb E_P f - \mathbb E_Q f` (minus the gradient
penalty for ``gp``; then the weights are clipped for ``clip``), and moves the generator down
:math:`-\mathbb E_Q f` (Arjovsky et al. 2017, Algorithm 1; Gulrajani et al. 2017, Algorithm
1). The defaults are the papers' (:mod:`reparam.experiments.wgan_config`), the networks
:mod:`reparam.experiments.wgan_networks`'s.

The run is counted in generator steps (the engine's ``unit`` is ``"step"``), grouped into
periods that end after the first step, every ``log_every`` steps and at the last; each
period's metrics row holds

- ``critic_w1``: the critic's estimate :math:`\mathbb E_P f - \mathbb E_Q f` on held-out real
  points (:class:`~reparam.experiments.wgan_data.WGANData`'s ``held_out``) and as many
  generated ones, both drawn once for the whole run from their own seeded generator, so
  that the rows compare like with like and computing them leaves the training untouched
  (a run's trajectory does not depend on ``log_every`` or ``eval_points``);
- ``critic_w1_train``, ``penalty``: the means of the estimate and of the penalty over the
  period's critic steps;
- ``lipschitz``: :func:`~reparam.transport.lipschitz_estimate`, the largest input-gradient
  norm of the critic on interpolates of those points;
- ``exact_w1`` (2-D data only): the exact :math:`W_1` between the two clouds
  (:func:`~reparam.transport.exact_w1`), meaningful in 2-D, where empirical :math:`W_1`
  between 512 points is close to the population value (in 784 dimensions it is dominated by
  the sampling error, which shrinks like :math:`n^{-1/d}`);
- ``valid``, the column that picks ``best.pt``: :math:`-W_1` exact on 2-D data, else minus
  the held-out critic estimate. The exact distance is the honest measure where it exists;
  elsewhere the critic's estimate on data it never trained on is the WGAN's own measure of
  progress (Arjovsky et al. 2017, §4.2, show it tracks sample quality), up to the critic's
  Lipschitz constant, which a clipped critic does not control: compare ``lipschitz`` too.

A clipped critic is :math:`K`-Lipschitz for some unknown :math:`K`, so its estimate is
:math:`K\,W_1`, not :math:`W_1`: compare the exact column, or the estimate divided by the
Lipschitz estimate, across the two constraints.

Under ``torchrun`` each rank draws its own noise and data (``batch_size / world`` examples a
step) and the gradients are averaged before every optimiser step
(:func:`~reparam.experiments.wgan_networks.average_gradients`), so the ranks stay identical;
rank 0 evaluates and writes. ``compile`` compiles the two networks' forward passes for the
training losses; the gradient penalty and the metrics use the eager critic (compiled graphs
cannot be differentiated twice).

Example:
    Twelve generator steps on the ring, a row after steps 1, 5, 10 and 12:

    >>> import tempfile
    >>> from reparam.train import RunOptions, run
    >>> config = WGANConfig(steps=12, log_every=5, batch_size=16, critic_steps=2, hidden=16,
    ...                     eval_points=32, device="cpu")
    >>> result = run(WGANTrainer, config, RunOptions(tempfile.mkdtemp() + "/ring",
    ...                                              progress=False, tensorboard=False))
    >>> [row["step"] for row in result.history], sorted(result.history[-1])[:4]
    ([1, 5, 10, 12], ['critic_w1', 'critic_w1_train', 'exact_w1', 'lipschitz'])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from reparam.experiments.wgan_config import WGANConfig
from reparam.experiments.wgan_data import WGANData
from reparam.experiments.wgan_networks import (
    average_gradients,
    broadcast_parameters,
    build_networks,
    make_optimizer,
)
from reparam.train import Trainer
from reparam.train.compile import maybe_compile
from reparam.train.distributed import Ranks
from reparam.transport import (
    clip_weights_,
    critic_loss,
    exact_w1,
    generator_loss,
    gradient_penalty,
    lipschitz_estimate,
)

GRID = 64  # generated images in samples.png and the TensorBoard grid


def period_ends(steps: int, every: int, done: Sequence[int] = ()) -> list[int]:
    """The generator step at which each period ends: after step 1, every ``every`` steps and
    at ``steps``. ``done`` are the ends of a resumed run's finished periods, kept as they
    were (a run first stopped at 25 keeps its row there when it is resumed to 40).

    >>> period_ends(30, 10), period_ends(40, 10, done=[1, 10, 20, 25])
    ([1, 10, 20, 30], [1, 10, 20, 25, 30, 40])
    """
    last = done[-1] if done else 0
    grid = {1, steps, *range(every, steps, every)}
    return [*done, *sorted(end for end in grid if end > last)]


class WGANTrainer(Trainer):
    """A WGAN on the run engine (see the module docstring)."""

    name = "wgan"
    command = "train wgan"
    Config = WGANConfig
    unit = "step"
    monitor = "valid"
    outputs = ("samples.png", "curves.png")

    def __init__(self, config: WGANConfig, ranks: Ranks) -> None:
        self.ranks, device = ranks, ranks.device
        torch.manual_seed(config.seed)
        self.data_rng = torch.Generator().manual_seed(self._data_seed(config.seed, 0))
        fixed = torch.Generator().manual_seed(config.seed + 1)  # the metrics' draws, once
        self.data = WGANData(config, self.data_rng, fixed, device)
        examples = self.data.examples or 0
        config = config.for_data(examples=examples, dim=self.data.dim, images=self.data.images)
        assert config.batch_size is not None and config.noise_dim is not None
        if config.batch_size % ranks.world:
            raise ValueError(
                f"--batch-size {config.batch_size} must divide among the {ranks.world} processes"
            )
        self.config = config
        self.batch = config.batch_size // ranks.world
        self.model = self.build_model(config).to(device)
        self.generator, self.critic = self.model["generator"], self.model["critic"]
        broadcast_parameters(self.model, ranks.world)
        self.fast_generator = maybe_compile(self.generator, config.compile)
        self.fast_critic = maybe_compile(self.critic, config.compile)
        self.critic_optimizer = make_optimizer(self.critic.parameters(), config)
        self.generator_optimizer = make_optimizer(self.generator.parameters(), config)
        points = len(self.data.held_out)
        self.eval_noise = torch.randn(points, config.noise_dim, generator=fixed).to(device)
        self.eval_t = torch.rand(points, generator=fixed).to(device)
        self.grid_noise = torch.randn(GRID, config.noise_dim, generator=fixed).to(device)
        assert config.steps is not None and config.log_every is not None
        self.ends = period_ends(config.steps, config.log_every)
        self.step = 0
        self.window = torch.zeros(3, dtype=torch.float64, device=device)  # Σ w1, Σ penalty, n
        if ranks.world > 1:  # each rank its own noise and data
            torch.manual_seed(self._data_seed(config.seed, ranks.rank))
            self.data_rng.manual_seed(self._data_seed(config.seed, ranks.rank))

    @staticmethod
    def _data_seed(seed: int, stream: int) -> int:
        return seed if stream == 0 else seed * 1_000_003 + stream

    # What load_run, `reparam sample` and `reparam export` use.

    @classmethod
    def build_model(cls, config: WGANConfig) -> nn.Module:
        return build_networks(config)

    @classmethod
    def generate(cls, model: nn.Module, config: WGANConfig, n: int) -> Tensor:
        generator = model["generator"]  # type: ignore[index]
        device = next(generator.parameters()).device
        return generator(torch.randn(n, config.noise_dim, device=device))

    @classmethod
    def exportable(cls, model: nn.Module, config: WGANConfig) -> tuple[nn.Module, tuple[Tensor]]:
        generator = model["generator"]  # type: ignore[index]
        assert config.noise_dim is not None
        return generator, (torch.randn(GRID, config.noise_dim),)

    # The engine's loop.

    @property
    def periods(self) -> int:
        return len(self.ends)

    def steps_in(self, period: int) -> int:
        return self.ends[period] - (self.ends[period - 1] if period else 0)

    def start_period(self, period: int) -> None:
        self.window.zero_()

    def noise(self, n: int) -> Tensor:
        assert self.config.noise_dim is not None
        return torch.randn(n, self.config.noise_dim, device=self.ranks.device)

    def train_step(self, period: int, index: int) -> None:
        for _ in range(self.config.critic_steps):
            with torch.no_grad():
                fake = self.fast_generator(self.noise(self.batch))
            self.critic_step(self.data.batch(self.batch), fake)
        loss = generator_loss(self.fast_critic, self.fast_generator(self.noise(self.batch)))
        self.generator_optimizer.zero_grad()
        loss.backward(inputs=list(self.generator.parameters()))
        average_gradients(self.generator, self.ranks.world)
        self.generator_optimizer.step()
        self.step += 1

    def critic_step(self, real: Tensor, fake: Tensor) -> None:
        """One critic update (:func:`reparam.transport.critic_step`'s, with the gradients
        averaged over the ranks before the step)."""
        config = self.config
        self.critic_optimizer.zero_grad()
        loss = critic_loss(self.fast_critic, real, fake)
        if config.lipschitz == "gp":
            assert config.gp_lambda is not None
            penalty = gradient_penalty(self.critic, real, fake, lam=config.gp_lambda)
        else:
            penalty = torch.zeros((), dtype=loss.dtype, device=loss.device)
        (loss + penalty).backward()
        average_gradients(self.critic, self.ranks.world)
        self.critic_optimizer.step()
        if config.lipschitz == "clip":
            assert config.clip is not None
            clip_weights_(self.critic, config.clip)
        with torch.no_grad():
            self.window += torch.stack(
                [-loss.double(), penalty.double(), loss.new_ones(()).double()]
            )

    def end_period(self, period: int) -> dict[str, Any]:
        w1_sum, penalty_sum, count = self.window.tolist()
        row = self.evaluate() if self.ranks.main else self._blank()
        row["critic_w1_train"] = w1_sum / count
        row["penalty"] = penalty_sum / count
        return row

    def evaluate(self) -> dict[str, float]:
        """The held-out metrics of the module docstring."""
        real = self.data.held_out
        with torch.no_grad():
            fake = self.generator(self.eval_noise)
            estimate = -critic_loss(self.critic, real, fake).item()
        row = {
            "critic_w1": estimate,
            "lipschitz": lipschitz_estimate(self.critic, real, fake, t=self.eval_t).item(),
        }
        if self.config.data_dim == 2:
            row["exact_w1"] = exact_w1(real, fake)
            row["valid"] = -row["exact_w1"]
        else:
            row["valid"] = -estimate
        return row

    def _blank(self) -> dict[str, float]:
        names = ["critic_w1", "lipschitz", *(["exact_w1"] if self.config.data_dim == 2 else [])]
        return dict.fromkeys([*names, "valid"], math.nan)

    def summary(self, row: dict[str, Any]) -> str:
        exact = f"exact W1 {row['exact_w1']:.3f}  " if "exact_w1" in row else ""
        return f"{exact}critic W1 {row['critic_w1']:.4g}  Lipschitz {row['lipschitz']:.3g}"

    # Resume.

    def state_dict(self) -> dict[str, Any]:
        return {
            "critic_optimizer": self.critic_optimizer.state_dict(),
            "generator_optimizer": self.generator_optimizer.state_dict(),
            "data_rng": self.data_rng.get_state(),
            "window": self.window,
            "step": self.step,
            "ends": self.ends,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        config = self.config
        assert config.steps is not None and config.log_every is not None
        step = int(state["step"])
        if step > config.steps:
            raise ValueError(
                f"--steps {config.steps} is fewer than the {step} steps the run has done"
            )
        self.critic_optimizer.load_state_dict(state["critic_optimizer"])
        self.generator_optimizer.load_state_dict(state["generator_optimizer"])
        self.data_rng.set_state(state["data_rng"].cpu())
        self.window = state["window"].to(self.ranks.device)
        self.step = step
        done = [end for end in state["ends"] if end <= step]
        self.ends = period_ends(config.steps, config.log_every, done)
        if self.ranks.world > 1:  # rank 0's stream was saved: each rank starts its own again
            self.data_rng.manual_seed(self._data_seed(config.seed, step * 101 + self.ranks.rank))

    # Pictures.

    def images(self) -> dict[str, Tensor]:
        if not self.config.images:
            return {}
        from reparam.plots.grids import tile

        with torch.no_grad():
            samples = self.generator(self.grid_noise).cpu()
        return {"samples": tile(samples, 8).clamp(0, 1).expand(3, -1, -1).clone()}

    def draw(self, folder: Path, history: list[dict[str, Any]]) -> None:
        from reparam.plots.grids import save_grid
        from reparam.plots.wgan import draw_curves, draw_points

        config = self.config
        title = f"WGAN-{config.lipschitz}"
        where = "8-Gaussian ring" if config.ring else Path(config.dataset).name
        if config.data_dim == 2:
            real = self.data.held_out
            with torch.no_grad():
                fake = self.generator(self.eval_noise)
            draw_points(
                self.critic,
                real,
                fake,
                self.data.box(real, fake),
                f"{title}, {where}, {config.steps} generator steps",
                folder / "samples.png",
                equal_aspect=config.ring,
            )
        elif config.images:
            with torch.no_grad():
                samples = self.generator(self.grid_noise).cpu()
            save_grid(samples, 8, f"{title} samples (generator means)", folder / "samples.png")
        if history:
            name = Path(config.dataset).name
            draw_curves(history, f"{title} on {name}", folder / "curves.png", config.eval_points)

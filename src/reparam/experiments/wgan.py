r"""Train a Wasserstein GAN (clipped or gradient-penalised critic) and watch :math:`W_1` fall.

Two targets:

- ``ring``: the 8-Gaussian ring in 2-D (:mod:`reparam.data.ring`), with MLPs as in Gulrajani et
  al.'s toy experiments (noise dimension 2, three hidden ReLU layers for both networks, batch
  256; width 256 rather than their 512, to fit a CPU budget). Every ``log_every`` generator
  steps the run logs the critic's :math:`W_1` estimate :math:`\mathbb E_P f - \mathbb E_Q f`
  on 512 fresh data and 512 fresh generated points, the *exact* :math:`W_1` between those
  same two clouds (Euclidean cost, uniform weights; see :func:`exact_w1`), and the critic's
  Lipschitz estimate (:func:`reparam.transport.wgan.lipschitz_estimate`, the largest
  input-gradient norm on interpolates);
- ``binarized-mnist`` (and the small ``digits`` set, for quick checks): MLP generator
  (noise 64 → 256 → 512 → pixels, sigmoid) and critic (pixels → 512 → 256 → 1, LeakyReLU);
  the exact :math:`W_1` between 784-dimensional clouds is not logged.

The two Lipschitz constraints use their papers' hyperparameters: ``clip`` — RMSprop, lr
:math:`5\cdot10^{-5}`, :math:`c = 0.01` (Arjovsky et al. 2017, Algorithm 1); ``gp`` — Adam, lr
:math:`10^{-4}`, betas (0.5, 0.9), :math:`λ = 10` (Gulrajani et al. 2017, Algorithm 1); both
with :math:`n_{\text{critic}} = 5` critic steps per generator step. On the ring, the penalty weight defaults to
:math:`λ = 0.1`, the value of the authors' released toy code (``gan_toy.py``: "smaller lambda
seems to help for toy tasks specifically"), not the paper's 10: with 10 the short CPU run
oscillates instead of converging. A clipped critic is
:math:`K`-Lipschitz for some unknown :math:`K`, so its estimate is :math:`K\,W_1`, not
:math:`W_1`: compare the exact :math:`W_1` column, or the estimate divided by the Lipschitz
estimate, across the two runs.

The run folder holds config.json, metrics.csv, model.pt (both networks' weights),
samples.png and curves.png.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from scipy.optimize import linear_sum_assignment
from torch import Tensor, nn

from reparam.data.registry import load
from reparam.data.ring import RADIUS, sample_ring
from reparam.plots.grids import save_grid
from reparam.train.distributed import resolve_device
from reparam.transport.kantorovich import kantorovich
from reparam.transport.wgan import (
    CRITIC_CONSTRAINTS,
    critic_loss,
    critic_step,
    lipschitz_estimate,
)

WGAN_DATASETS = ("ring", "binarized-mnist", "digits")
# Paper defaults per constraint: optimiser, learning rate, Adam betas.
PAPER = {
    "clip": {"optimizer": "rmsprop", "lr": 5e-5, "betas": None},
    "gp": {"optimizer": "adam", "lr": 1e-4, "betas": (0.5, 0.9)},
}
EVAL_POINTS = 512
RING_STEPS = 1500
# Gulrajani et al.'s gan_toy.py: LAMBDA = .1, "Smaller lambda seems to help for toy tasks
# specifically"; with λ = 10 this ring run oscillates (exact W1 1.98 → 1.35 → 3.0 → 1.7 over
# 900 steps) where λ = 0.1 falls steadily.
RING_LAMBDA = 0.1
IMAGE_EPOCHS = 2


@dataclass
class WGANConfig:
    """A WGAN run. ``None`` fields take the defaults of :func:`resolve` (the papers' values)."""

    dataset: str = "ring"
    lipschitz: str = "clip"
    steps: int | None = None  # generator steps (ring default RING_STEPS)
    epochs: int | None = None  # images: passes of the critic over the data (default 2)
    batch_size: int | None = None  # ring 256 (Gulrajani et al.), images 64
    lr: float | None = None  # clip 5e-5 (RMSprop), gp 1e-4 (Adam, betas 0.5, 0.9)
    critic_steps: int = 5
    clip: float = 0.01
    lam: float | None = None  # gp weight: ring 0.1 (Gulrajani et al.'s toy code), images 10
    noise_dim: int | None = None  # ring 2, images 64
    hidden: int | None = None  # ring: width of the three hidden layers (256)
    log_every: int | None = None  # generator steps between rows (default steps // 50, >= 10)
    eval_points: int = EVAL_POINTS
    device: str = "auto"
    seed: int = 0
    data_dir: str | None = None
    out: str = "runs/wgan-ring-clip"

    def __post_init__(self) -> None:
        if self.dataset not in WGAN_DATASETS:
            raise ValueError(
                f"unknown dataset {self.dataset!r} for wgan; choose from {', '.join(WGAN_DATASETS)}"
            )
        if self.lipschitz not in CRITIC_CONSTRAINTS:
            raise ValueError(
                f"unknown Lipschitz constraint {self.lipschitz!r}; choose from "
                f"{', '.join(CRITIC_CONSTRAINTS)}"
            )
        for name in ("steps", "epochs", "batch_size", "noise_dim", "hidden", "log_every"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1, got {value}")
        if self.critic_steps < 1:
            raise ValueError(f"critic_steps must be at least 1, got {self.critic_steps}")
        if self.lr is not None and not self.lr > 0:
            raise ValueError(f"the learning rate must be positive, got {self.lr}")
        if not self.clip > 0:
            raise ValueError(f"the clipping bound must be positive, got {self.clip}")
        if self.lam is not None and not self.lam >= 0:
            raise ValueError(f"the penalty weight must be non-negative, got {self.lam}")
        if self.eval_points < 2:
            raise ValueError(f"eval_points must be at least 2, got {self.eval_points}")


def resolve(config: WGANConfig, examples: int | None = None) -> WGANConfig:
    """``config`` with every ``None`` replaced by its default; ``examples`` (the size of an
    image data set) turns ``epochs`` into generator steps, each using ``critic_steps`` real
    batches."""
    ring = config.dataset == "ring"
    batch = config.batch_size or (256 if ring else 64)
    steps = config.steps
    if steps is None:
        if ring:
            steps = RING_STEPS
        else:
            if examples is None:
                raise ValueError("the size of the data set is needed to turn epochs into steps")
            epochs = config.epochs or IMAGE_EPOCHS
            steps = math.ceil(epochs * examples / (batch * config.critic_steps))
    return replace(
        config,
        steps=steps,
        batch_size=batch,
        lr=config.lr or PAPER[config.lipschitz]["lr"],
        noise_dim=config.noise_dim or (2 if ring else 64),
        hidden=config.hidden or 256,
        lam=config.lam if config.lam is not None else (RING_LAMBDA if ring else 10.0),
        log_every=config.log_every or max(steps // 50, min(10, steps)),
    )


def exact_w1(x: Tensor, y: Tensor, method: str = "assignment") -> float:
    r"""The exact :math:`W_1` between the uniform empirical measures on ``x`` [n, d] and
    ``y`` [m, d] with Euclidean cost.

    ``method="kantorovich"`` solves the transport linear programme with
    :func:`reparam.transport.kantorovich.kantorovich` (any n, m; ~25 s for 512 × 512 on one
    core). ``method="assignment"`` (the default, n = m only) solves the same programme as an
    assignment problem (``scipy.optimize.linear_sum_assignment``, ~0.1 s for 512 × 512): with
    uniform weights 1/n on both sides the transport polytope is :math:`1/n` times the Birkhoff
    polytope, whose vertices are permutation matrices, so the LP optimum is attained at a
    permutation and the two values agree to rounding.

    >>> x = torch.randn(16, 2)
    >>> round(exact_w1(x, x + torch.tensor([3.0, 4.0])), 6)
    5.0
    """
    if x.dim() != 2 or y.dim() != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(
            f"expected point clouds [n, d] and [m, d], got {tuple(x.shape)} and {tuple(y.shape)}"
        )
    if x.shape[0] == 0 or y.shape[0] == 0:
        raise ValueError("the point clouds must be non-empty")
    cost = torch.cdist(x.detach().double().cpu(), y.detach().double().cpu())
    if method == "kantorovich":
        a = torch.full((x.shape[0],), 1.0 / x.shape[0], dtype=torch.float64)
        b = torch.full((y.shape[0],), 1.0 / y.shape[0], dtype=torch.float64)
        return float(kantorovich(a, b, cost).cost)
    if method != "assignment":
        raise ValueError(f"unknown method {method!r}; choose from assignment, kantorovich")
    if x.shape[0] != y.shape[0]:
        raise ValueError(
            f"the assignment method needs clouds of equal size, got {x.shape[0]} and "
            f"{y.shape[0]}; use method='kantorovich'"
        )
    c = cost.numpy()
    rows, cols = linear_sum_assignment(c)
    return float(c[rows, cols].mean())


def mlp(
    sizes: list[int], activation: Callable[[], nn.Module], last: nn.Module | None
) -> nn.Sequential:
    """Linear layers of ``sizes`` with ``activation`` between them and ``last`` at the end."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(activation())
    if last is not None:
        layers.append(last)
    return nn.Sequential(*layers)


def build_networks(config: WGANConfig, dim: int) -> tuple[nn.Module, nn.Module]:
    """The generator (noise → data space) and critic (data space → one score) of a resolved
    config, for data of dimension ``dim``."""
    assert config.noise_dim is not None and config.hidden is not None
    if config.dataset == "ring":
        width = config.hidden
        generator = mlp([config.noise_dim, width, width, width, dim], nn.ReLU, None)
        critic = mlp([dim, width, width, width, 1], nn.ReLU, None)
    else:
        width = config.hidden
        generator = mlp([config.noise_dim, width, 2 * width, dim], nn.ReLU, nn.Sigmoid())
        critic = mlp([dim, 2 * width, width, 1], lambda: nn.LeakyReLU(0.2), None)
    return generator, critic


def make_optimizer(params, config: WGANConfig) -> torch.optim.Optimizer:
    if PAPER[config.lipschitz]["optimizer"] == "rmsprop":
        return torch.optim.RMSprop(params, lr=config.lr)
    return torch.optim.Adam(params, lr=config.lr, betas=PAPER[config.lipschitz]["betas"])


@dataclass
class WGANResult:
    """The resolved config, the metric rows and the trained networks."""

    config: WGANConfig
    rows: list[dict]
    generator: nn.Module
    critic: nn.Module


FIELDS = (
    "step",
    "seconds",
    "critic_w1",
    "critic_w1_train",
    "penalty",
    "lipschitz",
    "exact_w1",
)


def train_wgan(config: WGANConfig, progress: bool | None = None) -> WGANResult:
    """Train, log every ``log_every`` generator steps, and write the run folder."""
    device = resolve_device(config.device)
    torch.manual_seed(config.seed)
    data_rng = torch.Generator().manual_seed(config.seed)
    if config.dataset == "ring":
        data = None
        config = resolve(config)

        def real_batch(n: int) -> Tensor:
            return sample_ring(n, data_rng).to(device)

        dim = 2
    else:
        data = load(config.dataset, "train", config.data_dir)
        config = resolve(config, examples=data.shape[0])

        def real_batch(n: int) -> Tensor:
            return data[torch.randint(data.shape[0], (n,), generator=data_rng)].to(device)

        dim = data.shape[1]
    assert config.steps is not None and config.batch_size is not None
    assert config.noise_dim is not None and config.log_every is not None
    generator, critic = build_networks(config, dim)
    generator.to(device)
    critic.to(device)
    g_opt = make_optimizer(generator.parameters(), config)
    c_opt = make_optimizer(critic.parameters(), config)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(
        json.dumps(
            {**asdict(config), "model": "wgan", **PAPER[config.lipschitz], "data_dim": dim},
            indent=2,
        )
        + "\n"
    )

    def noise(n: int) -> Tensor:
        return torch.randn(n, config.noise_dim, device=device)

    rows: list[dict] = []
    window: list[dict] = []
    start = time.perf_counter()
    show = sys.stdout.isatty() if progress is None else progress
    columns = (TextColumn("wgan {task.description}"), BarColumn(), TextColumn("{task.fields[w]}"))
    with Progress(*columns, TimeRemainingColumn(), disable=not show) as bar:
        task = bar.add_task(f"{config.dataset}/{config.lipschitz}", total=config.steps, w="")
        for step in range(1, config.steps + 1):
            for _ in range(config.critic_steps):
                with torch.no_grad():
                    fake = generator(noise(config.batch_size))
                window.append(
                    critic_step(
                        critic,
                        c_opt,
                        real_batch(config.batch_size),
                        fake,
                        lipschitz=config.lipschitz,
                        c=config.clip,
                        lam=config.lam,
                    )
                )
            for p in critic.parameters():
                p.requires_grad_(False)
            g_opt.zero_grad()
            loss = -critic(generator(noise(config.batch_size))).mean()
            loss.backward()
            g_opt.step()
            for p in critic.parameters():
                p.requires_grad_(True)
            if step % config.log_every == 0 or step == config.steps or step == 1:
                row = evaluate(config, generator, critic, real_batch, noise, dim)
                row.update(
                    step=step,
                    seconds=round(time.perf_counter() - start, 3),
                    critic_w1_train=float(np.mean([w["w1"] for w in window])),
                    penalty=float(np.mean([w["penalty"] for w in window])),
                )
                window = []
                rows.append(row)
                write_metrics(rows, out / "metrics.csv")
                shown = row["exact_w1"] if config.dataset == "ring" else row["critic_w1"]
                bar.update(
                    task, w=f"{'exact' if config.dataset == 'ring' else 'critic'} W1 {shown:.3f}"
                )
            bar.advance(task)
    torch.save(
        {
            "generator": generator.state_dict(),
            "critic": critic.state_dict(),
            "config": asdict(config),
        },
        out / "model.pt",
    )
    if config.dataset == "ring":
        draw_ring(generator, critic, real_batch, noise, config, out / "samples.png")
    else:
        with torch.no_grad():
            images = generator(noise(64)).cpu()
        save_grid(
            images, 8, f"WGAN-{config.lipschitz} samples (generator means)", out / "samples.png"
        )
    draw_curves(rows, config, out / "curves.png")
    return WGANResult(config, rows, generator, critic)


def evaluate(config, generator, critic, real_batch, noise, dim) -> dict:
    """The critic's W1 estimate, its Lipschitz estimate and (2-D only) the exact W1, on
    ``eval_points`` fresh data and generated points."""
    real = real_batch(config.eval_points)
    with torch.no_grad():
        fake = generator(noise(config.eval_points))
        estimate = -critic_loss(critic, real, fake).item()
    lip = lipschitz_estimate(critic, real, fake).item()
    exact = exact_w1(real, fake) if config.dataset == "ring" else float("nan")
    return {"critic_w1": estimate, "lipschitz": lip, "exact_w1": exact}


def write_metrics(rows: list[dict], path: Path) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: row[k] for k in FIELDS})


@torch.no_grad()
def draw_ring(generator, critic, real_batch, noise, config: WGANConfig, path: Path) -> None:
    """Generated vs data points over the critic's contour."""
    lim = RADIUS + 1.0
    ticks = torch.linspace(-lim, lim, 121)
    gx, gy = torch.meshgrid(ticks, ticks, indexing="xy")
    grid = torch.stack([gx.reshape(-1), gy.reshape(-1)], 1)
    device = next(critic.parameters()).device
    values = critic(grid.to(device)).reshape(gx.shape).cpu()
    real = real_batch(config.eval_points).cpu()
    fake = generator(noise(config.eval_points)).cpu()
    fig, ax = plt.subplots(figsize=(5.5, 5))
    contour = ax.contourf(gx.numpy(), gy.numpy(), values.numpy(), levels=20, cmap="viridis")
    fig.colorbar(contour, ax=ax, label="critic f(x)")
    ax.scatter(real[:, 0], real[:, 1], s=4, c="orange", label="data")
    ax.scatter(
        fake[:, 0], fake[:, 1], s=4, c="white", edgecolors="none", alpha=0.8, label="generated"
    )
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.set_title(
        f"WGAN-{config.lipschitz}, 8-Gaussian ring, {config.steps} generator steps", fontsize=10
    )
    ax.legend(loc="upper right", fontsize=8, framealpha=0.6)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def draw_curves(rows: list[dict], config: WGANConfig, path: Path) -> None:
    """Exact W1 (ring), the critic's W1 estimate and its Lipschitz estimate over steps."""
    steps = [r["step"] for r in rows]
    ring = config.dataset == "ring"
    panels = 3 if ring else 2
    fig, axes = plt.subplots(1, panels, figsize=(4 * panels, 3.4))
    i = 0
    if ring:
        ax = axes[0]
        ax.plot(steps, [r["exact_w1"] for r in rows], label="exact W1 (512 vs 512)")
        ax.plot(
            steps,
            [r["critic_w1"] / max(r["lipschitz"], 1e-12) for r in rows],
            "--",
            label="critic estimate / Lipschitz est.",
        )
        ax.set_title("W1(data, generator)", fontsize=10)
        ax.legend(fontsize=7)
        i = 1
    ax = axes[i]
    ax.plot(steps, [r["critic_w1"] for r in rows], label="held-out")
    ax.plot(steps, [r["critic_w1_train"] for r in rows], alpha=0.6, label="training (mean)")
    ax.set_title("critic estimate E_P f − E_Q f", fontsize=10)
    ax.legend(fontsize=7)
    ax = axes[i + 1]
    ax.plot(steps, [r["lipschitz"] for r in rows], color="C2")
    ax.set_title("Lipschitz estimate max ‖∇f‖", fontsize=10)
    for ax in axes:
        ax.set_xlabel("generator step")
        ax.grid(True, alpha=0.3)
    fig.suptitle(f"WGAN-{config.lipschitz} on {config.dataset}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)

"""WGAN pictures: generated and data points over the critic's contour, and the W1 curves."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from reparam.plots import pyplot

Box = tuple[float, float, float, float]


def points_box(real: Tensor, fake: Tensor, margin: float = 0.1) -> Box:
    """The bounding box ``(x0, x1, y0, y1)`` of two 2-D clouds, widened by ``margin`` of its
    size on each side.

    >>> points_box(torch.tensor([[0.0, 0.0]]), torch.tensor([[1.0, 2.0]]))
    (-0.1, 1.1, -0.2, 2.2)
    """
    both = torch.cat([real, fake]).detach().cpu().double()
    low, high = both.min(0).values, both.max(0).values
    pad = margin * (high - low).clamp_min(1e-6)
    lo, hi = (low - pad).tolist(), (high + pad).tolist()
    return (round(lo[0], 12), round(hi[0], 12), round(lo[1], 12), round(hi[1], 12))


@torch.no_grad()
def draw_points(
    critic: Callable[[Tensor], Tensor],
    real: Tensor,
    fake: Tensor,
    box: Box,
    title: str,
    path: Path,
    *,
    equal_aspect: bool = True,
) -> None:
    """Data (orange) and generated (white) 2-D points over the contour of ``critic``
    evaluated on a 121 × 121 grid spanning ``box``."""
    plt = pyplot()
    x0, x1, y0, y1 = box
    gx, gy = torch.meshgrid(torch.linspace(x0, x1, 121), torch.linspace(y0, y1, 121), indexing="xy")
    grid = torch.stack([gx.reshape(-1), gy.reshape(-1)], 1)
    device = real.device
    values = critic(grid.to(device)).reshape(gx.shape).cpu()
    real, fake = real.cpu(), fake.cpu()
    fig, ax = plt.subplots(figsize=(5.5, 5))
    contour = ax.contourf(gx.numpy(), gy.numpy(), values.numpy(), levels=20, cmap="viridis")
    fig.colorbar(contour, ax=ax, label="critic f(x)")
    ax.scatter(real[:, 0], real[:, 1], s=4, c="orange", label="data")
    ax.scatter(
        fake[:, 0], fake[:, 1], s=4, c="white", edgecolors="none", alpha=0.8, label="generated"
    )
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    if equal_aspect:
        ax.set_aspect("equal")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="upper right", fontsize=8, framealpha=0.6)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def draw_curves(rows: Sequence[dict[str, Any]], title: str, path: Path, points: int) -> None:
    """The exact W1 between ``points`` held-out and as many generated points (when the rows
    have it), the critic's W1 estimate (held-out, and the training mean) and its Lipschitz
    estimate, against the generator step."""
    plt = pyplot()
    steps = [r["step"] for r in rows]
    exact = bool(rows) and "exact_w1" in rows[0]
    panels = 3 if exact else 2
    fig, axes = plt.subplots(1, panels, figsize=(4 * panels, 3.4))
    i = 0
    if exact:
        ax = axes[0]
        ax.plot(steps, [r["exact_w1"] for r in rows], label=f"exact W1 ({points} vs {points})")
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
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)

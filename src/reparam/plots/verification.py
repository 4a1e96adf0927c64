"""Speaker verification's picture: DET curves, miss against false-alarm probability on normal
deviate scales (Martin et al. 1997)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from reparam.plots import pyplot
from reparam.speech import det_curve, eer, probit

TICKS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4)


def plot_det(systems: Mapping[str, Mapping[str, Any]], path: str | Path) -> None:
    """One DET curve a system: ``systems[name]`` holds its ``scores`` and ``is_target``."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 6), constrained_layout=True)
    for name, entry in systems.items():
        scores, target = entry["scores"], entry["is_target"]
        curve = det_curve(scores[target], scores[~target])
        rate = eer(scores[target], scores[~target])
        clip = 1e-4
        ax.plot(probit(curve.p_fa.clamp(clip, 1 - clip)).numpy(),
                probit(curve.p_miss.clamp(clip, 1 - clip)).numpy(),
                label=f"{name} (EER {100 * rate:.2f} %)")  # fmt: skip
    ticks = probit(torch.tensor(TICKS, dtype=torch.float64)).numpy()
    labels = [f"{100 * t:g}" for t in TICKS]
    ax.set_xticks(ticks, labels)
    ax.set_yticks(ticks, labels)
    ax.set_xlim(ticks[0], ticks[-1])
    ax.set_ylim(ticks[0], ticks[-1])
    ax.plot(ticks, ticks, color="grey", lw=0.5, ls=":")
    ax.set_xlabel("false-alarm probability (%)")
    ax.set_ylabel("miss probability (%)")
    ax.set_title("DET curves", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.savefig(path, dpi=100)
    plt.close(fig)

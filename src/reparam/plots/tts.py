"""The synthesizer's pictures: attention alignments (decoder step against character) and
log-mel spectrograms side by side, and either as a coloured image for TensorBoard."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from reparam.plots import pyplot


def plot_alignments(
    alignments: dict[str, Tensor],
    text: str,
    path: str | Path,
    symbols: list[str] | None = None,
) -> None:
    """One panel per named alignment ``[steps, symbols]``: the weight of each input symbol
    (rows: ``symbols``, by default the characters of ``text``) at each decoder step
    (columns). A learnt alignment is a diagonal."""
    labels = ["␣" if c == " " else c for c in text] if symbols is None else symbols
    plt = pyplot()
    fig, axes = plt.subplots(1, len(alignments), figsize=(5 * len(alignments), 4), squeeze=False,
                             constrained_layout=True)  # fmt: skip
    for ax, (name, alignment) in zip(axes[0], alignments.items(), strict=True):
        image = ax.imshow(alignment.T.float().numpy(), aspect="auto", origin="lower", cmap="viridis",
                          vmin=0, vmax=1, interpolation="nearest")  # fmt: skip
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("decoder step")
        ax.set_ylabel("character" if symbols is None else "symbol")
        if len(labels) <= 60:
            ax.set_yticks(range(len(labels)), labels, fontsize=5)
    fig.colorbar(image, ax=axes[0].tolist(), shrink=0.8, label="attention weight")
    fig.suptitle(f"“{text}”", fontsize=9)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_spectrograms(spectrograms: dict[str, Tensor], text: str, path: str | Path) -> None:
    """The named log-mel spectrograms ``[frames, bands]`` stacked, on one colour scale."""
    plt = pyplot()
    fig, axes = plt.subplots(len(spectrograms), 1, figsize=(10, 2.4 * len(spectrograms)),
                             squeeze=False, constrained_layout=True)  # fmt: skip
    values = [s.float() for s in spectrograms.values()]
    low, high = min(float(v.min()) for v in values), max(float(v.max()) for v in values)
    for ax, (name, value) in zip(axes[:, 0], zip(spectrograms, values, strict=True), strict=True):
        ax.imshow(value.T.numpy(), aspect="auto", origin="lower", cmap="magma", vmin=low, vmax=high)
        ax.set_title(f"{name} ({value.shape[0]} frames)", fontsize=9)
        ax.set_ylabel("mel band")
    axes[-1, 0].set_xlabel("frame")
    fig.suptitle(f"“{text}”", fontsize=9)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def heat_image(matrix: Tensor) -> Tensor:
    """``matrix`` ``[H, W]`` as an RGB image ``[3, H, W]`` in [0, 1] through viridis, scaled
    from its minimum to its maximum, first row at the bottom (as the plots draw it)."""
    from matplotlib import colormaps

    values = matrix.detach().double().cpu().flip(0)
    span = (values.max() - values.min()).clamp_min(1e-12)
    scaled = ((values - values.min()) / span).numpy()
    return torch.from_numpy(colormaps["viridis"](scaled)[..., :3]).permute(2, 0, 1).float()

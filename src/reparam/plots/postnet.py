"""The postnet's pictures: log-mel spectrograms stacked on one colour scale, with the global
variance of each band beside them (over-smoothing is a low curve)."""

from __future__ import annotations

from pathlib import Path

from torch import Tensor

from reparam.plots import pyplot


def plot_plate(spectrograms: dict[str, Tensor], text: str, path: str | Path) -> None:
    """The named log-mel spectrograms ``[bands, frames]`` stacked, on one colour scale, and
    under them each one's variance over frames per band (log scale; the last is taken to be
    the target and drawn in black)."""
    plt = pyplot()
    n = len(spectrograms)
    fig, axes = plt.subplots(n + 1, 1, figsize=(10, 2.2 * n + 2.4), squeeze=False,
                             constrained_layout=True,
                             gridspec_kw={"height_ratios": [1] * n + [1.1]})  # fmt: skip
    values = [s.float().cpu() for s in spectrograms.values()]
    low, high = min(float(v.min()) for v in values), max(float(v.max()) for v in values)
    for ax, name, value in zip(axes[:n, 0], spectrograms, values, strict=True):
        ax.imshow(value.numpy(), aspect="auto", origin="lower", cmap="magma", vmin=low, vmax=high,
                  interpolation="nearest")  # fmt: skip
        ax.set_title(f"{name} ({value.shape[1]} frames)", fontsize=9)
        ax.set_ylabel("mel band")
    axes[n - 1, 0].set_xlabel("frame")
    gv = axes[n, 0]
    for k, (name, value) in enumerate(zip(spectrograms, values, strict=True)):
        last = k == n - 1
        gv.plot(value.var(dim=1, unbiased=False).numpy(), label=name, lw=1.6 if last else 1.0,
                color="black" if last else None)  # fmt: skip
    gv.set_yscale("log")
    gv.set_xlabel("mel band")
    gv.set_ylabel("variance over frames")
    gv.set_title("global variance per band", fontsize=9)
    gv.legend(fontsize=7, ncol=min(n, 5))
    fig.suptitle(f"“{text}”", fontsize=9)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_triplet(
    input: Tensor,
    output: Tensor,
    target: Tensor,
    text: str,
    path: str | Path,
    names: tuple[str, str] = ("input", "output"),
) -> None:
    """The postnet's input, output and target (log-mel ``[bands, frames]``), as
    :func:`plot_plate` draws them."""
    plot_plate({names[0]: input, names[1]: output, "target": target}, text, path)

"""Pictures of fitted latent-variable models: a Gaussian mixture's components over the data, an
HMM's decoded states and posteriors over a series, and a CTC alignment lattice."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from reparam.latent.ctc import ctc_posteriors
from reparam.plots import pyplot


def _colours(k: int) -> list:
    cmap = pyplot().get_cmap("tab10" if k <= 10 else "tab20")
    return [cmap(i % cmap.N) for i in range(k)]


def _ellipse(mean: np.ndarray, cov: np.ndarray, radius: float, colour: Any, **kw: Any) -> Any:
    """The set (x − μ)ᵀ Σ⁻¹ (x − μ) = radius² of a 2-D Gaussian (a matplotlib Ellipse)."""
    from matplotlib.patches import Ellipse

    values, vectors = np.linalg.eigh(cov)
    values = np.clip(values, 0, None)
    angle = math.degrees(math.atan2(vectors[1, 1], vectors[0, 1]))
    width, height = 2 * radius * np.sqrt(values[1]), 2 * radius * np.sqrt(values[0])
    return Ellipse(mean, width, height, angle=angle, fill=False, edgecolor=colour, **kw)


def _curve(ax, history: Sequence[float], ylabel: str, title: str) -> None:
    ax.plot(range(1, len(history) + 1), history, marker="." if len(history) < 60 else None)
    ax.set_xlabel("iteration")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(True, alpha=0.3)


def plot_mixture(
    X: np.ndarray,
    labels: np.ndarray,
    weights: np.ndarray,
    means: np.ndarray,
    covariances: np.ndarray,
    history: Sequence[float],
    path: str | Path,
    names: Sequence[str] = ("x0", "x1"),
    max_points: int = 20000,
) -> None:
    """Left: the data (first two columns of ``X``) coloured by component, with each component's
    1- and 2-σ ellipses from its 2×2 marginal covariance (``covariances`` [K, D, D], or the
    variances [K, D] of a diagonal mixture); one column gives a histogram with the weighted
    component densities instead. Right: the mean log-likelihood per row at each EM iteration."""
    plt = pyplot()
    X, labels = np.asarray(X, dtype=float), np.asarray(labels)
    weights, means = np.asarray(weights, dtype=float), np.asarray(means, dtype=float)
    covariances = np.asarray(covariances, dtype=float)
    K = len(weights)
    colours = _colours(K)
    fig, (ax, ax_ll) = plt.subplots(1, 2, figsize=(11, 4.6), width_ratios=(1.35, 1))
    if X.shape[1] >= 2:
        shown = np.arange(len(X))
        if len(X) > max_points:
            shown = np.random.default_rng(0).choice(len(X), max_points, replace=False)
        ax.scatter(
            X[shown, 0],
            X[shown, 1],
            s=4 if len(X) > 2000 else 10,
            c=[colours[k] for k in labels[shown]],
            alpha=0.5,
            linewidths=0,
            rasterized=True,
        )
        for k in range(K):
            cov = covariances[k]
            cov = np.diag(cov[:2]) if cov.ndim == 1 else cov[:2, :2]
            for radius, style in ((1.0, "-"), (2.0, "--")):
                ax.add_patch(_ellipse(means[k, :2], cov, radius, "black", lw=2.2, ls=style))
                ax.add_patch(_ellipse(means[k, :2], cov, radius, colours[k], lw=1.3, ls=style))
            ax.plot(*means[k, :2], marker="x", color="black", ms=7, mew=2)
            ax.annotate(
                f"{k}: π={weights[k]:.2f}",
                means[k, :2],
                textcoords="offset points",
                xytext=(6, 6),
                fontsize=8,
                bbox=dict(boxstyle="round,pad=0.2", fc="white", alpha=0.7, lw=0),
            )
        ax.set_xlabel(names[0])
        ax.set_ylabel(names[1])
        ax.set_title(f"{K} components: 1σ (solid) and 2σ (dashed) ellipses", fontsize=10)
    else:
        x = X[:, 0]
        ax.hist(x, bins=60, density=True, color="0.8")
        grid = np.linspace(x.min(), x.max(), 400)
        for k in range(K):
            var = float(np.ravel(covariances[k])[0])
            density = np.exp(-0.5 * (grid - means[k, 0]) ** 2 / var) / math.sqrt(2 * math.pi * var)
            ax.plot(grid, weights[k] * density, color=colours[k], label=f"{k}: π={weights[k]:.2f}")
        ax.set_xlabel(names[0])
        ax.set_ylabel("density")
        ax.legend(fontsize=8)
        ax.set_title(f"{K} components", fontsize=10)
    _curve(ax_ll, history, "mean log-likelihood per row", "EM")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_states(
    series: np.ndarray,
    states: np.ndarray,
    gamma: np.ndarray,
    history: Sequence[float],
    path: str | Path,
    name: str = "x",
    reference: np.ndarray | None = None,
    reference_name: str = "reference",
    transitions: np.ndarray | None = None,
) -> None:
    """Top: ``series`` [T] coloured by the Viterbi state (and ``reference`` [T], if given, as
    a black step line on a second axis); middle: the posteriors γ_t(k) [T, K] as a heat map;
    bottom: the log-likelihood per Baum–Welch iteration and, if given, the transition matrix
    [K, K]. The heat maps list the states in the order of their mean ``series`` value."""
    plt = pyplot()
    series, states = np.asarray(series, dtype=float), np.asarray(states)
    gamma = np.asarray(gamma, dtype=float)
    T, K = gamma.shape
    colours = _colours(K)
    level = [series[states == k].mean() if (states == k).any() else np.inf for k in range(K)]
    order = np.argsort(level, kind="stable")
    t = np.arange(T)
    fig = plt.figure(figsize=(11, 9.5), constrained_layout=True)
    grid = fig.add_gridspec(3, 2, height_ratios=(1.2, 1, 1.1), width_ratios=(1.6, 1))
    ax = fig.add_subplot(grid[0, :])
    ax_g = fig.add_subplot(grid[1, :], sharex=ax)
    ax_ll = fig.add_subplot(grid[2, 0] if transitions is not None else grid[2, :])
    ax.plot(t, series, color="0.75", lw=0.8, zorder=1)
    ax.scatter(
        t, series, c=[colours[k] for k in states], s=14 if T <= 1000 else 4, zorder=2, linewidths=0
    )
    ax.set_ylabel(name)
    ax.set_xlim(-0.5, T - 0.5)
    ax.set_title("series coloured by Viterbi state", fontsize=10, loc="left")
    if reference is not None:
        twin = ax.twinx()
        twin.step(t, reference, where="mid", color="black", lw=0.6, alpha=0.45)
        twin.set_ylabel(reference_name + " (black)")
    handles = [plt.Line2D([], [], ls="", marker="o", color=colours[k], label=str(k)) for k in order]
    ax.legend(
        handles=handles,
        title="state",
        fontsize=7,
        title_fontsize=7,
        ncol=min(K, 10),
        loc="lower right",
        bbox_to_anchor=(1, 1.0),
        frameon=False,
    )
    image = ax_g.imshow(
        gamma[:, order].T,
        aspect="auto",
        cmap="Greys",
        vmin=0,
        vmax=1,
        origin="lower",
        interpolation="nearest",
        extent=(-0.5, T - 0.5, -0.5, K - 0.5),
    )
    ax_g.set_yticks(range(K), [str(k) for k in order])
    for tick, k in zip(ax_g.get_yticklabels(), order, strict=True):
        tick.set_color(colours[k])
    ax_g.set_ylabel("state k")
    ax_g.set_xlabel("t")
    ax_g.set_title("posterior state probabilities γ_t(k)", fontsize=10)
    fig.colorbar(image, ax=ax_g, shrink=0.8, pad=0.01)
    _curve(ax_ll, history, "log-likelihood", "Baum–Welch")
    if transitions is not None:
        ax_a = fig.add_subplot(grid[2, 1])
        A = np.asarray(transitions, dtype=float)[np.ix_(order, order)]
        ax_a.imshow(A, cmap="Blues", vmin=0, vmax=1)
        labels = [str(k) for k in order]
        ax_a.set_xticks(range(K), labels, fontsize=7)
        ax_a.set_yticks(range(K), labels, fontsize=7)
        if K <= 12:
            for i in range(K):
                for j in range(K):
                    if A[i, j] >= 0.005:
                        colour = "white" if A[i, j] > 0.6 else "black"
                        ax_a.text(
                            j,
                            i,
                            f"{A[i, j]:.2f}",
                            ha="center",
                            va="center",
                            fontsize=6,
                            color=colour,
                        )
        ax_a.set_xlabel("to state")
        ax_a.set_ylabel("from state")
        ax_a.set_title("transition matrix A", fontsize=10)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _greedy_positions(best: Sequence[int], ext: Sequence[int]) -> list[float]:
    """The extended-label position of each frame of a best path: the current position while the
    class repeats it, else the next position holding that class; NaN where none does."""
    s, out = 0, []
    for k in best:
        if ext[s] != k:
            ahead = [j for j in range(s + 1, len(ext)) if ext[j] == k]
            if not ahead:
                out.append(math.nan)
                continue
            s = ahead[0]
        out.append(float(s))
    return out


def plot_ctc_alignment(
    log_probs: Tensor, target: Sequence[int], path: str | Path, blank: int = 0
) -> None:
    """Top: the frame-wise class probabilities; bottom: the CTC occupation probabilities
    γ_t(s) (:func:`~reparam.latent.ctc.ctc_posteriors`) over frame t and extended label
    position s (blank, l₁, blank, l₂, …, blank), with the greedy (best-path) alignment
    overlaid. ``log_probs`` is one sequence's [T, C] (or [T, 1, C]) log-softmax outputs."""
    plt = pyplot()
    from matplotlib.ticker import MaxNLocator

    lp = log_probs.detach().cpu().double()
    if lp.dim() == 3:
        lp = lp[:, 0]
    T, C = lp.shape
    target = [int(k) for k in target]
    gamma = ctc_posteriors(lp[:, None], torch.tensor([target]), [T], [len(target)], blank)[:, 0]
    ext = [blank]
    for k in target:
        ext += [k, blank]
    best = lp.argmax(1).tolist()
    positions = _greedy_positions(best, ext)
    fig, (ax_p, ax_g) = plt.subplots(
        2, 1, figsize=(9, 6.5), height_ratios=(C, len(ext)), sharex=True, constrained_layout=True
    )
    ax_p.imshow(lp.exp().T.numpy(), aspect="auto", cmap="Greys", vmin=0, vmax=1, origin="lower")
    ax_p.set_yticks(range(C), ["∅" if c == blank else str(c) for c in range(C)])
    ax_p.set_ylabel("class")
    ax_p.set_title("frame-wise class probabilities p_t(c)", fontsize=10)
    image = ax_g.imshow(
        gamma.T.numpy(), aspect="auto", cmap="viridis", vmin=0, vmax=1, origin="lower"
    )
    ax_g.plot(range(T), positions, color="red", marker="o", ms=3, lw=1.2, label="greedy path")
    ax_g.set_yticks(range(len(ext)), ["∅" if k == blank else str(k) for k in ext])
    ax_g.set_ylabel("extended label position s")
    ax_g.set_xlabel("frame t")
    ax_g.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_g.set_title(f"CTC occupation γ_t(s) for target {target}", fontsize=10)
    ax_g.legend(loc="upper left", fontsize=8)
    fig.colorbar(image, ax=ax_g, shrink=0.8, label="γ_t(s)")
    fig.savefig(path, dpi=100)
    plt.close(fig)

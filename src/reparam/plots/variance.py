"""Plots of gradient-estimator variance."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from reparam.diagnostics.study import StudyRow
from reparam.plots import pyplot


def plot_variance(rows: Sequence[StudyRow], title: str, path: str | Path) -> Path:
    """Per-sample variance against k, one panel per parameter, one line per estimator.

    Measured values are solid lines with dots; exact values, where known, are open circles.
    Zero variances (an exact estimator, or a constant cost) cannot sit on a log axis: such
    points are left out, and estimators with no point left are named in the title. The layout
    follows Mohamed et al. (2020), Fig. 2.
    """
    plt = pyplot()
    parameters = list(dict.fromkeys(r.parameter for r in rows))
    floor = 1e-12 * max(r.per_sample_variance for r in rows)
    shown = {r.estimator for r in rows if r.per_sample_variance > floor}
    estimators = [e for e in dict.fromkeys(r.estimator for r in rows) if e in shown]
    zero = sorted({r.estimator for r in rows} - shown)
    width = max(7.0, 5.5 * len(parameters))
    fig, axes = plt.subplots(1, len(parameters), figsize=(width, 4.4), squeeze=False)
    for ax, parameter in zip(axes[0], parameters, strict=True):
        for i, label in enumerate(estimators):
            mine = [r for r in rows if r.parameter == parameter and r.estimator == label]
            measured = [v if (v := r.per_sample_variance) > floor else math.nan for r in mine]
            exact = [v if (v := r.exact_per_sample_variance) else math.nan for r in mine]
            ks = [r.k for r in mine]
            ax.plot(ks, measured, "o-", ms=3, color=f"C{i}", label=label)
            ax.plot(ks, exact, "o", mfc="none", ms=8, color=f"C{i}")
        ax.set_yscale("log")
        ax.set_xlabel("k")
        ax.set_ylabel(f"per-sample variance of ∂/∂{parameter}")
        ax.set_title(parameter)
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].legend(fontsize=8)
    n, repeats = rows[0].n, rows[0].repeats
    note = f"; zero variance: {', '.join(zero)}" if zero else ""
    fig.suptitle(f"{title}\nn={n}, {repeats} repeats; open circles: exact{note}", fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path

"""The reliability diagram of classifiers (Guo et al. 2017, Fig. 1), from the bins of
:func:`reparam.diagnostics.calibration.expected_calibration_error`."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

from reparam.diagnostics.calibration import Calibration
from reparam.plots import pyplot


def plot_reliability(
    results: Mapping[str, Calibration], path: str | Path, title: str | None = None
) -> Path:
    """A reliability diagram PNG, one column per model (Guo et al. 2017, Fig. 1).

    Top row: the accuracy of each confidence bin (bars), the gap to the bin's mean
    confidence (red), and the diagonal of perfect calibration; the legend gives
    the ECE. Bottom row: the fraction of examples in each bin, with the overall accuracy and
    the mean confidence marked. Returns the path written.
    """
    if not results:
        raise ValueError("plot_reliability needs at least one model's Calibration")
    from matplotlib.ticker import FuncFormatter, NullFormatter

    plt = pyplot()
    columns = len(results)
    fig, axes = plt.subplots(
        2,
        columns,
        figsize=(3.6 * columns + 0.6, 6.4),
        squeeze=False,
        gridspec_kw={"height_ratios": [2.2, 1]},
        sharex=True,
    )
    for column, (name, result) in enumerate(results.items()):
        top, bottom = axes[0][column], axes[1][column]
        left = result.edges[:-1]
        width = [b - a for a, b in zip(result.edges[:-1], result.edges[1:], strict=True)]
        accuracy = [0.0 if math.isnan(a) else a for a in result.accuracy]
        confidence = [
            a if math.isnan(c) else c for a, c in zip(accuracy, result.confidence, strict=True)
        ]
        top.bar(
            left,
            accuracy,
            width,
            align="edge",
            color="C0",
            edgecolor="black",
            linewidth=0.6,
            label=f"accuracy (ECE {100 * result.ece:.2f} %)",
        )
        top.bar(
            left,
            [c - a for a, c in zip(accuracy, confidence, strict=True)],
            width,
            bottom=accuracy,
            align="edge",
            color="C3",
            alpha=0.35,
            edgecolor="C3",
            linewidth=0.6,
            label="gap to confidence",
        )
        top.plot([0, 1], [0, 1], "--", color="gray", linewidth=1, label="perfect calibration")
        top.set_xlim(0, 1)
        top.set_ylim(0, 1)
        top.set_title(name, fontsize=10)
        top.set_ylabel("accuracy" if column == 0 else "")
        top.legend(loc="upper left", fontsize=7)
        top.grid(True, alpha=0.3)
        fraction = [n / result.total for n in result.counts]
        bottom.bar(left, fraction, width, align="edge", color="C0", edgecolor="black", lw=0.6)
        bottom.axvline(result.overall_accuracy, color="C2", linestyle="--", label="accuracy")
        bottom.axvline(result.mean_confidence, color="C1", linestyle=":", label="mean conf.")
        bottom.set_yscale("log")  # most examples sit in the last bin of a good classifier
        bottom.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        bottom.yaxis.set_minor_formatter(NullFormatter())
        bottom.set_xlabel("confidence max_k p_k")
        bottom.set_ylabel("fraction of examples" if column == 0 else "")
        bottom.legend(loc="upper left", fontsize=7)
        bottom.grid(True, alpha=0.3)
    total = next(iter(results.values())).total
    heading = f"reliability diagrams, {total} examples, {next(iter(results.values())).bins} bins"
    fig.suptitle(heading if title is None else f"{title}\n{heading}", fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path

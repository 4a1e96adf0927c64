"""The BNN gradient-variance study's picture: bar charts of the variances beside the paper's
figures, and the time per epoch of each estimator (Kingma, Salimans & Welling 2015, Table 1)."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

from reparam.experiments.bnn_variance import CAVEAT, LABELS, LAYERS, PARAMETERS, PUBLISHED, BnnStudy
from reparam.plots import pyplot


def plot_bnn_variance(study: BnnStudy, path: str | Path) -> Path:
    """Bar charts (log scale) of the variances, with standard errors and the paper's figures,
    and the time per epoch of each estimator."""
    plt = pyplot()
    c = study.config
    estimators = c["estimators"]
    fig, axes = plt.subplots(2, 3, figsize=(15, 8))
    panels = [(layer, parameter) for parameter in PARAMETERS for layer in LAYERS]
    spots = [axes[0][0], axes[0][1], axes[1][0], axes[1][1]]
    width = 0.8 / len(estimators)
    for ax, (layer, parameter) in zip(spots, panels, strict=True):
        groups = ["init", f"{c['epochs']} epochs"]
        if parameter == "weight_mu":
            groups.append("paper, 10 epochs")
        for i, estimator in enumerate(estimators):
            values, errors = [], []
            for phase in ("init", "trained"):
                row = study.lookup(estimator, phase, layer, parameter)
                ok = row is not None and row.variance > 0
                values.append(row.variance if ok else math.nan)
                errors.append(0.0 if not ok or math.isnan(row.stderr) else row.stderr)
            if parameter == "weight_mu":
                values.append(PUBLISHED.get(estimator, {}).get(f"{layer} 10", math.nan))
                errors.append(0.0)
            xs = [g + (i - (len(estimators) - 1) / 2) * width for g in range(len(groups))]
            ax.bar(xs, values, width, yerr=errors, color=f"C{i}", label=LABELS[estimator])
        ax.set_yscale("log")
        ax.set_xticks(range(len(groups)), groups)
        symbol = "μ" if parameter == "weight_mu" else "ρ"
        ax.set_title(f"{layer} layer: Var ∂L/∂{symbol}, mean over weights")
        ax.grid(True, axis="y", which="both", alpha=0.3)
    axes[0][0].legend(fontsize=7)
    ax = axes[0][2]
    names = [r.estimator for r in study.timing]
    ax.bar(range(len(names)), [r.seconds_per_epoch for r in study.timing], color="C7")
    ax.set_xticks(range(len(names)), names, rotation=30)
    ax.set_yscale("log")
    for i, r in enumerate(study.timing):
        ax.annotate(
            f"×{r.ratio_to_deterministic:.2f}",
            (i, r.seconds_per_epoch),
            ha="center",
            va="bottom",
            fontsize=8,
        )
    ax.set_title("seconds per training epoch (× deterministic)")
    ax.grid(True, axis="y", which="both", alpha=0.3)
    axes[1][2].axis("off")
    axes[1][2].text(
        0,
        1,
        "\n".join(textwrap.wrap(". ".join([*study.notes, CAVEAT]), 60)),
        va="top",
        fontsize=8,
        transform=axes[1][2].transAxes,
    )
    fig.suptitle(
        f"Gradient variance of a Bayesian MLP {'-'.join(map(str, c['sizes']))}, "
        f"{c['dataset']} N={c['train_size']}, M={c['batch_size']}, {c['repeats']} draws "
        f"(after Kingma et al. 2015, Table 1; their model and N differ)",
        fontsize=10,
    )
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path

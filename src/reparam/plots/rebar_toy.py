"""The REBAR/RELAX toy figure: θ and the gradient's variance against training steps."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path

from reparam.diagnostics.rebar_toy import ToyRow
from reparam.plots import pyplot


def plot_rebar_toy(rows: Sequence[ToyRow], path: str | Path, biased: Collection[str] = ()) -> Path:
    """One column per target t: θ = p(b = 1) against steps (top) and the variance of the
    logit's gradient on a log axis (bottom), one line per estimator, as in Tucker et al.
    (2017) and Grathwohl et al. (2018), Fig. 1. Estimators named in ``biased`` are dashed; a
    zero variance (exact enumeration) is left off the log axis, its θ line kept as the
    reference."""
    plt = pyplot()
    targets = list(dict.fromkeys(r.target for r in rows))
    labels = list(dict.fromkeys(r.estimator for r in rows))
    fig, axes = plt.subplots(
        2, len(targets), figsize=(4.6 * len(targets), 7.2), squeeze=False, sharex="col"
    )
    for column, target in enumerate(targets):
        top, bottom = axes[0][column], axes[1][column]
        for i, label in enumerate(labels):
            mine = [r for r in rows if r.target == target and r.estimator == label]
            steps = [r.step for r in mine]
            style = "--" if label in biased else "-"
            color = "k" if label == "enumerate" else f"C{i % 10}"
            name = "exact (enumerate)" if label == "enumerate" else label
            top.plot(steps, [r.theta for r in mine], style, color=color, lw=1.3, label=name)
            shown = [(r.step, r.variance) for r in mine if r.variance > 0]
            if shown and label != "enumerate":
                bottom.plot(*zip(*shown, strict=True), style, color=color, lw=1.3, label=name)
        top.set_title(f"t = {target:g}")
        top.set_ylabel("θ = p(b = 1)")
        top.set_ylim(-0.02, 0.62)
        bottom.set_yscale("log")
        bottom.set_ylabel("variance of ∂/∂logit")
        bottom.set_xlabel("step")
        for ax in (top, bottom):
            ax.grid(True, which="both", alpha=0.3)
    axes[0][0].legend(fontsize=7, loc="lower left")
    n, repeats = rows[0].n, rows[0].repeats
    fig.suptitle(
        f"E[(b − t)²], b ~ Bernoulli(θ): Adam on the logit, n = {n}\n"
        f"variance from {repeats} estimates at each point" + ("; dashed: biased" if biased else ""),
        fontsize=10,
    )
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path

"""What a sentence-VAE run shows: its reconstruction, KL term and KL weight over the steps,
the picture of posterior collapse (Bowman et al. 2016, Figure 2)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from reparam.plots import pyplot


def draw_curves(
    trace: Sequence[Sequence[float]],
    history: Sequence[dict[str, Any]],
    path: Path,
    *,
    elbo: bool = True,
    title: str = "",
) -> None:
    """Three panels over the training steps: the negative reconstruction term
    :math:`-\\mathbb E_q[\\log p(x \\mid z)]` (``elbo``; else the negative bound), the KL
    term (on a log scale where it is positive), and the KL weight β — the training ``trace``
    rows ``[step, bound, KL, β]`` as lines, the validation rows of ``history``
    (``valid_elbo``, ``valid_kl``) as dots."""
    steps = [row[0] for row in trace]
    bound = [row[1] for row in trace]
    kl = [row[2] for row in trace]
    beta = [row[3] for row in trace]
    plt = pyplot()
    fig, (top, middle, bottom) = plt.subplots(3, 1, figsize=(6.5, 7), sharex=True)
    if elbo:
        top.plot(steps, [-(b + w * d) for b, d, w in zip(bound, kl, beta, strict=True)],
                 color="C0", label="train −reconstruction")  # fmt: skip
        top.set_ylabel("−E_q log p(x|z), nats")
    else:
        top.plot(steps, [-b for b in bound], color="C0", label="train −bound")
        top.set_ylabel("−bound, nats")
    rows = [r for r in history if "valid_elbo" in r]
    if rows:
        top.plot([r["step"] for r in rows], [-r["valid_elbo"] for r in rows], "o",
                 color="C1", label="valid −ELBO")  # fmt: skip
        middle.plot([r["step"] for r in rows], [r["valid_kl"] for r in rows], "o",
                    color="C1", label="valid KL")  # fmt: skip
    middle.plot(steps, kl, color="C0", label="train KL")
    if min(kl, default=0.0) > 0:
        middle.set_yscale("log")
    middle.set_ylabel("KL(q(z|x) ‖ p(z)), nats")
    bottom.plot(steps, beta, color="tab:green")
    bottom.set_ylabel("β")
    bottom.set_ylim(-0.05, 1.05)
    bottom.set_xlabel("step")
    for ax in (top, middle):
        ax.legend(fontsize=8)
    for ax in (top, middle, bottom):
        ax.grid(True, alpha=0.3)
    if title:
        top.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def draw_collapse(
    traces: dict[str, Sequence[Sequence[float]]], path: Path, *, title: str = ""
) -> None:
    """The KL term over the steps of several runs, one line each (``traces`` by label, rows
    ``[step, bound, KL, β]``), on a log scale: collapse is a line that falls towards 0 and
    stays."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 3.5))
    for label, trace in traces.items():
        ax.plot([row[0] for row in trace], [row[2] for row in trace], label=label)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("train KL, nats (log scale)")
    ax.legend(fontsize=8)
    ax.grid(True, alpha=0.3)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)

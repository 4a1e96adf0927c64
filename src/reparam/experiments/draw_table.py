r"""``reparam repro draw``: Gregor et al. (2015)'s Table 2 on binarized MNIST, DRAW without and
with attention, end to end.

Each variant trains as a run of :class:`~reparam.experiments.draw.DRAWTrainer` in
``OUT/VARIANT`` (``no-attention``, ``attention``) on the same schedule; its ``best.pt`` (the
best validation ELBO) is evaluated on the test split:

- :math:`-\mathcal L`, the negative ELBO with one path a digit: the paper's number, an upper
  bound on the NLL;
- :math:`-\mathcal L_k`, the importance-weighted bound with k paths a digit, a tighter upper
  bound (:math:`-\log p(x) \le -\mathcal L_k \le -\mathcal L`);
- the KL term :math:`\sum_t \mathrm{KL}_t` and the training time.

``OUT/TABLE.md`` and ``OUT/TABLE.json`` hold them beside the paper's (≤ 87.40 nats without
attention, ≤ 80.97 with), rewritten after each variant, with the pictures of each run
(``VARIANT/canvas.png``, ``VARIANT/canvas.gif``). ``resume`` continues (or only re-evaluates)
the runs that hold a checkpoint, to a later ``epochs`` if asked; ``overwrite`` retrains them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from reparam.experiments.draw import DRAWTrainer
from reparam.experiments.draw_config import ATTENTION_ONLY, DRAWConfig
from reparam.experiments.gumbel_table1_table import machine
from reparam.experiments.vae_build import load_split
from reparam.models import DRAW
from reparam.runs import load_run
from reparam.train import RunOptions, run
from reparam.train.run_folder import CHECKPOINT

TITLE = "Gregor et al. (2015), Table 2: test NLL bounds on binarized MNIST, nats"
PAPER = {"no-attention": 87.40, "attention": 80.97}
VARIANTS = tuple(PAPER)
PATHS_AT_ONCE = 10_000  # rows × k unrolled together by the evaluation


@dataclass(frozen=True)
class Row:
    """One variant: the test bounds of its best weights, and what training cost."""

    variant: str
    paper: float
    nll_elbo: float
    nll_iwae: float
    kl: float
    k: int
    best_epoch: int
    epochs: int
    steps: int
    seconds: float


@torch.no_grad()
def bounds_on_test(model: DRAW, x: Tensor, k: int) -> dict[str, float]:
    r"""The mean over the rows of ``x`` of :math:`-\mathcal L` (one path a row),
    :math:`\sum_t \mathrm{KL}_t` and :math:`-\mathcal L_k` (k paths a row), unrolling at most
    ``PATHS_AT_ONCE`` paths at a time."""
    model.eval()
    elbo = kl = iwae = 0.0
    for rows in x.split(PATHS_AT_ONCE):
        log_likelihood, divergence = model.elbo_terms(rows)
        elbo += float((log_likelihood - divergence).sum())
        kl += float(divergence.sum())
    for rows in x.split(max(1, PATHS_AT_ONCE // k)):
        iwae += float(model.bound(rows, objective="iwae", k=k).sum())
    return {"nll_elbo": -elbo / len(x), "kl": kl / len(x), "nll_iwae": -iwae / len(x)}


def train_variant(
    variant: str,
    base: dict[str, Any],
    folder: Path,
    *,
    eval_k: int,
    eval_subset: int | None,
    resume: bool,
    overwrite: bool,
) -> Row:
    """Train (or continue) ``variant`` in ``folder`` with ``base``'s settings and evaluate its
    best weights on the test split (the grid sizes of ``base`` apply with attention only)."""
    attention = variant == "attention"
    options = {k: v for k, v in base.items() if attention or k not in ATTENTION_ONLY}
    config = DRAWConfig.from_dict({**options, "attention": attention})
    again = resume and (folder / CHECKPOINT).exists()
    given = {k: v for k, v in config.to_dict().items() if k not in ("width", "height")}
    result = run(
        DRAWTrainer,
        given if again else config,
        RunOptions(folder, resume=again, overwrite=overwrite and not again, progress=False),
    )
    loaded = load_run(folder, weights="best", device=str(result.config.device))
    assert isinstance(loaded.model, DRAW)
    test = load_split(config.dataset, "test", config.data_dir, eval_subset)
    torch.manual_seed(config.seed)
    scores = bounds_on_test(loaded.model, test.to(loaded.model.prior_loc.device), eval_k)
    best = result.best or result.history[-1]
    return Row(
        variant,
        PAPER[variant],
        k=eval_k,
        best_epoch=int(best["epoch"]),
        epochs=len(result.history),
        steps=int(result.history[-1]["step"]),
        seconds=sum(h["seconds"] for h in result.history),
        **scores,
    )


def reproduce_draw(
    out: str | Path,
    *,
    variants: Sequence[str] = VARIANTS,
    base: dict[str, Any] | None = None,
    eval_k: int = 100,
    eval_subset: int | None = None,
    resume: bool = False,
    overwrite: bool = False,
    on_row: Callable[[Row], None] = lambda row: None,
) -> str:
    """Train and evaluate every variant with ``base``'s settings (those of
    :class:`~reparam.experiments.draw_config.DRAWConfig` but ``attention``); write
    ``OUT/TABLE.md`` and ``OUT/TABLE.json`` and return the markdown."""
    unknown = [v for v in variants if v not in PAPER]
    if not variants or unknown:
        raise ValueError(
            f"--variants must name some of {', '.join(VARIANTS)}; got {', '.join(variants)}"
        )
    if isinstance(eval_k, bool) or not isinstance(eval_k, int) or eval_k < 1:
        raise ValueError(f"--eval-k must be > 0; got {eval_k}")
    if eval_subset is not None and eval_subset < 1:
        raise ValueError(f"--eval-subset must be > 0; got {eval_subset}")
    base = {k: v for k, v in (base or {}).items() if k != "attention"}
    settings = {
        **{
            k: v
            for k, v in DRAWConfig.from_dict(base).to_dict().items()
            if k not in ("attention", "compile", "width", "height")
        },
        "eval_k": eval_k,
        "eval_subset": eval_subset,
        "machine": machine(),
    }
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows: list[Row] = []
    markdown = ""
    for variant in variants:
        row = train_variant(
            variant,
            base,
            out / variant,
            eval_k=eval_k,
            eval_subset=eval_subset,
            resume=resume,
            overwrite=overwrite,
        )
        on_row(row)
        rows.append(row)
        markdown = render(settings, rows, out)
        (out / "TABLE.md").write_text(markdown)
        payload = {"settings": settings, "rows": [asdict(r) for r in rows]}
        (out / "TABLE.json").write_text(json.dumps(payload, indent=1))
    return markdown


def render(settings: dict[str, Any], rows: list[Row], out: Path) -> str:
    """TABLE.md: the paper's bound beside reparam's two, the KL term, the schedule's cost and
    the pictures of each run."""
    k = settings["eval_k"]
    lines = [f"**{TITLE}**", "", "Settings: " + json.dumps(settings), ""]
    if settings.get("dataset") != "binarized-mnist":
        lines += [
            f"(the paper's numbers are for binarized MNIST; this run used "
            f"{settings.get('dataset')})",
            "",
        ]
    lines += [
        f"| model | paper −ELBO | reparam −ELBO | reparam −L_{k} | KL | best epoch | steps "
        "| training s | s / step |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        label = "DRAW with attention" if row.variant == "attention" else "DRAW without attention"
        lines.append(
            f"| {label} | ≤ {row.paper:.2f} | ≤ {row.nll_elbo:.2f} | ≤ {row.nll_iwae:.2f} | "
            f"{row.kl:.2f} | {row.best_epoch} / {row.epochs} | {row.steps} | {row.seconds:.0f} | "
            f"{row.seconds / max(row.steps, 1):.3f} |"
        )
    lines += [
        "",
        f"−ELBO: one path a test digit (the paper's bound); −L_{k}: the importance-weighted "
        f"bound with k = {k} paths a digit, tighter. Training seconds include the validation "
        "after each epoch.",
    ]
    for row in rows:
        pictures = [p for p in ("canvas.png", "canvas.gif") if (out / row.variant / p).exists()]
        if pictures:
            lines += ["", f"{row.variant}:", ""]
            lines += [f"![{row.variant} {p}]({row.variant}/{p})" for p in pictures]
    return "\n".join(lines) + "\n"

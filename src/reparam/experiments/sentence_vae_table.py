r"""``reparam repro sentence-vae``: Bowman et al. (2016)'s Table 1 on the Penn Treebank — the
LSTM language model and the sentence VAE, with a standard and an inputless decoder — and the
IWAE bound (pathwise and DReG gradients), which the paper did not have, on the same schedule.

Each row trains as a run of :class:`~reparam.experiments.sentence_vae.SentenceVAETrainer` in
``OUT/ROW``; its ``best.pt`` (the best validation bound) is evaluated on the test split
(:func:`evaluate_run`):

- the NLL :math:`-\mathcal L_k` per sentence by importance sampling with k = ``eval_k``
  samples (exact for the language model), an upper bound on :math:`-\log p(x)`;
- the negative ELBO (the mean log-weight), the KL term and the active units;
- the perplexity :math:`\exp(\sum -\mathcal L_k / \sum (n + 1))` over every predicted token,
  ``<eos>`` included, and per word, :math:`\exp(\sum -\mathcal L_k / \sum n)`, the count
  that the paper's NLL and perplexity pairs imply (:mod:`reparam.models.sentence_evaluation`).

The rows: ``lm`` (``latent=0``), ``vae`` (the ELBO, KL annealing), ``iwae`` and ``dreg``
(:math:`\mathcal L_k` with k = ``k``, pathwise or DReG gradients), each in the ``standard``
setting (the decoder reads the words) and the ``inputless`` one (word dropout 1). The paper:
standard — LM NLL 100, perplexity 116; VAE NLL 101, perplexity 119, KL 2; inputless — LM NLL
135, perplexity 600; VAE NLL 125, perplexity 380, KL 15. ``OUT/TABLE.md`` and
``OUT/TABLE.json`` hold them beside the paper's, rewritten after each row; ``resume``
continues (or only re-evaluates) the rows that hold a checkpoint, ``overwrite`` retrains them.

:func:`reproduce_collapse` trains the pair that shows posterior collapse — annealing and word
dropout against neither — and draws their KL terms over the steps in ``OUT/collapse.png``.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from reparam.experiments.gumbel_table1_table import machine
from reparam.experiments.sentence_vae import SentenceVAETrainer, batches_of, run_sentences
from reparam.experiments.sentence_vae_config import SentenceVAEConfig
from reparam.models import SentenceVAE
from reparam.models.sentence_evaluation import SentenceEvaluation, evaluate
from reparam.plots.sentence_vae import draw_collapse
from reparam.runs import load_run
from reparam.train import RunOptions, run
from reparam.train.run_folder import CHECKPOINT

TITLE = "Bowman et al. (2016), Table 1: test NLL (nats a sentence), perplexity and KL"
MODELS = ("lm", "vae", "iwae", "dreg")
SETTINGS = ("standard", "inputless")
ROWS = tuple(f"{model}-{setting}" for setting in SETTINGS for model in MODELS)
PAPER: dict[str, dict[str, float]] = {
    "lm-standard": {"nll": 100, "ppl": 116},
    "vae-standard": {"nll": 101, "ppl": 119, "kl": 2},
    "lm-inputless": {"nll": 135, "ppl": 600},
    "vae-inputless": {"nll": 125, "ppl": 380, "kl": 15},
}
LABELS = {"lm": "LSTM LM", "vae": "VAE", "iwae": "IWAE (pathwise)", "dreg": "IWAE (DReG)"}


@dataclass(frozen=True)
class Row:
    """One row: the test figures of its best weights and what training cost."""

    row: str
    paper: dict[str, float]
    test: SentenceEvaluation
    best_epoch: int
    epochs: int
    steps: int
    seconds: float


def row_settings(row: str, base: dict[str, Any], k: int) -> dict[str, Any]:
    """The config of ``row`` (``MODEL-SETTING``) on ``base``'s schedule."""
    model, setting = row.split("-")
    values = {**base, "word_dropout": 1.0 if setting == "inputless" else 0.0}
    if model == "lm":
        values["latent"] = 0
        for name in ("kl_anneal", "kl_warmup", "eval_k"):
            values.pop(name, None)
    elif model in ("iwae", "dreg"):
        values.update(objective="iwae", k=k, estimator="dreg" if model == "dreg" else "pathwise")
        values.pop("kl_anneal", None), values.pop("kl_warmup", None)
    return values


def evaluate_run(
    run_folder: str | Path,
    *,
    split: str = "test",
    k: int = 100,
    subset: int | None = None,
    chunk: int = 100,
    batch_size: int = 32,
    weights: str = "best",
    seed: int = 0,
) -> SentenceEvaluation:
    r"""The figures of :func:`~reparam.models.sentence_evaluation.evaluate` for the sentence
    run in ``run_folder`` on ``split`` of its corpus (a random ``subset`` if given), its
    vocabulary read from the run, :math:`\mathcal L_k` from k importance samples drawn
    ``chunk`` at a time after ``torch.manual_seed(seed)``."""
    loaded = load_run(run_folder, weights=weights, device="cpu")
    config = loaded.config
    if not isinstance(config, SentenceVAEConfig) or not isinstance(loaded.model, SentenceVAE):
        raise ValueError(f"{run_folder} is a {loaded.trainer} run, not a sentence-vae run")
    device = torch.device(config.device if config.device != "auto" else "cpu")
    model = loaded.model.to(device)
    sentences = run_sentences(run_folder, config, split, subset)
    torch.manual_seed(seed)
    return evaluate(model, batches_of(sentences, batch_size, device), k=k, chunk=chunk)


def train_row(
    row: str,
    base: dict[str, Any],
    folder: Path,
    *,
    k: int,
    eval_k: int,
    eval_subset: int | None,
    resume: bool,
    overwrite: bool,
) -> Row:
    """Train (or continue) ``row`` in ``folder`` and evaluate its best weights on test."""
    config = SentenceVAEConfig.from_dict(row_settings(row, base, k))
    again = resume and (folder / CHECKPOINT).exists()
    given = {key: v for key, v in config.to_dict().items() if key != "vocab_size"}
    result = run(
        SentenceVAETrainer,
        given if again else config,
        RunOptions(folder, resume=again, overwrite=overwrite and not again, progress=False),
    )
    test = evaluate_run(folder, k=eval_k, subset=eval_subset, seed=config.seed)
    best = result.best or result.history[-1]
    return Row(
        row,
        PAPER.get(row, {}),
        test,
        best_epoch=int(best["epoch"]),
        epochs=len(result.history),
        steps=int(result.history[-1]["step"]),
        seconds=sum(h["seconds"] for h in result.history),
    )


def check_counts(**counts: int | None) -> None:
    """A ValueError naming the option for a count below 1 (None passes)."""
    for name, value in counts.items():
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            raise ValueError(f"--{name.replace('_', '-')} must be > 0; got {value}")


def reproduce_sentence_vae(
    out: str | Path,
    *,
    rows: Sequence[str] = ROWS,
    base: dict[str, Any] | None = None,
    k: int = 5,
    eval_k: int = 100,
    eval_subset: int | None = None,
    resume: bool = False,
    overwrite: bool = False,
    on_row: Callable[[Row], None] = lambda row: None,
) -> str:
    """Train and evaluate every row of ``rows`` with ``base``'s settings (those of
    :class:`~reparam.experiments.sentence_vae_config.SentenceVAEConfig` that every row
    shares); write ``OUT/TABLE.md`` and ``OUT/TABLE.json`` and return the markdown."""
    unknown = [r for r in rows if r not in ROWS]
    if not rows or unknown:
        raise ValueError(f"--rows must name some of {', '.join(ROWS)}; got {', '.join(rows)}")
    check_counts(k=k, eval_k=eval_k, eval_subset=eval_subset)
    base = dict(base or {})
    shared = SentenceVAEConfig.from_dict(base).to_dict()
    per_row = ("compile", "vocab_size", "objective", "k", "estimator", "word_dropout", "eval_k")
    settings = {
        **{key: v for key, v in shared.items() if key not in per_row},
        "valid_k": shared["eval_k"],
        "iwae_k": k,
        "eval_k": eval_k,
        "eval_subset": eval_subset,
        "machine": machine(),
    }
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    done: list[Row] = []
    markdown = ""
    for row in rows:
        result = train_row(
            row, base, out / row, k=k, eval_k=eval_k, eval_subset=eval_subset,
            resume=resume, overwrite=overwrite,
        )  # fmt: skip
        on_row(result)
        done.append(result)
        markdown = render(settings, done)
        (out / "TABLE.md").write_text(markdown)
        payload = {"settings": settings, "rows": [asdict(r) for r in done]}
        (out / "TABLE.json").write_text(json.dumps(payload, indent=1))
    return markdown


def paper_cell(row: Row, key: str) -> str:
    value = row.paper.get(key)
    return "—" if value is None else f"{value:g}"


def render(settings: dict[str, Any], rows: list[Row]) -> str:
    """TABLE.md: the paper's NLL, perplexity and KL beside reparam's, and the schedule's cost."""
    k = settings["eval_k"]
    lines = [f"**{TITLE}**", "", "Settings: " + json.dumps(settings), ""]
    if settings.get("corpus") != "ptb":
        lines += [
            f"(the paper's numbers are for the Penn Treebank; this used {settings.get('corpus')})",
            "",
        ]
    lines += [
        f"| model | decoder | paper NLL | paper PPL | paper KL | NLL −L_{k} | −ELBO | PPL | "
        "PPL per word | KL | active units | best epoch | steps | training s |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        model, setting = row.row.split("-")
        t = row.test
        kl = "—" if not t.latent else f"{t.kl:.2f}"
        units = "—" if not t.latent else f"{t.active_units} / {t.latent}"
        lines.append(
            f"| {LABELS[model]} | {setting} | {paper_cell(row, 'nll')} | {paper_cell(row, 'ppl')} "
            f"| {paper_cell(row, 'kl')} | {t.nll:.2f} | {t.negative_elbo:.2f} | "
            f"{t.perplexity:.1f} | {t.word_perplexity:.1f} | {kl} | {units} | "
            f"{row.best_epoch} / {row.epochs} | {row.steps} | {row.seconds:.0f} |"
        )
    lines += [
        "",
        f"NLL: −L_{k}, the importance-weighted bound with k = {k} samples a test sentence "
        "(exact for the LM), nats a sentence. PPL counts every predicted token, <eos> "
        "included; PPL per word counts the words alone, as the paper's NLL/PPL pairs imply "
        "(≈ 21.1 tokens a sentence). Training seconds include the validation after each epoch.",
    ]
    return "\n".join(lines) + "\n"


def reproduce_collapse(
    out: str | Path,
    *,
    base: dict[str, Any] | None = None,
    kl_warmup: int = 60,
    word_dropout: float = 1.0,
    resume: bool = False,
    overwrite: bool = False,
) -> dict[str, float]:
    """Posterior collapse: train ``OUT/annealed`` (sigmoid annealing over ``kl_warmup``
    steps and word dropout) and ``OUT/plain`` (β = 1 from the first step, no word dropout)
    with ``base``'s other settings, draw both KL terms over the steps in
    ``OUT/collapse.png`` and return each run's last training KL."""
    base = {
        key: v
        for key, v in (base or {}).items()
        if key not in ("kl_anneal", "kl_warmup", "word_dropout")
    }
    variants = {
        "annealed": {"kl_anneal": "sigmoid", "kl_warmup": kl_warmup, "word_dropout": word_dropout},
        "plain": {"kl_anneal": "none", "word_dropout": 0.0},
    }
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    traces, finals = {}, {}
    for name, extra in variants.items():
        folder = out / name
        again = resume and (folder / CHECKPOINT).exists()
        config = SentenceVAEConfig.from_dict({**base, **extra})
        given = {key: v for key, v in config.to_dict().items() if key != "vocab_size"}
        result = run(
            SentenceVAETrainer,
            given if again else config,
            RunOptions(folder, resume=again, overwrite=overwrite and not again, progress=False),
        )
        finals[name] = float(result.history[-1]["train_kl"])
        with (folder / "trace.csv").open() as file:
            traces[name] = [[float(v) for v in line] for line in list(csv.reader(file))[1:]]
    labels = {
        f"annealed (sigmoid, {kl_warmup} steps) + word dropout {word_dropout:g}": traces[
            "annealed"
        ],
        "plain (β = 1, no word dropout)": traces["plain"],
    }
    draw_collapse(labels, out / "collapse.png", title="posterior collapse: the KL term")
    return finals

"""``reparam repro sentence-vae``: Bowman et al. (2016)'s Table 1 on the Penn Treebank (the LSTM
LM and the sentence VAE, standard and inputless decoders, and the IWAE bound with pathwise and
DReG gradients); ``reparam repro sentence-collapse``: the posterior-collapse pair."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from reparam.cli.app import console
from reparam.cli.options import DataDir, Device, Overwrite, Resume, Seed
from reparam.cli.repro import repro_app
from reparam.data.sentences import CORPORA
from reparam.experiments.sentence_vae_table import (
    ROWS,
    Row,
    reproduce_collapse,
    reproduce_sentence_vae,
)

Corpus = Annotated[str, typer.Option(help=", ".join(CORPORA))]
Subset = Annotated[
    int | None,
    typer.Option(help="train and validate on random subsets of this many sentences"),
]
Epochs = Annotated[int, typer.Option(help="passes over the training sentences, each run")]
Embedding = Annotated[int, typer.Option(help="word embedding size (the paper: 353)")]
Hidden = Annotated[int, typer.Option(help="LSTM units (the paper: 191)")]
Latent = Annotated[int, typer.Option(help="dimensions of z (the paper: 13)")]
BatchSize = Annotated[int, typer.Option(help="sentences per step")]
Lr = Annotated[float, typer.Option(help="Adam's learning rate")]
Clip = Annotated[float, typer.Option(help="clip the gradient's norm to this")]
KLWarmup = Annotated[int, typer.Option(help="steps of the sigmoid KL annealing")]


def report(row: Row) -> None:
    t = row.test
    console.print(
        f"{row.row}: NLL {t.nll:.2f}, perplexity {t.perplexity:.1f} (per word "
        f"{t.word_perplexity:.1f}), KL {t.kl:.2f}, {row.steps} steps in {row.seconds:.0f} s",
        markup=False,
    )


@repro_app.command(
    "sentence-vae", short_help="Bowman et al. 2016, Table 1: LSTM LM and sentence VAE, PTB"
)
def repro_sentence_vae(
    rows: Annotated[str, typer.Option(help=f"comma-separated: {', '.join(ROWS)}")] = ",".join(ROWS),
    corpus: Corpus = "ptb",
    data_dir: DataDir = None,
    subset: Subset = None,
    epochs: Epochs = 10,
    embedding: Embedding = 353,
    hidden: Hidden = 191,
    latent: Latent = 13,
    batch_size: BatchSize = 32,
    lr: Lr = 1e-3,
    clip: Clip = 5.0,
    kl_warmup: KLWarmup = 2000,
    k: Annotated[int, typer.Option(help="importance samples of the IWAE rows' training bound")] = 5,
    valid_k: Annotated[
        int, typer.Option(help="importance samples of the validation bound each epoch")
    ] = 10,
    eval_k: Annotated[int, typer.Option(help="importance samples of the test NLL -L_k")] = 100,
    eval_subset: Annotated[
        int | None, typer.Option(help="test on a random subset", show_default="all")
    ] = None,
    device: Device = "auto",
    seed: Seed = 0,
    out: Annotated[
        Path, typer.Option(help="folder: OUT/ROW (the runs), OUT/TABLE.md, OUT/TABLE.json")
    ] = Path("runs/repro-sentence-vae"),
    resume: Resume = False,
    overwrite: Overwrite = False,
) -> None:
    """Bowman et al. (2016), Table 1, on the Penn Treebank: the LSTM language model and the
    sentence VAE (sigmoid KL annealing), with the standard decoder (paper: LM NLL 100,
    perplexity 116; VAE 101, 119, KL 2) and the inputless one (word dropout 1; LM 135, 600;
    VAE 125, 380, KL 15), and the VAE trained on the IWAE bound L_k (pathwise and DReG
    gradients), which the paper did not have. Each row trains for --epochs; its best weights
    (validation L_k) give the test NLL -L_k by importance sampling (k = --eval-k), the
    perplexity and the KL. Writes OUT/TABLE.md and OUT/TABLE.json."""
    base: dict[str, Any] = {
        "corpus": corpus,
        "data_dir": data_dir,
        "subset": subset,
        "embedding": embedding,
        "hidden": hidden,
        "latent": latent,
        "kl_warmup": kl_warmup,
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": lr,
        "clip": clip,
        "eval_k": valid_k,
        "device": device,
        "seed": seed,
    }
    markdown = reproduce_sentence_vae(
        out,
        rows=[r.strip() for r in rows.split(",") if r.strip()],
        base=base,
        k=k,
        eval_k=eval_k,
        eval_subset=eval_subset,
        resume=resume,
        overwrite=overwrite,
        on_row=report,
    )
    console.print(markdown, markup=False)


@repro_app.command(
    "sentence-collapse", short_help="posterior collapse of the sentence VAE, with and without"
)
def repro_sentence_collapse(
    corpus: Corpus = "embedded",
    data_dir: DataDir = None,
    subset: Subset = 32,
    epochs: Epochs = 60,
    embedding: Embedding = 32,
    hidden: Hidden = 64,
    latent: Latent = 8,
    batch_size: BatchSize = 16,
    lr: Lr = 0.02,
    clip: Clip = 5.0,
    kl_warmup: KLWarmup = 60,
    word_dropout: Annotated[
        float, typer.Option(help="the annealed run's word dropout (1: inputless decoder)")
    ] = 1.0,
    device: Device = "auto",
    seed: Seed = 0,
    out: Annotated[
        Path, typer.Option(help="folder: OUT/annealed, OUT/plain, OUT/collapse.png")
    ] = Path("runs/repro-sentence-collapse"),
    resume: Resume = False,
    overwrite: Overwrite = False,
) -> None:
    """Posterior collapse (Bowman et al. 2016): the same sentence VAE trained with sigmoid KL
    annealing and word dropout (OUT/annealed) and with neither, beta = 1 from the first step
    (OUT/plain); OUT/collapse.png draws both KL terms over the steps. The defaults are the
    CI test's (a few minutes' run: 120 steps on 32 sentences)."""
    base = {
        "corpus": corpus,
        "data_dir": data_dir,
        "subset": subset,
        "embedding": embedding,
        "hidden": hidden,
        "latent": latent,
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": lr,
        "clip": clip,
        "eval_k": 1,
        "device": device,
        "seed": seed,
    }
    finals = reproduce_collapse(
        out, base=base, kl_warmup=kl_warmup, word_dropout=word_dropout, resume=resume,
        overwrite=overwrite,
    )  # fmt: skip
    console.print(
        f"final training KL: annealed {finals['annealed']:.3f}, plain {finals['plain']:.3f} "
        f"nats; wrote {out / 'collapse.png'}",
        markup=False,
    )

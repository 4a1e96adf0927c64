"""``reparam train sentence-vae``: the sentence VAE of Bowman et al. (2016) on a sentence
corpus, or with ``--latent 0`` the LSTM language model, trained by the same code.

The options are :class:`~reparam.experiments.sentence_vae_config.SentenceVAEConfig`'s fields;
the config checks every value, and the console prints its ``ValueError`` as one line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from reparam.cli.options import (
    CheckpointEvery,
    Compile,
    DataDir,
    Device,
    Out,
    Overwrite,
    Resume,
    Seed,
    train_command,
)
from reparam.cli.train import train_app
from reparam.data.sentences import CORPORA
from reparam.estimators import names
from reparam.experiments.sentence_vae import SentenceVAETrainer
from reparam.experiments.sentence_vae_config import ANNEALING, OBJECTIVES
from reparam.models.sentence_vae import CONDITIONS

ESTIMATORS = "; ".join(
    f"{objective}: {', '.join(names(objective, 'continuous'))}" for objective in OBJECTIVES
)


def default_out(corpus: str, latent: int) -> Path:
    """``runs/sentence-vae-CORPUS``, or ``runs/sentence-lm-CORPUS`` for the language model."""
    return Path("runs") / f"sentence-{'vae' if latent else 'lm'}-{corpus}"


@train_app.command(
    "sentence-vae", short_help="sentence VAE (Bowman et al. 2016) or, --latent 0, the LSTM LM"
)
def train_sentence_vae(
    ctx: typer.Context,
    corpus: Annotated[str, typer.Option(help=", ".join(CORPORA))] = "embedded",
    data_dir: DataDir = None,
    subset: Annotated[
        int | None,
        typer.Option(help="train and validate on random subsets of this many sentences"),
    ] = None,
    embedding: Annotated[int, typer.Option(help="word embedding size (the paper: 353)")] = 353,
    hidden: Annotated[int, typer.Option(help="LSTM units (the paper: 191)")] = 191,
    latent: Annotated[
        int, typer.Option(help="dimensions of z (the paper: 13); 0: the LSTM language model")
    ] = 13,
    condition: Annotated[
        str,
        typer.Option(
            help=f"{' or '.join(CONDITIONS)}: z sets the decoder's initial state, or also "
            "joins every input"
        ),
    ] = "initial",
    word_dropout: Annotated[
        float,
        typer.Option(
            help="rate at which decoder inputs become <unk> in training (1: inputless decoder)"
        ),
    ] = 0.0,
    kl_anneal: Annotated[
        str,
        typer.Option(help=f"KL weight schedule: {', '.join(ANNEALING)} (none: beta = 1 at once)"),
    ] = "sigmoid",
    kl_warmup: Annotated[
        int, typer.Option(help="steps of the KL annealing (sigmoid: beta = 1/2 at half of them)")
    ] = 2000,
    objective: Annotated[str, typer.Option(help=" or ".join(OBJECTIVES))] = "elbo",
    k: Annotated[int, typer.Option(help="samples per sentence (importance samples for iwae)")] = 1,
    estimator: Annotated[
        str, typer.Option(help=f"gradient estimator, by objective ({ESTIMATORS})")
    ] = "auto",
    epochs: Annotated[
        int,
        typer.Option(help="passes over the training data (the run's end; --resume may raise it)"),
    ] = 10,
    batch_size: Annotated[int, typer.Option(help="sentences per step")] = 32,
    lr: Annotated[float, typer.Option(help="Adam's learning rate")] = 1e-3,
    clip: Annotated[float, typer.Option(help="clip the gradient's norm to this")] = 5.0,
    eval_k: Annotated[
        int, typer.Option(help="importance samples of the validation bound L_k each epoch")
    ] = 10,
    device: Device = "auto",
    seed: Seed = 0,
    compile: Compile = False,
    out: Out = None,
    resume: Resume = False,
    overwrite: Overwrite = False,
    checkpoint_every: CheckpointEvery = 0,
) -> None:
    """The sentence VAE (Bowman et al. 2016): an LSTM encoder gives a diagonal Gaussian
    q(z | x), an LSTM decoder conditioned on z predicts the words, trained on the ELBO with
    KL annealing and word dropout (or on the IWAE bound); --latent 0 is the LSTM language
    model. Writes a run folder (default runs/sentence-vae-CORPUS, runs/sentence-lm-CORPUS):
    config.json, metrics.csv (per epoch: beta, the training bound, reconstruction and KL; the
    validation bound L_k, ELBO, KL, perplexity and active units), checkpoint.pt, best.pt,
    vocabulary.json, trace.csv and curves.png (reconstruction, KL and beta over the steps)
    and samples.txt (greedy and sampled decodes, reconstructions, a homotopy)."""
    train_command(
        SentenceVAETrainer,
        ctx,
        out=out or default_out(corpus, latent),
        resume=resume,
        overwrite=overwrite,
        checkpoint_every=checkpoint_every,
    )

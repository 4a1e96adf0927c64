"""``reparam train sentence-vae``: the sentence VAE of Bowman et al. (2016) on a sentence
corpus, or with ``--latent 0`` the LSTM language model, trained by the same code.

The options are :class:`~reparam.experiments.sentence_vae_config.SentenceVAEConfig`'s fields,
with its defaults (:func:`~reparam.cli.options.config_command`); the config checks every
value, and the console prints its ``ValueError`` as one line.
"""

from __future__ import annotations

from pathlib import Path

from reparam.cli.options import Compile, DataDir, Device, Seed, config_command, option
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


OPTIONS = {
    "corpus": option(str, ", ".join(CORPORA)),
    "data_dir": DataDir,
    "subset": option(int | None, "train and validate on random subsets of this many sentences"),
    "embedding": option(int, "word embedding size (the paper: 353)"),
    "hidden": option(int, "LSTM units (the paper: 191)"),
    "latent": option(int, "dimensions of z (the paper: 13); 0: the LSTM language model"),
    "condition": option(
        str,
        f"{' or '.join(CONDITIONS)}: z sets the decoder's initial state, or also joins every input",
    ),
    "word_dropout": option(
        float, "rate at which decoder inputs become <unk> in training (1: inputless decoder)"
    ),
    "kl_anneal": option(
        str, f"KL weight schedule: {', '.join(ANNEALING)} (none: beta = 1 at once)"
    ),
    "kl_warmup": option(int, "steps of the KL annealing (sigmoid: beta = 1/2 at half of them)"),
    "objective": option(str, " or ".join(OBJECTIVES)),
    "k": option(int, "samples per sentence (importance samples for iwae)"),
    "estimator": option(str, f"gradient estimator, by objective ({ESTIMATORS})"),
    "epochs": option(int, "passes over the training data (the run's end; --resume may raise it)"),
    "batch_size": option(int, "sentences per step"),
    "lr": option(float, "Adam's learning rate"),
    "clip": option(float, "clip the gradient's norm to this"),
    "eval_k": option(int, "importance samples of the validation bound L_k each epoch"),
    "device": Device,
    "seed": Seed,
    "compile": Compile,
}

train_app.command(
    "sentence-vae", short_help="sentence VAE (Bowman et al. 2016) or, --latent 0, the LSTM LM"
)(
    config_command(
        SentenceVAETrainer,
        OPTIONS,
        default_out=lambda values: default_out(values["corpus"], values["latent"]),
        doc="""The sentence VAE (Bowman et al. 2016): an LSTM encoder gives a diagonal Gaussian
        q(z | x), an LSTM decoder conditioned on z predicts the words, trained on the ELBO
        with KL annealing and word dropout (or on the IWAE bound); --latent 0 is the LSTM
        language model. Writes a run folder (default runs/sentence-vae-CORPUS,
        runs/sentence-lm-CORPUS): config.json, metrics.csv (per epoch: beta, the training
        bound, reconstruction and KL; the validation bound L_k, ELBO, KL, perplexity and
        active units), checkpoint.pt, best.pt, vocabulary.json, trace.csv and curves.png
        (reconstruction, KL and beta over the steps) and samples.txt (greedy and sampled
        decodes, reconstructions, a homotopy).""",
    )
)

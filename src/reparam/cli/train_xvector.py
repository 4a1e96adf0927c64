"""``reparam train xvector``: the x-vector speaker embedding extractor, ordinary or Bayesian,
on a synthesized multi-speaker corpus.

The options are :class:`~reparam.experiments.xvector_config.XVectorConfig`'s fields, with
its defaults (:func:`~reparam.cli.options.config_command`); the config checks every value,
and the console prints its ``ValueError`` as one line.
"""

from __future__ import annotations

from pathlib import Path

from reparam.cli.options import Compile, Device, Seed, config_command, option
from reparam.cli.train import train_app
from reparam.data.speech.recipe import RECIPES
from reparam.experiments.xvector import XVectorTrainer

OPTIONS = {
    "recipe": option(str, f"the speech corpus's recipe: {', '.join(RECIPES)}"),
    "channels": option(int, "units of the TDNN frame layers"),
    "pooled": option(int, "units of the last frame layer (pooled to mean and std)"),
    "embedding": option(int, "x-vector size (the segment layers' units)"),
    "bayesian_layers": option(int, "how many frame layers are Bayesian (0: the baseline; 5: all)"),
    "kl_weight": option(float, "weight of the KL term, which is divided by the training size"),
    "segment": option(int, "frames of each training crop"),
    "steps": option(int, "Adam steps (the run's end; --resume may raise it)"),
    "eval_every": option(int, "steps between validations (a period)"),
    "batch_size": option(int, "utterances per step"),
    "lr": option(float, "Adam's peak learning rate"),
    "warmup": option(int, "steps of linear warm-up (then 1/sqrt(step) decay)"),
    "lda_dim": option(int, "LDA dimensions before PLDA"),
    "p_target": option(float, "the DCF's target prior (0.01 VoxCeleb, 0.001 SRE10)"),
    "device": Device,
    "seed": Seed,
    "compile": Compile,
}


def default_out(values: dict) -> Path:
    """``runs/xvector-RECIPE`` or ``runs/bayes-xvector-RECIPE``."""
    prefix = "bayes-xvector" if values["bayesian_layers"] else "xvector"
    return Path("runs") / f"{prefix}-{values['recipe']}"


train_app.command("xvector", short_help="x-vector speaker verification, ordinary or Bayesian")(
    config_command(
        XVectorTrainer,
        OPTIONS,
        default_out=default_out,
        doc="""The x-vector extractor (Snyder et al. 2018: TDNN frame layers, statistics
        pooling, segment layers, a speaker softmax), with --bayesian-layers N of its frame
        layers Bayesian by Backprop (seed 001), trained on the eSpeak NG corpus of --recipe
        (built on first use). Writes a run folder (default runs/xvector-RECIPE or
        runs/bayes-xvector-RECIPE): config.json, metrics.csv (per period: cross-entropy,
        accuracy, KL, validation EER and minDCF by cosine), checkpoint.pt, best.pt,
        evaluation.json (EER and minDCF of the validation and test speakers, clean and
        degraded, by cosine and by LDA + PLDA), scores.pt and det.png.""",
    )
)

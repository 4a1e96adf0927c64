"""``reparam train asr``: a CTC speech recognizer on a synthesized multi-speaker corpus.

The options are :class:`~reparam.experiments.asr_config.ASRConfig`'s fields, with its
defaults (:func:`~reparam.cli.options.config_command`); the config checks every value, and
the console prints its ``ValueError`` as one line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from reparam.cli.options import Compile, Device, Seed, config_command, option
from reparam.cli.train import train_app
from reparam.data.speech.recipe import RECIPES
from reparam.experiments.asr import ASRTrainer
from reparam.experiments.asr_config import CTC_LOSSES

OPTIONS = {
    "recipe": option(str, f"the speech corpus's recipe: {', '.join(RECIPES)}"),
    "subset": option(int | None, "train on a random subset of this many utterances"),
    "channels": option(int, "channels of the convolutional front end"),
    "hidden": option(int, "GRU units in each direction"),
    "layers": option(int, "bidirectional GRU layers"),
    "subsample": option(int, "the front end's stride in frames (output frames are this long)"),
    "dropout": option(float, "dropout between the GRU layers and before the output"),
    "spec_augment": Annotated[
        bool, typer.Option("--spec-augment/--no-spec-augment", help="SpecAugment masking")
    ],
    "freq_warp": option(
        float, "vocal tract length perturbation: warp the bands by a factor on 1 ± this (0: off)"
    ),
    "ctc": option(str, f"the CTC loss: {' or '.join(CTC_LOSSES)} (reparam.latent.ctc_loss)"),
    "steps": option(int, "Adam steps (the run's end; --resume may raise it)"),
    "eval_every": option(int, "steps between validations (a period)"),
    "batch_size": option(int, "utterances per step"),
    "lr": option(float, "Adam's peak learning rate"),
    "warmup": option(int, "steps of linear warm-up (then 1/sqrt(step) decay)"),
    "clip": option(float, "clip the gradient's norm to this"),
    "decode_beam": option(int, "beam width of the final evaluation's beam searches"),
    "decode_lm_order": option(int, "order of the character n-gram language model"),
    "decode_lm_weight": option(float, "weight of the language model in shallow fusion"),
    "decode_bonus": option(float, "insertion bonus per character in shallow fusion"),
    "decode_subset": option(int, "utterances of each test set the beam decoders see"),
    "device": Device,
    "seed": Seed,
    "compile": Compile,
}

train_app.command("asr", short_help="CTC speech recognizer on synthesized voices")(
    config_command(
        ASRTrainer,
        OPTIONS,
        default_out=lambda values: Path("runs") / f"asr-{values['recipe']}",
        doc="""A CTC speech recognizer (convolutional front end, bidirectional GRUs, a softmax
        over characters and the blank) trained on the eSpeak NG corpus of --recipe (built on
        first use; `reparam data speech`), on 80-band log-mel frames. Writes a run folder
        (default runs/asr-RECIPE): config.json, metrics.csv (per period: training loss,
        learning rate, validation CER and WER by greedy decoding), checkpoint.pt, best.pt,
        evaluation.json and evaluation.md (test CER and WER, clean and degraded, greedy,
        beam search and beam search with a character n-gram LM; the human clips when
        fetched; word-start error of the forced alignment against eSpeak's) and
        posteriorgram.png.""",
    )
)

"""``reparam train postnet``: a U-Net postnet that sharpens over-smoothed log-mel
spectrograms, trained with L1, L1 + a patch GAN (pix2pix) or L1 + a WGAN-GP critic.

The options are :class:`~reparam.experiments.postnet_config.PostnetConfig`'s fields, with its
defaults (:func:`~reparam.cli.options.config_command`); the config checks every value, and
the console prints its ``ValueError`` as one line.
"""

from __future__ import annotations

from pathlib import Path

from reparam.cli.options import Device, Seed, config_command, option
from reparam.cli.train import train_app
from reparam.data.speech.recipe import RECIPES
from reparam.experiments.postnet import PostnetTrainer
from reparam.experiments.postnet_config import LOSSES

OPTIONS = {
    "recipe": option(str, f"the speech corpus's recipe: {', '.join(RECIPES)}"),
    "source": option(
        str, "the inputs: 'degraded' (an over-smoothed copy of the target) or a tts run folder"
    ),
    "blur_time": option(float, "degraded: the Gaussian blur's sd along time (frames)"),
    "blur_bands": option(float, "degraded: the Gaussian blur's sd along frequency (bands)"),
    "shrink": option(float, "degraded: each band shrunk toward its mean by this factor"),
    "loss": option(str, f"the loss: {', '.join(LOSSES)} (the last two add to the L1)"),
    "adversarial_weight": option(float, "weight of the adversarial loss (the L1's is 1)"),
    "channels": option(int, "the U-Net's channels at its first level"),
    "depth": option(int, "the U-Net's levels (each halves the resolution)"),
    "dropout": option(float, "dropout in the U-Net's deepest half (pix2pix's noise)"),
    "critic_channels": option(int, "the patch discriminator's first channels"),
    "critic_steps": option(int, "wgan-gp: critic steps per generator step"),
    "gp_weight": option(float, "wgan-gp: the gradient penalty's weight"),
    "crop": option(int, "frames of each training crop"),
    "batch_size": option(int, "crops per step"),
    "steps": option(int, "generator steps (the run's end; --resume may raise it)"),
    "eval_every": option(int, "steps between validations (a period)"),
    "lr": option(float, "Adam's learning rate (constant), generator and discriminator"),
    "device": Device,
    "seed": Seed,
}

train_app.command("postnet", short_help="a U-Net GAN postnet that sharpens spectrograms")(
    config_command(
        PostnetTrainer,
        OPTIONS,
        default_out=lambda values: Path("runs") / f"postnet-{values['loss']}",
        doc="""A U-Net postnet (pix2pix's generator) that maps over-smoothed log-mel
        spectrograms to their targets, on the eSpeak NG corpus of --recipe: the inputs are a
        blurred, band-shrunk copy of the target (--source degraded) or a tts run's
        teacher-forced predictions (--source RUN). --loss l1, gan (L1 + pix2pix's
        conditional patch discriminator) or wgan-gp (L1 + a WGAN-GP critic). Writes a run
        folder (default runs/postnet-LOSS): config.json, metrics.csv (per period: training
        L1 and adversarial losses, validation L1), checkpoint.pt, best.pt, evaluation.json
        and evaluation.md (test mel L1, MCD, global-variance ratio, spurious energy,
        roughness ratio and detail error, without and with the postnet), triplet.png and
        sample.wav.""",
    )
)

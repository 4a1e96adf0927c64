"""``reparam repro postnet``: the GAN-postnet table — no postnet, L1, L1 + GAN, L1 +
WGAN-GP — on the same inputs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from reparam.cli.app import console
from reparam.cli.options import Device, Overwrite, Seed
from reparam.cli.repro import repro_app
from reparam.experiments.postnet_table import reproduce_postnet


@repro_app.command("postnet", short_help="GAN postnet: no postnet, L1, L1 + GAN, L1 + WGAN-GP")
def repro_postnet(
    recipe: Annotated[str, typer.Option(help="the speech corpus's recipe")] = "tts",
    source: Annotated[
        str, typer.Option(help="'degraded' (an over-smoothed copy of the target) or a tts run")
    ] = "degraded",
    steps: Annotated[int, typer.Option(help="generator steps of each run")] = 800,
    eval_every: Annotated[int, typer.Option(help="steps between validations")] = 100,
    channels: Annotated[int, typer.Option(help="the U-Net's first channels")] = 32,
    depth: Annotated[int, typer.Option(help="the U-Net's levels")] = 4,
    critic_channels: Annotated[int, typer.Option(help="the discriminator's first channels")] = 16,
    critic_steps: Annotated[int, typer.Option(help="wgan-gp: critic steps a generator step")] = 5,
    gp_weight: Annotated[float, typer.Option(help="wgan-gp: the gradient penalty's weight")] = 10.0,
    adversarial_weight: Annotated[
        float, typer.Option(help="weight of the adversarial loss (the L1's is 1)")
    ] = 0.01,
    crop: Annotated[int, typer.Option(help="frames of each training crop")] = 128,
    batch_size: Annotated[int, typer.Option(help="crops per step")] = 8,
    lr: Annotated[float, typer.Option(help="Adam's learning rate")] = 2e-4,
    seed: Seed = 0,
    device: Device = "auto",
    out: Annotated[
        Path, typer.Option(help="folder: OUT/LOSS (the runs), OUT/TABLE.md, TABLE.json, plate.png")
    ] = Path("runs/repro-postnet"),
    overwrite: Overwrite = False,
) -> None:
    """The GAN postnet's table: three U-Net postnets trained alike on the same inputs (--loss
    l1, gan and wgan-gp of `reparam train postnet`), each evaluated on the test utterances
    (mel L1, MCD, global-variance ratio, spurious energy, roughness ratio, detail error)
    under the inputs' own row, "no postnet". Writes OUT/TABLE.md, OUT/TABLE.json and OUT/plate.png (the first
    test utterance through all three). A finished run of the same settings in OUT is reused,
    unless --overwrite."""
    base = {
        "recipe": recipe, "source": source, "steps": steps, "eval_every": eval_every,
        "channels": channels, "depth": depth, "critic_channels": critic_channels,
        "critic_steps": critic_steps, "gp_weight": gp_weight,
        "adversarial_weight": adversarial_weight, "crop": crop, "batch_size": batch_size,
        "lr": lr, "seed": seed, "device": device,
    }  # fmt: skip
    markdown = reproduce_postnet(
        out, base, overwrite=overwrite,
        on_run=lambda line: console.print(line, markup=False),
    )  # fmt: skip
    console.print(markdown, markup=False)

"""``reparam repro distillation``: seed 000's attention distillation from a large teacher to a
small student, beside a student alone and one with guided attention."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from reparam.cli.app import console
from reparam.cli.options import Device, Overwrite, Seed
from reparam.cli.repro import repro_app
from reparam.experiments.distillation_table import reproduce_distillation


@repro_app.command(
    "distillation",
    short_help="seed 000: attention distillation from a 600-unit teacher to a 300-unit student",
)
def repro_distillation(
    recipe: Annotated[str, typer.Option(help="the speech corpus's recipe")] = "tts",
    r: Annotated[int, typer.Option(help="the reduction factor of every model")] = 5,
    teacher_units: Annotated[int, typer.Option(help="the teacher's encoder units")] = 600,
    student_units: Annotated[int, typer.Option(help="the students' encoder units")] = 300,
    teacher_steps: Annotated[int, typer.Option(help="the teacher's Adam steps")] = 1000,
    teacher_guided_weight: Annotated[
        float, typer.Option(help="the teacher's guided-attention weight (0: unaided)")
    ] = 10.0,
    steps: Annotated[int, typer.Option(help="each student's Adam steps")] = 500,
    eval_every: Annotated[int, typer.Option(help="steps between validations")] = 25,
    distill_weight: Annotated[float, typer.Option(help="weight of the attention KL")] = 1.0,
    soft_target_weight: Annotated[
        float, typer.Option(help="weight of the soft-target frame L1 (0: leave that row out)")
    ] = 1.0,
    guided_weight: Annotated[
        float, typer.Option(help="the guided student's guided-attention weight")
    ] = 10.0,
    focus: Annotated[float, typer.Option(help="aligned: focus rate at least this")] = 0.3,
    diagonal: Annotated[float, typer.Option(help="aligned: diagonal mass at least this")] = 0.8,
    embedding: Annotated[int, typer.Option(help="character embedding size")] = 256,
    attention_rnn: Annotated[int, typer.Option(help="the attention LSTM's units")] = 256,
    decoder_rnn: Annotated[int, typer.Option(help="the decoder LSTM's units")] = 256,
    postnet_channels: Annotated[int, typer.Option(help="the postnet's channels")] = 128,
    batch_size: Annotated[int, typer.Option(help="utterances per step")] = 16,
    lr: Annotated[float, typer.Option(help="Adam's peak learning rate")] = 1e-3,
    subset: Annotated[int | None, typer.Option(help="train on this many sentences")] = None,
    eval_frames: Annotated[int, typer.Option(help="the most frames a synthesis may emit")] = 1000,
    device: Device = "auto",
    seed: Seed = 0,
    out: Annotated[
        Path, typer.Option(help="folder: OUT/teacher, OUT/student-NAME, OUT/TABLE.md, TABLE.json")
    ] = Path("runs/repro-distillation"),
    overwrite: Overwrite = False,
) -> None:
    """Seed 000's experiment: a teacher with --teacher-units encoder units, then students
    with --student-units trained alone, with the KL from the teacher's attention (and with
    the teacher's frames as soft targets), and with guided attention instead, for --steps
    each. Writes OUT/TABLE.md: the step and epoch at which each student's validation focus
    rate and diagonal mass first reach --focus and --diagonal, its final attention measures
    and free-running MCD. A finished run of the same settings in OUT is reused, unless
    --overwrite."""
    base = {
        "recipe": recipe, "r": r, "steps": steps, "eval_every": eval_every,
        "embedding": embedding, "attention_rnn": attention_rnn, "decoder_rnn": decoder_rnn,
        "postnet_channels": postnet_channels, "batch_size": batch_size, "lr": lr,
        "subset": subset, "eval_frames": eval_frames, "device": device, "seed": seed,
    }  # fmt: skip
    markdown = reproduce_distillation(
        out, base, teacher_units=teacher_units, student_units=student_units,
        teacher_steps=teacher_steps, teacher_guided_weight=teacher_guided_weight,
        distill_weight=distill_weight, soft_target_weight=soft_target_weight,
        guided_weight=guided_weight, focus=focus, diagonal=diagonal, overwrite=overwrite,
        on_run=lambda name: console.print(f"trained the {name}", markup=False),
    )  # fmt: skip
    console.print(markdown, markup=False)

"""``reparam repro draw``: Gregor et al. (2015)'s Table 2 — DRAW without and with attention on
binarized MNIST, their test NLL bounds beside the paper's."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from reparam.cli.app import console
from reparam.cli.options import DataDir, Device, Overwrite, Resume, Seed
from reparam.cli.repro import repro_app
from reparam.experiments.draw_table import VARIANTS, Row, reproduce_draw


def report(row: Row) -> None:
    console.print(
        f"{row.variant}: -ELBO {row.nll_elbo:.2f}, -L_{row.k} {row.nll_iwae:.2f} (paper "
        f"{row.paper:.2f}), {row.steps} steps in {row.seconds:.0f} s",
        markup=False,
    )


@repro_app.command(
    "draw", short_help="Gregor et al. 2015, Table 2: DRAW without and with attention, MNIST"
)
def repro_draw(
    variants: Annotated[
        str, typer.Option(help="comma-separated: no-attention, attention")
    ] = ",".join(VARIANTS),
    epochs: Annotated[int, typer.Option(help="passes over the training data, each variant")] = 20,
    subset: Annotated[
        int | None,
        typer.Option(
            help="train and validate on random subsets of this many rows", show_default="all"
        ),
    ] = None,
    glimpses: Annotated[int, typer.Option(help="T (the paper: 64)")] = 64,
    hidden: Annotated[int, typer.Option(help="LSTM units (the paper: 256)")] = 256,
    latent: Annotated[int, typer.Option(help="dimensions of z_t (the paper: 100)")] = 100,
    read_size: Annotated[int, typer.Option(help="N of the read with attention (the paper: 2)")] = 2,
    write_size: Annotated[
        int, typer.Option(help="N of the write with attention (the paper: 5)")
    ] = 5,
    batch_size: Annotated[int, typer.Option(help="examples per step")] = 100,
    lr: Annotated[float, typer.Option(help="Adam's learning rate")] = 1e-3,
    clip_norm: Annotated[float, typer.Option(help="clip the gradient's norm to this")] = 10.0,
    kl_warmup: Annotated[
        int, typer.Option(help="steps of linear KL warm-up, beta 0 -> 1 (0: the paper's ELBO)")
    ] = 0,
    eval_k: Annotated[int, typer.Option(help="paths a test digit of the bound -L_k")] = 100,
    eval_subset: Annotated[
        int | None, typer.Option(help="test on a random subset", show_default="all")
    ] = None,
    dataset: Annotated[str, typer.Option(help="the paper used binarized-mnist")] = (
        "binarized-mnist"
    ),
    data_dir: DataDir = None,
    device: Device = "auto",
    seed: Seed = 0,
    out: Annotated[
        Path, typer.Option(help="folder: OUT/VARIANT (the runs), OUT/TABLE.md, OUT/TABLE.json")
    ] = Path("runs/repro-draw"),
    resume: Resume = False,
    overwrite: Overwrite = False,
) -> None:
    """Gregor et al. (2015), Table 2: DRAW without attention (paper: NLL <= 87.40) and with
    attention (<= 80.97) on binarized MNIST, each trained for --epochs with Adam, its best
    validation ELBO evaluated on test: -ELBO (the paper's bound) and -L_k (k = --eval-k,
    tighter). Writes OUT/TABLE.md and OUT/TABLE.json, and each run's canvas.png and
    canvas.gif (the canvas over the steps, the write attention boxed)."""
    base = {
        "dataset": dataset,
        "data_dir": data_dir,
        "subset": subset,
        "glimpses": glimpses,
        "hidden": hidden,
        "latent": latent,
        "read_size": read_size,
        "write_size": write_size,
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": lr,
        "clip_norm": clip_norm,
        "kl_warmup": kl_warmup,
        "device": device,
        "seed": seed,
    }
    markdown = reproduce_draw(
        out,
        variants=[v.strip() for v in variants.split(",") if v.strip()],
        base=base,
        eval_k=eval_k,
        eval_subset=eval_subset,
        resume=resume,
        overwrite=overwrite,
        on_row=report,
    )
    console.print(markdown, markup=False)

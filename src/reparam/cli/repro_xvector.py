"""``reparam repro xvector``: seed 001's Table 2 — the baseline and the Bayesian x-vector
extractor, cosine and PLDA scoring and their fusion, on the synthesized speakers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from reparam.cli.app import console
from reparam.cli.options import Device, Overwrite
from reparam.cli.repro import repro_app
from reparam.experiments.xvector_table import reproduce_xvector


@repro_app.command(
    "xvector", short_help="seed 001, Table 2: Bayesian vs baseline x-vectors, cosine and PLDA"
)
def repro_xvector(
    seeds: Annotated[str, typer.Option(help="comma-separated seeds, a pair of runs each")] = (
        "0,1,2"
    ),
    recipe: Annotated[str, typer.Option(help="the speech corpus's recipe")] = "speakers",
    bayesian_layers: Annotated[
        int, typer.Option(help="frame layers of the Bayesian extractor that are Bayesian")
    ] = 5,
    kl_weight: Annotated[float, typer.Option(help="weight of the KL term per frame")] = 1.0,
    steps: Annotated[int, typer.Option(help="Adam steps of each run")] = 2000,
    eval_every: Annotated[int, typer.Option(help="steps between validations")] = 250,
    channels: Annotated[int, typer.Option(help="units of the TDNN frame layers")] = 256,
    pooled: Annotated[int, typer.Option(help="units of the last frame layer")] = 768,
    embedding: Annotated[int, typer.Option(help="x-vector size")] = 256,
    segment: Annotated[int, typer.Option(help="frames of each training crop")] = 200,
    batch_size: Annotated[int, typer.Option(help="utterances per step")] = 64,
    lr: Annotated[float, typer.Option(help="Adam's peak learning rate")] = 1e-3,
    lda_dim: Annotated[int, typer.Option(help="LDA dimensions before PLDA")] = 128,
    p_target: Annotated[float, typer.Option(help="the DCF's target prior")] = 0.01,
    device: Device = "auto",
    out: Annotated[
        Path, typer.Option(help="folder: OUT/SYSTEM-seedS (the runs), OUT/TABLE.md, TABLE.json")
    ] = Path("runs/repro-xvector"),
    overwrite: Overwrite = False,
) -> None:
    """Seed 001, Table 2: for each seed, a baseline x-vector extractor and a Bayesian one
    (Bayes by Backprop in its first --bayesian-layers TDNN layers) trained alike; each
    scored by cosine and by LDA + PLDA on the held-out speakers, clean and degraded, and the
    two fused by logistic regression fitted on the validation speakers. Writes OUT/TABLE.md
    (mean ± sd over the seeds, beside the paper's VoxCeleb1 rows) and OUT/TABLE.json. A
    finished run of the same settings in OUT is reused, unless --overwrite."""
    try:
        chosen = [int(s) for s in seeds.split(",") if s.strip()]
    except ValueError as error:
        raise typer.BadParameter(
            f"--seeds must be comma-separated integers; got {seeds!r}"
        ) from error
    base = {
        "recipe": recipe, "kl_weight": kl_weight, "steps": steps, "eval_every": eval_every,
        "channels": channels, "pooled": pooled, "embedding": embedding, "segment": segment,
        "batch_size": batch_size, "lr": lr, "lda_dim": lda_dim, "p_target": p_target,
        "device": device,
    }  # fmt: skip
    markdown = reproduce_xvector(
        out, base, seeds=chosen, bayesian_layers=bayesian_layers, overwrite=overwrite,
        on_run=lambda name: console.print(f"trained {name}", markup=False),
    )  # fmt: skip
    console.print(markdown, markup=False)

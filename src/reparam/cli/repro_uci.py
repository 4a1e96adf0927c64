"""``reparam repro uci``: the UCI table (Hernández-Lobato & Adams 2015): ``train bnn`` on each
UCI set, one run folder a set, then the table beside the published VI, PBP and Dropout columns.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from reparam.cli.app import console
from reparam.cli.options import DataDir, Device, Overwrite, Resume, Seed
from reparam.cli.repro import repro_app
from reparam.data.uci import UCI_FOLDERS, resolve
from reparam.experiments.uci import UCIConfig, run_uci
from reparam.experiments.uci_table import uci_table

LABEL = "BayesLinear, local reparameterization, N(0, s²) prior"


@repro_app.command("uci")
def repro_uci(
    datasets: Annotated[
        str, typer.Option(help="comma-separated short names (e.g. boston,yacht)")
    ] = ",".join(UCI_FOLDERS),
    splits: Annotated[
        int | None, typer.Option(help="the first N standard splits", show_default="all")
    ] = None,
    epochs: Annotated[
        int | None,
        typer.Option(help="passes of each phase", show_default="about 12 000 steps, per data set"),
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option(help="examples per step", show_default="32, or 128 above 5000 rows"),
    ] = None,
    samples: Annotated[int, typer.Option(help="posterior draws of the test figures")] = 100,
    seed: Seed = 0,
    device: Device = "auto",
    data_dir: DataDir = None,
    out: Annotated[Path, typer.Option(help="folder: OUT/NAME per set, OUT/uci.md")] = Path(
        "runs/repro-uci"
    ),
    resume: Resume = False,
    overwrite: Overwrite = False,
) -> None:
    """The UCI table: `train bnn --dataset uci:NAME` (local reparameterization; prior scale and
    epoch chosen on validation) on each set, in OUT/NAME, then OUT/uci.md beside the published
    columns. --resume continues the sets' runs (finished ones are read back, those not begun
    start)."""
    names = [resolve(name.strip()) for name in datasets.split(",") if name.strip()]
    if not names:
        raise ValueError("--datasets names no UCI set")
    results = []
    for name in names:
        config = UCIConfig(
            f"uci:{name}",
            epochs=epochs,
            batch_size=batch_size,
            samples=samples,
            splits=splits,
            seed=seed,
            device=device,
            data_dir=data_dir,
        )
        started = (out / name / "checkpoint.pt").exists()
        result = run_uci(config, out / name, resume=resume and started, overwrite=overwrite)
        console.print(result.summary(), markup=False)
        results.append(result)
    markdown = uci_table(results, LABEL)
    (out / "uci.md").write_text(markdown + "\n")
    console.print(markdown, markup=False)

"""``reparam sample`` and ``reparam export``: a trained run put to use."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from reparam.cli.app import app, console
from reparam.cli.options import Device

RunArgument = Annotated[Path, typer.Argument(help="a run folder written by `reparam train`")]
Weights = Annotated[str, typer.Option(help="best (best validation row) or last")]


@app.command()
def sample(
    run: RunArgument,
    n: Annotated[int, typer.Option(min=1, max=10_000, help="samples to draw")] = 64,
    out: Annotated[
        Path, typer.Option(help="picture to write (.png), or sentences (.txt) for a text run")
    ] = Path("samples.png"),
    weights: Weights = "best",
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    device: Device = "cpu",
) -> None:
    """Draw N samples from a trained generative run into a picture (VAE family, WGAN, DRAW: a
    grid for images, a scatter plot for 2-D points) or, for a sentence VAE, a text file of
    one sentence a line."""
    import torch

    from reparam.plots.samples import draw_samples
    from reparam.runs import load_run

    suffix = out.suffix.lower()
    if suffix not in (".png", ".txt"):
        raise ValueError(f"--out must name a .png or a .txt file; got {out}")
    loaded = load_run(run, weights=weights, device=device)
    as_text = getattr(loaded.trainer_class(), "sample_text", None)
    if (as_text is None) != (suffix == ".png"):
        kind = "sentences: use --out FILE.txt" if as_text else "pictures: use --out FILE.png"
        raise ValueError(f"the samples of {run} ({loaded.trainer}) are {kind}")
    torch.manual_seed(seed)
    samples = loaded.sample(n).cpu()
    out.parent.mkdir(parents=True, exist_ok=True)
    if as_text is not None:
        out.write_text("\n".join(as_text(run, samples)) + "\n")
    else:
        draw_samples(samples, f"{loaded.trainer}: {n} samples ({loaded.weights} weights)", out)
    console.print(f"wrote {n} samples of {run} to {out}")


@app.command()
def export(
    run: RunArgument,
    out: Annotated[Path | None, typer.Option(help="file to write (default RUN/model.pt2)")] = None,
    weights: Weights = "best",
) -> None:
    """Write the run's generative or predictive network with torch.export: a .pt2 file that
    `torch.export.load(path).module()` runs without reparam installed."""
    import torch

    from reparam.runs import load_run

    loaded = load_run(run, weights=weights, device="cpu")
    network, example = loaded.trainer_class().exportable(loaded.model, loaded.config)
    target = out or run / "model.pt2"
    if target.suffix != ".pt2":
        raise ValueError(f"--out must name a .pt2 file; got {target}")
    batch = tuple({0: torch.export.Dim.AUTO} for _ in example)  # any batch size
    program = torch.export.export(network.eval(), example, dynamic_shapes=batch)
    target.parent.mkdir(parents=True, exist_ok=True)
    torch.export.save(program, target)
    shapes = ", ".join(str(tuple(x.shape)) for x in example)
    console.print(f"wrote {target}: {type(network).__name__} taking {shapes}")

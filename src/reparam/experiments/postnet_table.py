r"""``reparam repro postnet``: the GAN-postnet table — no postnet, L1, L1 + GAN and
L1 + WGAN-GP, on the same inputs.

The three postnets are trained with the same settings (source, steps, sizes, seed) by
:class:`~reparam.experiments.postnet.PostnetTrainer`, one run folder each (``OUT/l1``,
``OUT/gan``, ``OUT/wgan-gp``; a finished run of the same config is reused). The table gives,
on the test utterances, each one's :func:`~reparam.experiments.postnet.measures` — mel L1,
frame-to-frame MCD, the global-variance ratio, the spurious energy, the roughness ratio and
the detail error —
under the inputs' own ("no postnet"), with each run's training time. ``plate.png`` shows the
first test utterance through all three, between its input and its target, with the global
variance of each band.

Example:
    >>> markdown = reproduce_postnet("runs/repro-postnet", {"recipe": "tts-small", "steps": 20,
    ...                              "eval_every": 10, "channels": 8, "depth": 3, "crop": 32,
    ...                              "device": "cpu"})  # doctest: +SKIP
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from reparam.data.speech import corpus as speech_corpus
from reparam.experiments.gumbel_table1_table import machine
from reparam.experiments.postnet import (
    LABELS,
    PostnetTrainer,
    input_name,
    paired_data,
    postnet_outputs,
    table_rows,
)
from reparam.experiments.postnet_config import LOSSES, PostnetConfig
from reparam.train import RunOptions, run
from reparam.train.run_folder import read_metrics

NO_POSTNET = "no postnet"


def finished(config: PostnetConfig, folder: Path) -> bool:
    """Whether ``folder`` holds a finished run (evaluated) of ``config``."""
    done, saved = folder / "evaluation.json", folder / "config.json"
    if not (done.exists() and saved.exists()):
        return False
    recorded = {k: v for k, v in json.loads(saved.read_text()).items() if k != "trainer"}
    return recorded == config.to_dict()


def train_system(config: PostnetConfig, folder: Path, overwrite: bool) -> dict[str, Any]:
    """The evaluation of ``config``'s run in ``folder``: trained there, or read when a
    finished run of the same config is already there (``overwrite`` trains it again)."""
    done = folder / "evaluation.json"
    if not overwrite and finished(config, folder):
        return json.loads(done.read_text())
    run(PostnetTrainer, config, RunOptions(folder, overwrite=True, progress=False,
                                           tensorboard=False))  # fmt: skip
    return json.loads(done.read_text())


def reproduce_postnet(
    out: str | Path,
    base: dict[str, Any],
    *,
    overwrite: bool = False,
    on_run: Callable[[str], None] = lambda name: None,
) -> str:
    """Train the three postnets with ``base``'s settings
    (:class:`~reparam.experiments.postnet_config.PostnetConfig`'s, less ``loss``) and write
    ``OUT/TABLE.md``, ``OUT/TABLE.json`` and ``OUT/plate.png``; returns the Markdown.
    ``on_run`` is told of each run, trained or reused, as it is done."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    base = {k: v for k, v in base.items() if k != "loss"}
    configs = {loss: PostnetConfig.from_dict({**base, "loss": loss}) for loss in LOSSES}
    evaluations, seconds, best = {}, {}, {}
    for loss, config in configs.items():
        reused = not overwrite and finished(config, out / loss)
        evaluations[loss] = train_system(config, out / loss, overwrite)
        history = read_metrics(out / loss / "metrics.csv")
        seconds[loss] = sum(float(row["seconds"]) for row in history)
        best[loss] = int(max(history, key=lambda row: row["valid_neg_l1"])["step"])
        on_run(f"{'reused' if reused else 'trained'} {LABELS[loss]} ({out / loss})")
    inputs = {loss: evaluation["input"] for loss, evaluation in evaluations.items()}
    if any(values != inputs["l1"] for values in inputs.values()):
        raise ValueError(f"the runs in {out} were evaluated on different inputs")
    rows = {NO_POSTNET: inputs["l1"]} | {
        LABELS[loss]: evaluation["output"] for loss, evaluation in evaluations.items()
    }
    settings = {**configs["wgan-gp"].to_dict(), "machine": machine()}
    for name in ("loss", "device"):
        settings.pop(name, None)
    markdown = render(settings, rows, seconds, best, evaluations["l1"]["utterances"])
    (out / "TABLE.md").write_text(markdown)
    payload = {"settings": settings, "results": rows,
               "train_seconds": {LABELS[k]: v for k, v in seconds.items()},
               "best_step": {LABELS[k]: v for k, v in best.items()}}  # fmt: skip
    (out / "TABLE.json").write_text(json.dumps(payload, indent=1) + "\n")
    draw_plate(configs, out)
    return markdown


def render(
    settings: dict[str, Any],
    rows: dict[str, dict[str, float]],
    seconds: dict[str, float],
    best: dict[str, int],
    utterances: int,
) -> str:
    """The table, its definitions, the runs' training time and best step, and the settings."""
    lines = [
        "# GAN postnet: no postnet, L1, L1 + GAN, L1 + WGAN-GP",
        "",
        table_rows(rows).rstrip("\n"),
        "",
        f"Test utterances: {utterances}, against their targets, in natural-log mel; inputs: "
        f"{settings['source']}. Training time (s): "
        + ", ".join(f"{LABELS[k]} {v:.0f}" for k, v in seconds.items())
        + "; best.pt (the lowest validation L1) at step "
        + ", ".join(f"{v} ({LABELS[k]})" for k, v in best.items())
        + ". Columns: mel L1 over every bin; MCD frame to frame (no DTW); GV ratio, the "
        "geometric mean over bands and utterances of the band's variance over frames over the "
        "target's (below 1: over-smoothed); its mean |log|; spurious energy, the mean excess "
        "max(0, output − target) over the bins at or below the target utterance's 20th "
        "percentile (silences, empty bands); roughness ratio, the mean |five-point Laplacian| "
        "over the target's (above 1: more texture than the target); detail error, the mean "
        "|Laplacian| of output − target over the target's (1: no fine detail; above 1: the "
        "detail added is in the wrong places, spurious texture). Settings: "
        + ", ".join(f"{k}={v}" for k, v in settings.items()),
    ]
    return "\n".join(lines) + "\n"


def draw_plate(configs: dict[str, PostnetConfig], out: Path) -> None:
    """``OUT/plate.png``: the first test utterance's input, the three outputs, the target."""
    from reparam.plots.postnet import plot_plate
    from reparam.runs import load_run

    config = configs["l1"]
    corpus = speech_corpus.load(config.recipe)
    inputs, targets = paired_data(corpus, config, torch.device("cpu"))
    x, y = inputs["test"][0], targets["test"][0]
    panels = {input_name(config): x}
    for loss in configs:
        model = load_run(out / loss).model
        panels[LABELS[loss]] = postnet_outputs(model, [x], torch.device("cpu"))[0]
    panels["target"] = y
    test = corpus.split("test")
    plot_plate(panels, test.transcripts[test.select(speech_corpus.CLEAN)[0]], out / "plate.png")

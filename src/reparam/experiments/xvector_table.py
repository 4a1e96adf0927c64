r"""``reparam repro xvector``: seed 001's Table 2 on the synthesized speakers — the baseline
and the Bayesian x-vector extractor, each scored by cosine and by PLDA, and their fusion.

For each seed, a baseline and a Bayesian extractor (``bayesian_layers`` of its frame layers)
are trained with the same settings (:class:`~reparam.experiments.xvector.XVectorTrainer`);
the fusion of the two, per back-end and condition, is a linear logistic regression
(:func:`reparam.speech.fuse`) fitted on the validation speakers' trials and applied to the
test speakers'. The table gives each system's test EER and minDCF, clean and degraded (the
mismatched condition), as the mean and standard deviation over the seeds, beside the paper's
VoxCeleb1 rows (its minDCF at p_target = 0.01).
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from reparam.experiments.gumbel_table1_table import machine
from reparam.experiments.xvector import CONDITIONS, XVectorTrainer
from reparam.experiments.xvector_config import XVectorConfig
from reparam.experiments.xvector_evaluation import BACKENDS, error_rates
from reparam.speech import fuse
from reparam.train import RunOptions, run

SYSTEMS = ("baseline", "bayesian", "fusion")
PAPER = {  # seed 001, Table 2, VoxCeleb1: (EER %, minDCF)
    ("cosine", "baseline"): (9.58, 0.6899),
    ("cosine", "bayesian"): (9.30, 0.6508),
    ("cosine", "fusion"): (8.64, 0.6423),
    ("plda", "baseline"): (6.68, 0.6023),
    ("plda", "bayesian"): (6.52, 0.5423),
    ("plda", "fusion"): (6.35, 0.5487),
}


def train_system(config: XVectorConfig, folder: Path, overwrite: bool) -> dict[str, Any]:
    """The scores of ``config``'s run in ``folder``: trained there, or read when a finished
    run of the same config is already there (``overwrite`` trains it again)."""
    done = folder / "scores.pt"
    saved = folder / "config.json"
    if done.exists() and saved.exists() and not overwrite:
        recorded = {k: v for k, v in json.loads(saved.read_text()).items() if k != "trainer"}
        if recorded == config.to_dict():
            return torch.load(done, weights_only=True)
    run(XVectorTrainer, config, RunOptions(folder, overwrite=True, progress=False))
    return torch.load(done, weights_only=True)


def fused(baseline: dict, bayesian: dict, key: str) -> dict[str, Any]:
    """The test scores of ``key`` (``condition/backend``) fused by the logistic regression
    fitted on the validation trials of the same condition and back-end."""
    valid, test = f"valid/{key}", f"test/{key}"
    fusion = fuse(
        [baseline[valid]["scores"], bayesian[valid]["scores"]], baseline[valid]["is_target"]
    )
    scores = fusion([baseline[test]["scores"], bayesian[test]["scores"]])
    return {"scores": scores, "is_target": baseline[test]["is_target"]}


def reproduce_xvector(
    out: str | Path,
    base: dict[str, Any],
    *,
    seeds: Sequence[int] = (0, 1, 2),
    bayesian_layers: int = 5,
    overwrite: bool = False,
    on_run: Callable[[str], None] = lambda name: None,
) -> str:
    """Train the baseline and Bayesian extractors for every seed with ``base``'s settings
    (:class:`~reparam.experiments.xvector_config.XVectorConfig`'s, less ``seed`` and
    ``bayesian_layers``), fuse them, and write ``OUT/TABLE.md`` and ``OUT/TABLE.json``."""
    if not seeds:
        raise ValueError("--seeds must name at least one seed")
    if not 1 <= bayesian_layers <= 5:
        raise ValueError(f"--bayesian-layers must lie in [1, 5]; got {bayesian_layers}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    base = {k: v for k, v in base.items() if k not in ("seed", "bayesian_layers")}
    bayesian = XVectorConfig.from_dict({**base, "bayesian_layers": bayesian_layers})
    p_target = bayesian.p_target
    results: dict[tuple[str, str, str], list[dict[str, float | int]]] = {}
    for seed in seeds:
        scores = {}
        for system, layers in (("baseline", 0), ("bayesian", bayesian_layers)):
            values = {**base, "seed": seed, "bayesian_layers": layers}
            if not layers:
                values.pop("kl_weight", None)
            config = XVectorConfig.from_dict(values)
            scores[system] = train_system(config, out / f"{system}-seed{seed}", overwrite)
            on_run(f"{system}, seed {seed}")
        for condition in CONDITIONS:
            for backend in BACKENDS:
                key = f"{condition}/{backend}"
                if f"test/{key}" not in scores["baseline"]:
                    continue
                entries = {
                    "baseline": scores["baseline"][f"test/{key}"],
                    "bayesian": scores["bayesian"][f"test/{key}"],
                    "fusion": fused(scores["baseline"], scores["bayesian"], key),
                }
                for system, entry in entries.items():
                    results.setdefault((condition, backend, system), []).append(
                        error_rates(entry["scores"], entry["is_target"], p_target)
                    )
    settings = {**bayesian.to_dict(), "seeds": list(seeds), "machine": machine()}
    for name in ("seed", "device", "compile"):
        settings.pop(name, None)
    markdown = render(settings, results)
    (out / "TABLE.md").write_text(markdown)
    payload = {"settings": settings,
               "results": {"/".join(key): value for key, value in results.items()}}  # fmt: skip
    (out / "TABLE.json").write_text(json.dumps(payload, indent=1))
    return markdown


def spread(values: list[float], scale: float = 1.0) -> str:
    """``mean ± sd`` (the sample standard deviation; the mean alone for one value)."""
    mean = statistics.fmean(values) * scale
    if len(values) < 2:
        return f"{mean:.2f}"
    return f"{mean:.2f} ± {statistics.stdev(values) * scale:.2f}"


def render(settings: dict[str, Any], results: dict) -> str:
    """The table in the layout of seed 001's Table 2, with the degraded condition beside."""
    lines = [
        "# Bayesian x-vector (seed 001, Table 2) on synthesized speakers",
        "",
        "| back-end | extractor | EER % clean | minDCF clean | EER % degraded | "
        "minDCF degraded | paper EER % | paper minDCF |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for backend in BACKENDS:
        for system in SYSTEMS:
            cells = []
            for condition in CONDITIONS:
                runs = results.get((condition, backend, system), [])
                cells += [
                    spread([r["eer"] for r in runs], 100),
                    spread([r["min_dcf"] for r in runs]),
                ]
            paper = PAPER[(backend, system)]
            lines.append(f"| {backend} | {system} | {' | '.join(cells)} | {paper[0]:.2f} | "
                         f"{paper[1]:.4f} |")  # fmt: skip
    trials = results.get(("clean", "cosine", "baseline"), [{}])[0]
    lines += [
        "",
        f"Mean ± standard deviation over seeds {settings['seeds']}; "
        f"{trials.get('targets', 0)} target and {trials.get('nontargets', 0)} non-target test "
        f"trials a condition; minDCF at p_target = {settings['p_target']}. The paper's rows "
        "are VoxCeleb1 (real speech), not comparable in level: compare the order of the "
        "rows. Settings: "
        + ", ".join(f"{k}={v}" for k, v in settings.items() if k not in ("seeds",)),
    ]
    return "\n".join(lines) + "\n"

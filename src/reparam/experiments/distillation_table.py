r"""``reparam repro distillation``: seed 000's attention-distillation experiment on the
synthesized voice.

A teacher synthesizer with a large encoder (``teacher_units``, 600 in the post) is trained
first; then students with a small one (``student_units``, 300) are trained on the same data,
for the same steps, from the same seed, in four ways:

- **alone**: the reconstruction loss only;
- **distilled**: plus ``distill_weight`` times the KL from the teacher's attention to the
  student's (:func:`reparam.speech.distillation.attention_distillation`), the post's loss;
- **soft targets**: plus ``soft_target_weight`` times the L1 to the teacher's frames as well
  (Hinton et al. 2015; left out when the weight is 0);
- **guided**: the reconstruction loss plus ``guided_weight`` times Tachibana et al.'s
  guided-attention penalty instead of a teacher, the alternative the post mentions.

Each run is validated every ``eval_every`` steps. A student *aligns* at the first validation
where the focus rate (the mean largest attention weight) reaches ``focus`` and the diagonal
mass (the weight within 10 % of the text of the diagonal) reaches ``diagonal``; the table
gives that step and the epochs it took (steps × batch size / training sentences: "the end of
epoch 0" is 1.0), the last validation's measures and word agreement with eSpeak's word times,
and the test set's free-running MCD. The teacher itself is trained with the guided penalty
``teacher_guided_weight`` (0 to train it unaided), so that its attention is worth copying
within the budget; the table says which.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from reparam.data.speech import corpus as speech_corpus
from reparam.experiments.gumbel_table1_table import machine
from reparam.experiments.tts import TTSTrainer
from reparam.experiments.tts_config import TTSConfig
from reparam.train import RunOptions, run
from reparam.train.run_folder import read_metrics

STUDENTS = ("alone", "distilled", "soft targets", "guided")
LABELS = {
    "teacher": "teacher",
    "alone": "student alone",
    "distilled": "student + attention KL",
    "soft targets": "student + attention KL + soft targets",
    "guided": "student + guided attention",
}


def train_run(config: TTSConfig, folder: Path, overwrite: bool) -> dict[str, Any]:
    """``config``'s run in ``folder`` (trained there, or reused when a finished run of the
    same config is there and not ``overwrite``): its metrics rows and test evaluation."""
    saved, done = folder / "config.json", folder / "evaluation.json"
    reuse = saved.exists() and done.exists() and not overwrite
    if reuse:
        recorded = {k: v for k, v in json.loads(saved.read_text()).items() if k != "trainer"}
        reuse = recorded == config.to_dict()
    if not reuse:
        run(TTSTrainer, config, RunOptions(folder, overwrite=True, progress=False))
    return {
        "metrics": read_metrics(folder / "metrics.csv"),
        "evaluation": json.loads(done.read_text()),
    }


def aligned_at(rows: list[dict[str, Any]], focus: float, diagonal: float) -> int | None:
    """The step of the first validation row whose focus rate and diagonal mass reach
    ``focus`` and ``diagonal`` (``None`` if none does)."""
    for row in rows:
        if row["valid_focus"] >= focus and row["valid_diagonal"] >= diagonal:
            return int(row["step"])
    return None


def reproduce_distillation(
    out: str | Path,
    base: dict[str, Any],
    *,
    teacher_units: int = 600,
    student_units: int = 300,
    teacher_steps: int = 1000,
    teacher_guided_weight: float = 10.0,
    distill_weight: float = 1.0,
    soft_target_weight: float = 1.0,
    guided_weight: float = 10.0,
    focus: float = 0.3,
    diagonal: float = 0.8,
    overwrite: bool = False,
    on_run: Callable[[str], None] = lambda name: None,
) -> str:
    """Train the teacher and the students (``base``: :class:`TTSConfig`'s other settings, the
    students' ``steps`` among them) in ``OUT/teacher`` and ``OUT/student-NAME``; write
    ``OUT/TABLE.md`` and ``OUT/TABLE.json``; return the Markdown."""
    if not (0 < focus <= 1 and 0 < diagonal <= 1):
        raise ValueError(f"--focus and --diagonal must lie in (0, 1]; got {focus}, {diagonal}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    base = {k: v for k, v in base.items() if k not in ("encoder_units", "teacher")}
    teacher_values = {**base, "encoder_units": teacher_units, "steps": teacher_steps,
                      "guided_weight": teacher_guided_weight}  # fmt: skip
    teacher = TTSConfig.from_dict(teacher_values)
    results = {"teacher": train_run(teacher, out / "teacher", overwrite)}
    on_run("teacher")
    student = {**base, "encoder_units": student_units, "guided_weight": 0.0}
    teaching = {"teacher": str((out / "teacher").resolve()), "distill_weight": distill_weight}
    settings = {
        "alone": {},
        "distilled": teaching,
        "soft targets": {**teaching, "soft_target_weight": soft_target_weight},
        "guided": {"guided_weight": guided_weight},
    }
    for name in STUDENTS:
        if name == "soft targets" and soft_target_weight == 0:
            continue
        config = TTSConfig.from_dict({**student, **settings[name]})
        results[name] = train_run(config, out / f"student-{name.replace(' ', '-')}", overwrite)
        on_run(f"student {name}")
    clean = speech_corpus.load(teacher.recipe).split("train").select(speech_corpus.CLEAN)
    sentences = min(len(clean), teacher.subset or len(clean))
    rows = {
        name: summary(result, focus, diagonal, base.get("batch_size", 16), sentences)
        for name, result in results.items()
    }
    table_settings = {
        **{k: v for k, v in TTSConfig.from_dict(student).to_dict().items()
           if k not in ("seed", "device", "compile", "encoder_units", "guided_weight",
                        "teacher", "distill_weight", "soft_target_weight")},
        "teacher_units": teacher_units, "student_units": student_units,
        "teacher_steps": teacher_steps, "teacher_guided_weight": teacher_guided_weight,
        "distill_weight": distill_weight, "soft_target_weight": soft_target_weight,
        "guided_weight": guided_weight, "focus": focus, "diagonal": diagonal,
        "training_sentences": sentences, "machine": machine(),
    }  # fmt: skip
    markdown = render(table_settings, rows)
    (out / "TABLE.md").write_text(markdown)
    (out / "TABLE.json").write_text(
        json.dumps({"settings": table_settings, "rows": rows}, indent=1) + "\n"
    )
    return markdown


def summary(
    result: dict[str, Any], focus: float, diagonal: float, batch_size: int, sentences: int
) -> dict[str, Any]:
    """One row of the table from a run's metrics and evaluation."""
    rows = result["metrics"]
    step = aligned_at(rows, focus, diagonal)
    last = rows[-1]
    forced, free = result["evaluation"]["teacher_forced"], result["evaluation"]["free_running"]
    return {
        "aligned_step": step,
        "aligned_epochs": None if step is None else step * batch_size / sentences,
        "first_validation": int(rows[0]["step"]),
        "steps": int(last["step"]),
        "seconds_per_step": sum(float(r["seconds"]) for r in rows) / int(last["step"]),
        "valid_focus": float(last["valid_focus"]),
        "valid_diagonal": float(last["valid_diagonal"]),
        "valid_words": float(last["valid_words"]),
        "test_focus": forced["focus_rate"],
        "test_diagonal": forced["diagonal_mass"],
        "test_words": forced["word_agreement"],
        "test_l1": forced["l1"],
        "mcd_db": free["mcd_db"],
        "length_error_frames": free["length_error_frames"],
        "unstopped": free["unstopped"],
    }


def _cell(value: float | None, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.{digits}f}"


def render(settings: dict[str, Any], rows: dict[str, dict[str, Any]]) -> str:
    """The table: when each model aligned, its attention at the end, its test MCD."""
    lines = [
        "# Attention distillation (seed 000) on the synthesized voice",
        "",
        f"Aligned: the first validation (every {settings['eval_every']} steps) with focus rate "
        f"≥ {settings['focus']} and diagonal mass ≥ {settings['diagonal']}; an epoch is "
        f"{settings['training_sentences']} sentences.",
        "",
        "| model | aligned at step | epochs | focus | diagonal | word agreement | test L1 | "
        "free-running MCD dB | s / step |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, row in rows.items():
        step = row["aligned_step"] or f"not within {row['steps']}"
        lines.append(
            f"| {LABELS[name]} | {step} | {_cell(row['aligned_epochs'])} | "
            f"{_cell(row['test_focus'])} | {_cell(row['test_diagonal'])} | "
            f"{_cell(row['test_words'])} | {_cell(row['test_l1'], 3)} | {_cell(row['mcd_db'])} | "
            f"{_cell(row['seconds_per_step'])} |"
        )
    lines += [
        "",
        "Focus, diagonal mass, word agreement (the share of decoder steps whose most-attended "
        "character lies in the word eSpeak was saying) and L1 are the test sentences' "
        "teacher-forced values from each run's best weights; the MCD is free-running, after "
        f"DTW. The teacher had {settings['teacher_units']} encoder units, "
        f"{settings['teacher_steps']} steps and guided-attention weight "
        f"{settings['teacher_guided_weight']}; the students {settings['student_units']} units "
        f"and {settings['steps']} steps. Settings: "
        + ", ".join(f"{k}={v}" for k, v in settings.items()),
    ]
    return "\n".join(lines) + "\n"

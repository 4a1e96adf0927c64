"""The summary of a ``benchmarks/gpu.sh`` run: ``summary.md`` and ``steps.json`` in its folder.

It reads what the steps left there: ``logs/steps.tsv`` (each step's result and time),
``machine.json``, ``cuda-tests.xml`` (pytest's JUnit report), the IWAE run folder
(``metrics.csv``, ``eval-*.json``) and each benchmark's ``NAME.md``; a step that wrote
nothing is simply absent from the summary, its status says why::

    python benchmarks/gpu_summary.py DIR --run DIR/iwae-k50 --dataset binarized-mnist --epochs 3
"""

from __future__ import annotations

import argparse
import csv
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

BENCHMARKS = ("estimators", "iwae_step", "bnn_step", "latent", "sinkhorn")
BURDA_PASSES = 3280  # the IWAE paper's schedule: 3^i passes for i = 0..7


def read_json(path: Path) -> Any:
    """The JSON in ``path``, or None when a step left it missing, empty or cut short."""
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def read_steps(out: Path) -> list[dict[str, Any]]:
    keys = ("step", "result", "exit_status", "seconds", "timeout_s", "command")
    steps = []
    for line in (out / "logs" / "steps.tsv").read_text().splitlines():
        step: dict[str, Any] = dict(zip(keys, line.split("\t"), strict=True))
        for key in ("exit_status", "seconds", "timeout_s"):
            step[key] = int(step[key])
        steps.append(step)
    return steps


def machine_lines(machine: dict[str, Any]) -> list[str]:
    m = machine
    return [
        f"Machine: {m.get('device_name')} ({m.get('gpu_memory_gib')} GiB, compute capability "
        f"{m.get('compute_capability')}, {m.get('gpus')} GPU(s)), CUDA {m.get('cuda')}, cuDNN "
        f"{m.get('cudnn')}, torch {m.get('torch')}, Python {m.get('python')}; CPU "
        f"{m.get('cpu')}, {m.get('cores')} cores.",
        "",
    ]


def count_tests(report: Path) -> dict[str, Any]:
    root = ET.parse(report).getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    assert suite is not None, f"{report} holds no testsuite"
    counts: dict[str, Any] = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors")}
    counts["skipped"] = int(suite.get("skipped", 0))
    counts["passed"] = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
    counts["failed"] = [
        f"{case.get('classname')}.{case.get('name')}"
        for case in suite.iter("testcase")
        if case.find("failure") is not None or case.find("error") is not None
    ]
    return counts


def iwae_section(run: Path, dataset: str, epochs: int) -> tuple[dict[str, Any], list[str]]:
    with (run / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    seconds = [float(r["seconds"]) for r in rows]
    result: dict[str, Any] = {"dataset": dataset, "epochs_asked": epochs, "epochs_done": len(rows)}
    lines = [
        f"## IWAE, k = 50, batch 20, burda schedule: {len(rows)} of {epochs} epochs on {dataset}",
        "",
        "| epoch | train bound | validation bound | seconds |",
        "|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['epoch']} | {float(r['train_bound']):.3f} | {float(r['valid_bound']):.3f} "
        f"| {float(r['seconds']):.1f} |"
        for r in rows
    ]
    if seconds:
        per_epoch = sum(seconds) / len(seconds)
        hours = BURDA_PASSES * per_epoch / 3600
        result.update(seconds_per_epoch=round(per_epoch, 2), burda_schedule_hours=round(hours, 2))
        lines += [
            "",
            f"{per_epoch:.1f} s an epoch (training and validation): the whole burda schedule "
            f"({BURDA_PASSES} passes) would take about {hours:.1f} h at this speed.",
        ]
    for evaluation in sorted(run.glob("eval-*.json")):
        scores = read_json(evaluation)
        result[evaluation.stem] = scores
        lines += ["", f"`reparam eval` ({evaluation.name}): `{json.dumps(scores)}`"]
    return result, [*lines, ""]


def summarize(out: Path, run: Path, dataset: str, epochs: int) -> str:
    steps = read_steps(out)
    report: dict[str, Any] = {"steps": steps}
    lines = ["# GPU figures", ""]
    machine = read_json(out / "machine.json")
    if machine is not None:
        report["machine"] = machine
        lines += machine_lines(machine)
    lines += ["| step | result | seconds | timeout (s) |", "|---|---|---:|---:|"]
    lines += [f"| {s['step']} | {s['result']} | {s['seconds']} | {s['timeout_s']} |" for s in steps]
    lines.append("")
    if (out / "cuda-tests.xml").is_file():
        counts = report["cuda_tests"] = count_tests(out / "cuda-tests.xml")
        failed = f" Failed: {', '.join(counts['failed'])}." if counts["failed"] else ""
        lines += [
            "## CUDA tests (`pytest -m cuda tests/cuda`)",
            "",
            f"{counts['passed']} passed, {counts['failures'] + counts['errors']} failed, "
            f"{counts['skipped']} skipped.{failed}",
            "",
        ]
    if (run / "metrics.csv").is_file():
        report["iwae"], section = iwae_section(run, dataset, epochs)
        lines += section
    for name in BENCHMARKS:
        if (out / f"{name}.md").is_file():
            lines += [f"## `benchmarks/{name}.py`", "", (out / f"{name}.md").read_text().rstrip()]
            lines.append("")
    (out / "summary.md").write_text("\n".join(lines))
    (out / "steps.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    return f"wrote {out / 'summary.md'} and {out / 'steps.json'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="the folder benchmarks/gpu.sh wrote")
    parser.add_argument("--run", type=Path, required=True, help="the IWAE run folder")
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--epochs", type=int, required=True)
    args = parser.parse_args()
    print(summarize(args.out, args.run, args.dataset, args.epochs))


if __name__ == "__main__":
    main()

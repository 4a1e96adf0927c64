"""benchmarks/gpu.sh: its plan fits in 8 minutes, it stops at once without CUDA, and its
summary reads what the steps leave behind."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "gpu.sh"
sys.path.append(str(ROOT / "benchmarks"))

from gpu_summary import summarize  # noqa: E402


def gpu_sh(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(SCRIPT), *args], capture_output=True, text=True, cwd=ROOT, timeout=120
    )


def test_the_dry_run_runs_every_benchmark_within_eight_minutes(tmp_path) -> None:
    assert subprocess.run(["bash", "-n", str(SCRIPT)]).returncode == 0
    done = gpu_sh("--dry-run", "--out", str(tmp_path / "gpu"))
    assert done.returncode == 0, done.stderr
    commands = [line for line in done.stdout.splitlines() if line.startswith("timeout")]
    budgets = [int(re.match(r"timeout\s+(\d+)", line).group(1)) for line in commands]
    assert sum(budgets) <= 480
    text = "\n".join(commands)
    for benchmark in sorted(p.stem for p in (ROOT / "benchmarks").glob("*.py")):
        if benchmark not in ("machine_info", "gpu_summary", "timing"):  # helpers, not benchmarks
            line = next(c for c in commands if f"benchmarks/{benchmark}.py " in c)
            assert "--device cuda" in line, line
    assert "-m cuda tests/cuda" in text and "train iwae" in text and " eval " in text
    assert not (tmp_path / "gpu").exists()  # a dry run writes nothing


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_without_cuda_it_stops_with_one_error_line(tmp_path) -> None:
    done = gpu_sh("--out", str(tmp_path / "gpu"))
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: no CUDA device")
    assert not (tmp_path / "gpu").exists()


def test_bad_options_are_one_error_line() -> None:
    for args, fragment in [
        (("--epochs", "0"), "--epochs"),
        (("--budget", "-3"), "--budget"),
        (("--nope",), "unknown option"),
    ]:
        done = gpu_sh(*args)
        assert (
            done.returncode == 2 and done.stderr.startswith("error: ") and fragment in done.stderr
        )


def test_the_summary_reads_the_steps_the_tests_and_the_run(tmp_path) -> None:
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "steps.tsv").write_text(
        "tests\tok\t0\t30\t120\tpytest\niwae-train\ttimed out after 110 s\t124\t110\t110\tx\n"
    )
    (tmp_path / "machine.json").write_text("")  # the machine step died mid-write
    (tmp_path / "cuda-tests.xml").write_text(
        '<testsuites><testsuite tests="3" failures="1" errors="0" skipped="1">'
        '<testcase classname="a" name="b"><failure/></testcase></testsuite></testsuites>'
    )
    run = tmp_path / "iwae-k50"
    run.mkdir()
    (run / "metrics.csv").write_text(
        "epoch,step,lr,train_bound,valid_bound,seconds\n1,2500,0.001,-120.5,-110.25,20.0\n"
    )
    (run / "eval-test-k5000.json").write_text(json.dumps({"nll": 99.5}))
    (tmp_path / "sinkhorn.md").write_text("| n |\n|---|\n| 1000 |\n")
    summarize(tmp_path, run, "binarized-mnist", 3)
    text = (tmp_path / "summary.md").read_text()
    assert "| iwae-train | timed out after 110 s | 110 | 110 |" in text
    assert "1 passed, 1 failed, 1 skipped. Failed: a.b." in text
    assert "1 of 3 epochs on binarized-mnist" in text and "about 18.2 h" in text
    assert '"nll": 99.5' in text and "benchmarks/sinkhorn.py" in text
    report = json.loads((tmp_path / "steps.json").read_text())
    assert report["iwae"]["seconds_per_epoch"] == 20.0 and "machine" not in report

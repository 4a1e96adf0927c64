"""Running the real console script, as a user would (imported by the tests that need it)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class Outcome:
    status: int
    stdout: str
    stderr: str


def reparam(*args: str, cwd: str | None = None, timeout: float = 300) -> Outcome:
    """``reparam ARGS`` in a subprocess (the installed console script; else ``python -m``)."""
    script = shutil.which("reparam")
    command = [script] if script else [sys.executable, "-m", "reparam"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    env.pop("REPARAM_DEBUG", None)
    done = subprocess.run(
        [*command, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=timeout
    )
    return Outcome(done.returncode, done.stdout, done.stderr)


def assert_user_error(outcome: Outcome, *fragments: str) -> None:
    """Exit status 2, one line on stderr starting ``error:``, no traceback, naming
    ``fragments``."""
    lines = [line for line in outcome.stderr.splitlines() if line.strip()]
    assert outcome.status == 2, (outcome.status, outcome.stderr[-2000:])
    assert "Traceback" not in outcome.stderr, outcome.stderr[-2000:]
    assert len(lines) == 1 and lines[0].startswith("error: "), outcome.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])

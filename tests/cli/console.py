"""Running the real console script, as a user would (imported by the tests that need it).

``reparam(*args)`` starts the installed script in a subprocess. ``reparam_many(cases)`` runs a
whole table of commands through the script's entry point (``reparam.cli:main``, what the
script calls), each in its own process forked from one interpreter that has imported reparam
once: the same exit status, stdout and stderr as the script, without paying torch's import
(~3 s) per command.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Outcome:
    status: int
    stdout: str
    stderr: str


def environment() -> dict[str, str]:
    """One thread, a wide terminal, and tracebacks turned into ``error:`` lines."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    env.pop("REPARAM_DEBUG", None)
    return env


def reparam(*args: str, cwd: str | None = None, timeout: float = 300) -> Outcome:
    """``reparam ARGS`` in a subprocess (the installed console script; else ``python -m``)."""
    script = shutil.which("reparam")
    command = [script] if script else [sys.executable, "-m", "reparam"]
    done = subprocess.run(
        [*command, *args], capture_output=True, text=True, cwd=cwd, env=environment(),
        timeout=timeout,
    )  # fmt: skip
    return Outcome(done.returncode, done.stdout, done.stderr)


# Runs in the subprocess of `reparam_many`: reads [[args, cwd], …] on stdin and writes
# [[status, stdout, stderr], …] on stdout. Each child gets its own stdout and stderr files and
# ends as the interpreter would: SystemExit's code, or a traceback and status 1.
FORKING_DRIVER = r"""
import json, os, sys, tempfile, traceback
from reparam.cli import main

cases = json.load(sys.stdin)
reply = sys.stdout
results = []
for args, cwd in cases:
    out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
    reply.flush()
    pid = os.fork()
    if pid == 0:
        os.dup2(out.fileno(), 1)
        os.dup2(err.fileno(), 2)
        if cwd:
            os.chdir(cwd)
        sys.argv = ["reparam", *args]
        status = 0
        try:
            main(args)
        except SystemExit as stop:
            if isinstance(stop.code, int) or stop.code is None:
                status = stop.code or 0
            else:
                print(stop.code, file=sys.stderr)
                status = 1
        except BaseException:
            traceback.print_exc()
            status = 1
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    _, wait = os.waitpid(pid, 0)
    texts = []
    for stream in (out, err):
        stream.seek(0)
        texts.append(stream.read().decode(errors="replace"))
    results.append([os.waitstatus_to_exitcode(wait), *texts])
json.dump(results, reply)
"""


def reparam_many(
    cases: Sequence[Sequence[str]], cwd: str | None = None, timeout: float = 600
) -> list[Outcome]:
    """The outcome of ``reparam ARGS`` for each ``ARGS`` of ``cases``, in order (see the
    module's docstring)."""
    done = subprocess.run(
        [sys.executable, "-c", FORKING_DRIVER],
        input=json.dumps([[list(args), cwd] for args in cases]),
        capture_output=True, text=True, env=environment(), timeout=timeout,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"the forking driver failed:\n{done.stderr[-3000:]}")
    return [Outcome(*result) for result in json.loads(done.stdout)]


def assert_user_error(outcome: Outcome, *fragments: str) -> None:
    """Exit status 2, one line on stderr starting ``error:``, no traceback, naming
    ``fragments``."""
    lines = [line for line in outcome.stderr.splitlines() if line.strip()]
    assert outcome.status == 2, (outcome.status, outcome.stderr[-2000:])
    assert "Traceback" not in outcome.stderr, outcome.stderr[-2000:]
    assert len(lines) == 1 and lines[0].startswith("error: "), outcome.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])

"""The progress bar every trainer shows: ``epoch i/N``, the trainer's loss line, speed."""

from __future__ import annotations

import sys
import time
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn


class RunProgress:
    """A rich bar over a run's steps, shown when ``show`` (default: stdout is a terminal).

    The description reads ``NAME  epoch i/N``, the trailing text is the trainer's summary of
    its last row (the loss with the sign the final summary line uses) and the steps per second.
    """

    def __init__(
        self, name: str, unit: str, periods: int, total_steps: int, show: bool | None = None
    ) -> None:
        self.name, self.unit, self.periods, self.total = name, unit, periods, total_steps
        enabled = sys.stdout.isatty() if show is None else show
        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[info]}"),
            TimeRemainingColumn(),
            disable=not enabled,
            console=Console(force_terminal=enabled if show else None),
        )
        self.task = self.bar.add_task(self._where(0), total=total_steps, info="")
        self.info, self._marks = "", (time.perf_counter(), 0)

    def __enter__(self) -> RunProgress:
        self.bar.__enter__()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.bar.__exit__(kind, value, tb)

    def _where(self, period: int) -> str:
        if self.unit == "step":  # a run counted in steps shows them, not its periods
            done = int(self.bar.tasks[0].completed) if self.bar.tasks else 0
            return f"{self.name}  step {done}/{self.total}"
        return f"{self.name}  {self.unit} {min(period + 1, self.periods)}/{self.periods}"

    def start(self, period: int, done_steps: int) -> None:
        self.bar.update(self.task, completed=done_steps, description=self._where(period))
        self._marks = (time.perf_counter(), done_steps)

    def step(self, done_steps: int) -> None:
        started, first = self._marks
        elapsed = time.perf_counter() - started
        speed = f"{(done_steps - first) / elapsed:.1f} steps/s" if elapsed > 0 else ""
        self.bar.update(self.task, completed=done_steps, info=f"{self.info}  {speed}")
        if self.unit == "step":
            self.bar.update(self.task, description=self._where(0))

    def period_done(self, period: int, summary: str) -> None:
        self.info = summary
        self.bar.update(self.task, description=self._where(period + 1), info=summary)

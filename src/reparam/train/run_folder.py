"""The run folder: one folder a run, locked while it is written, never replaced unasked."""

from __future__ import annotations

import csv
import fcntl
import io
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO, Any

CONFIG, METRICS, CHECKPOINT, BEST, LOCK = (
    "config.json",
    "metrics.csv",
    "checkpoint.pt",
    "best.pt",
    ".lock",
)
ENGINE_FILES = (CONFIG, METRICS, CHECKPOINT, BEST)


class RunError(ValueError):
    """A run folder cannot be used as asked; the command line prints it as one line."""


class RunFolder:
    """``path`` as the home of one run.

    :meth:`acquire` creates the folder (or names why it cannot), takes an exclusive lock on
    ``path/.lock`` that a second writer cannot take (the message names the PID holding it; the
    kernel drops the lock when the holder dies, even by SIGKILL) and then checks the folder
    against what was asked: a fresh run refuses a folder that holds a run unless
    ``overwrite``, which deletes that run's files (only the files the engine and the trainer
    write); ``resume`` needs a checkpoint.

    Example:
        >>> import tempfile
        >>> folder = RunFolder(Path(tempfile.mkdtemp()) / "run")
        >>> folder.acquire(resume=False, overwrite=False)
        >>> folder.write_config({"trainer": "toy", "epochs": 3})
        >>> folder.release()
        >>> RunFolder(folder.path).acquire(resume=False, overwrite=False)
        Traceback (most recent call last):
            ...
        reparam.train.run_folder.RunError: ... already holds a run; pass --resume ...
    """

    def __init__(self, path: str | Path, outputs: Sequence[str] = ()) -> None:
        self.path = Path(path)
        self.outputs = tuple(outputs)
        self._lock: IO[str] | None = None
        self.created = False

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    @property
    def config_path(self) -> Path:
        return self.path / CONFIG

    @property
    def checkpoint_path(self) -> Path:
        return self.path / CHECKPOINT

    @property
    def best_path(self) -> Path:
        return self.path / BEST

    @property
    def metrics_path(self) -> Path:
        return self.path / METRICS

    def holds_run(self) -> bool:
        return any((self.path / name).exists() for name in ENGINE_FILES)

    def acquire(self, *, resume: bool, overwrite: bool) -> None:
        if resume and overwrite:
            raise RunError("--resume continues a run and --overwrite replaces it: pass one")
        self._make()
        self._take_lock()
        try:
            if resume:
                if not self.checkpoint_path.exists():
                    raise RunError(
                        f"--resume: {self.path} holds no checkpoint.pt to continue "
                        f"(start the run without --resume)"
                    )
            elif self.holds_run():
                if not overwrite:
                    raise RunError(
                        f"{self.path} already holds a run; pass --resume to continue it or "
                        f"--overwrite to replace it"
                    )
                self._clear()
        except BaseException:
            self.release()
            raise

    def release(self) -> None:
        if self._lock is None:
            return
        try:
            (self.path / LOCK).unlink(missing_ok=True)
        finally:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()
            self._lock = None

    def discard_if_empty(self) -> None:
        """Remove the folder again if :meth:`acquire` created it and nothing was written."""
        if self.created and self.path.is_dir() and not any(self.path.iterdir()):
            self.path.rmdir()

    def _make(self) -> None:
        try:
            self.created = not self.path.exists()
            self.path.mkdir(parents=True, exist_ok=True)
            probe = self.path / ".write-test"
            probe.write_text("")
            probe.unlink()
        except FileExistsError as error:
            raise RunError(
                f"cannot use {self.path} as a run folder: a file is in the way"
            ) from error
        except OSError as error:
            raise RunError(
                f"cannot write to {self.path}: {error.strerror or error}; choose another --out"
            ) from error

    def _take_lock(self) -> None:
        handle = open(self.path / LOCK, "a+")  # noqa: SIM115 (held until release)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as error:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise RunError(
                f"{self.path} is being written by process {holder} (lock {self.path / LOCK}); "
                f"wait for it to finish or choose another --out"
            ) from error
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._lock = handle

    def _clear(self) -> None:
        # model.pt2 is what `reparam export` writes into a run folder by default.
        names = {*ENGINE_FILES, *self.outputs, CHECKPOINT + ".tmp", BEST + ".tmp", "model.pt2"}
        for name in names:
            (self.path / name).unlink(missing_ok=True)
        for event in self.path.glob("events.out.tfevents.*"):
            event.unlink()

    def read_config(self) -> dict[str, Any]:
        try:
            return json.loads(self.config_path.read_text())
        except FileNotFoundError as error:
            raise RunError(f"{self.path} has no config.json: it is not a reparam run") from error
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise RunError(f"{self.config_path} is not valid JSON ({error})") from error

    def write_config(self, config: dict[str, Any]) -> None:
        write_atomic(self.config_path, json.dumps(config, indent=1) + "\n")

    def write_metrics(self, history: Sequence[dict[str, Any]]) -> None:
        """metrics.csv rebuilt whole from ``history`` and renamed into place, so the file
        always holds exactly the rows of the checkpoint it was written after."""
        write_atomic(self.metrics_path, metrics_csv(history))


def columns_of(history: Iterable[dict[str, Any]]) -> list[str]:
    """Every key of the rows, in the order they first appear."""
    columns: dict[str, None] = {}
    for row in history:
        columns.update(dict.fromkeys(row))
    return list(columns)


def metrics_csv(history: Sequence[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns_of(history), lineterminator="\n")
    writer.writeheader()
    writer.writerows(history)
    return buffer.getvalue()


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """metrics.csv back as rows of numbers (text where a cell is not a number)."""
    if not path.exists():
        return []
    with path.open(newline="") as file:
        return [{k: _number(v) for k, v in row.items()} for row in csv.DictReader(file)]


def _number(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def write_atomic(path: Path, text: str) -> None:
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(text)
    os.replace(temporary, path)

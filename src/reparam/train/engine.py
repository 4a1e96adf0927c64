r"""The run engine: one loop, one run folder, for every trainer.

A trainer (:class:`Trainer`) supplies its steps, its end-of-period evaluation, its state and
its pictures; :func:`run` does the rest, once, for all of them:

- ``config.json`` with exactly the settings used (resolved defaults, the fields that apply,
  the current end after a resume);
- an atomic ``checkpoint.pt`` after every period (epoch) and every ``checkpoint_every``
  steps, holding tensors and plain values only (it loads with ``weights_only=True``): the
  model, the trainer's state (optimizers, estimator state, its place in the period), the
  engine's history and the random-number generators' states, so that ``resume`` continues
  bit for bit as if the run had not stopped;
- ``metrics.csv`` rebuilt from the checkpointed history after each checkpoint, so no kill can
  lose or duplicate a row;
- ``best.pt`` (the model's weights) whenever the trainer's validation column ``monitor``
  improves (higher is better);
- Ctrl-C: the run finishes its step, saves a checkpoint and raises :class:`Interrupted`
  (a second Ctrl-C stops at once);
- a progress bar, TensorBoard scalars and image grids when ``tensorboard`` is installed, and
  rank 0 alone writing under ``torchrun``.

Example:
    A trainer that fits a mean by gradient descent, run for three epochs of four steps:

    >>> import tempfile, torch
    >>> from torch import nn
    >>> from dataclasses import dataclass
    >>> from reparam.train import RunConfig, RunOptions, Trainer, run
    >>> @dataclass(frozen=True)
    ... class MeanConfig(RunConfig):
    ...     epochs: int = 3
    ...     device: str = "cpu"
    >>> class MeanTrainer(Trainer):
    ...     name, Config, monitor = "mean", MeanConfig, "valid"
    ...     def __init__(self, config, ranks):
    ...         self.config, self.model = config, nn.Linear(1, 1, bias=False)
    ...         self.optimizer = torch.optim.SGD(self.model.parameters(), lr=0.1)
    ...     @property
    ...     def periods(self): return self.config.epochs
    ...     def steps_in(self, period): return 4
    ...     def train_step(self, period, index):
    ...         loss = (self.model.weight - torch.randn(()) - 2).pow(2).sum()
    ...         self.optimizer.zero_grad(); loss.backward(); self.optimizer.step()
    ...     def end_period(self, period):
    ...         return {"valid": -float((self.model.weight.detach() - 2).abs())}
    ...     def state_dict(self): return {"optimizer": self.optimizer.state_dict()}
    ...     def load_state_dict(self, state): self.optimizer.load_state_dict(state["optimizer"])
    >>> out = tempfile.mkdtemp() + "/mean"
    >>> result = run(MeanTrainer, MeanConfig(), RunOptions(out, progress=False, tensorboard=False))
    >>> [row["epoch"] for row in result.history], sorted(p.name for p in result.folder.path.iterdir())
    ([1, 2, 3], ['best.pt', 'checkpoint.pt', 'config.json', 'metrics.csv'])
"""

from __future__ import annotations

import signal
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from reparam.train.checkpoint import load as load_checkpoint
from reparam.train.checkpoint import save_atomic
from reparam.train.config import RunConfig
from reparam.train.distributed import Ranks, start, stop
from reparam.train.progress import RunProgress
from reparam.train.run_folder import RunError, RunFolder


class Trainer(ABC):
    """What a trainer supplies to the engine.

    A run is ``periods`` periods (epochs; ``unit`` names them) of ``steps_in(period)`` steps.
    The engine calls :meth:`start_period` at a period's first step, :meth:`train_step` for
    each step and :meth:`end_period` for the period's metrics row (training and validation
    figures; the engine adds the period number, the step count and the seconds).

    Everything a resume needs beyond ``self.model``'s weights and torch's global random
    state is in :meth:`state_dict`: optimizers, estimator state, learning-rate schedules,
    seeded generators, and whatever :meth:`start_period` set up (the period's batch order,
    running sums), because after a resume in the middle of a period the engine does not call
    :meth:`start_period` again. The state must be tensors and plain values (checkpoints load
    with ``weights_only=True``).

    Class attributes: ``name`` (the trainer, as ``config.json`` records it), ``command``
    (the command that trains it, e.g. ``"train wgan"``; the Ctrl-C message tells the user to
    resume with ``reparam COMMAND --out OUT --resume``), ``Config`` (its
    :class:`~reparam.train.RunConfig`), ``unit``, ``monitor`` (the row's column that picks
    ``best.pt``, higher is better; None: no best.pt) and ``outputs`` (the files :meth:`draw`
    writes, which ``--overwrite`` removes).
    """

    name: ClassVar[str]
    command: ClassVar[str] = ""
    Config: ClassVar[type[RunConfig]]
    unit: ClassVar[str] = "epoch"
    monitor: ClassVar[str | None] = None
    outputs: ClassVar[tuple[str, ...]] = ()

    config: Any
    model: nn.Module

    @property
    @abstractmethod
    def periods(self) -> int:
        """Periods to the end of the run (the config's end, after a resume too)."""

    @abstractmethod
    def steps_in(self, period: int) -> int:
        """Steps in ``period`` (0-based)."""

    def start_period(self, period: int) -> None:  # noqa: B027 (a hook; most need none)
        """Set up ``period`` (its batch order, learning rate, running sums)."""

    @abstractmethod
    def train_step(self, period: int, index: int) -> None:
        """Step ``index`` of ``period``."""

    @abstractmethod
    def end_period(self, period: int) -> dict[str, Any]:
        """The period's metrics row: numbers (or short strings) by column."""

    @abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """Everything but the model's weights that a resume needs."""

    @abstractmethod
    def load_state_dict(self, state: dict[str, Any]) -> None: ...

    def summary(self, row: dict[str, Any]) -> str:
        """The progress bar's text for the last row."""
        return "  ".join(
            f"{k} {v:.4g}" for k, v in row.items() if isinstance(v, float) and k != "seconds"
        )[:80]

    def images(self) -> dict[str, Tensor]:
        """Image grids ``[3, H, W]`` in [0, 1] for TensorBoard after each period."""
        return {}

    def draw(self, folder: Path, history: list[dict[str, Any]]) -> None:  # noqa: B027
        """The run's pictures, written into ``folder`` at the end (rank 0)."""

    # What `reparam.load_run`, `reparam sample` and `reparam export` need: no data, no run.

    @classmethod
    def build_model(cls, config: Any) -> nn.Module:
        """``self.model``'s architecture from the config alone (shapes the data decided are
        fields of the config), for loading saved weights."""
        raise ValueError(f"a {cls.name} run cannot be loaded: its trainer builds no model alone")

    @classmethod
    def generate(cls, model: nn.Module, config: Any, n: int) -> Tensor:
        """``n`` samples of the generative model (images ``[n, pixels]`` in [0, 1], or points
        ``[n, d]``); a ValueError for a model that does not generate."""
        raise ValueError(f"a {cls.name} run is not a generative model: there is nothing to sample")

    @classmethod
    def exportable(cls, model: nn.Module, config: Any) -> tuple[nn.Module, tuple[Tensor, ...]]:
        """The network ``reparam export`` writes (decoder, generator, predictive network) and
        example inputs for ``torch.export``."""
        raise ValueError(f"a {cls.name} run has no network to export")

    @classmethod
    def test_bounds(
        cls,
        folder: Path,
        model: nn.Module,
        config: Any,
        *,
        split: str,
        k: int,
        chunk: int,
        subset: int | None,
        batch_size: int,
        meter: Callable[[int], Callable[[], None]],
    ) -> Any:
        r"""What ``reparam eval`` prints, an ``Evaluation`` of
        :mod:`reparam.experiments.vae_evaluation`, of the run in ``folder`` (its ``model``) on
        ``split`` (a random ``subset`` if given), :math:`\mathcal L_k` from k samples drawn ``chunk`` at a time, ``batch_size``
        examples at a time; ``meter(batches)`` is called once and returns what to call after
        each batch."""
        raise ValueError(
            f"reparam eval computes the bounds of latent-variable models; a {cls.name} run has none"
        )


class Interrupted(Exception):
    """Ctrl-C stopped a run after its checkpoint was saved; ``reparam COMMAND --out FOLDER
    --resume`` continues it. An ``Exception``, not a ``KeyboardInterrupt``: the run stopped
    cleanly, and the command line (whose framework turns a ``KeyboardInterrupt`` into a bare
    exit status) prints how to resume."""

    def __init__(self, folder: Path, command: str, where: str) -> None:
        super().__init__(f"interrupted at {where}; checkpoint saved in {folder}")
        self.folder, self.command, self.where = folder, command, where


@dataclass(frozen=True)
class RunOptions:
    """How to run, as opposed to what: the folder and the engine's settings.

    ``out``: the run folder. ``resume``: continue the run in it. ``overwrite``: replace the
    run in it. ``checkpoint_every``: also checkpoint every this many steps (0: after each
    period only). ``progress``: show the bar (None: when stdout is a terminal).
    ``tensorboard``: write TensorBoard events when it is installed.
    """

    out: str | Path
    resume: bool = False
    overwrite: bool = False
    checkpoint_every: int = 0
    progress: bool | None = None
    tensorboard: bool = True

    def __post_init__(self) -> None:
        if self.checkpoint_every < 0:
            raise ValueError(f"checkpoint_every must be >= 0; got {self.checkpoint_every}")


@dataclass(frozen=True)
class RunResult:
    """A finished run: its folder, config, metrics rows and the best row."""

    folder: RunFolder
    config: RunConfig
    history: list[dict[str, Any]]
    best: dict[str, Any] | None
    seconds: float

    def summary(self) -> str:
        last = self.history[-1] if self.history else {}
        return (
            f"{len(self.history)} rows in {self.seconds:.1f} s; last "
            + ", ".join(
                f"{k} {v:.4g}"
                for k, v in last.items()
                if isinstance(v, float) and k not in ("seconds", "lr")
            )
            + f"; wrote {self.folder.path}"
        )


@dataclass
class EngineState:
    period: int = 0
    index: int = 0
    step: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    best: float | None = None
    period_seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def run(
    trainer_class: type[Trainer],
    config: RunConfig | dict[str, Any],
    options: RunOptions,
) -> RunResult:
    """Train ``trainer_class`` with ``config`` in the run folder ``options.out``.

    ``config`` is a config object, or a dict of the options the user gave (the command line
    passes only those it was given, so that a resume can tell a given option from a default).
    With ``options.resume`` the saved config is used and a given option that differs from it
    is refused, except the run's end (``epochs``/``steps``) and ``device``.
    """
    started = time.perf_counter()
    given = config if isinstance(config, dict) else _given(config)
    folder = RunFolder(options.out, outputs=trainer_class.outputs)
    if options.resume:
        chosen = _resumed_config(trainer_class, folder, given)
    elif isinstance(config, RunConfig):
        chosen = config
    else:
        chosen = trainer_class.Config.from_dict(given)
    ranks = start(str(getattr(chosen, "device", "cpu")))
    try:
        if ranks.main:
            folder.acquire(resume=options.resume, overwrite=options.overwrite)
        try:
            try:
                trainer = trainer_class(chosen, ranks)  # type: ignore[call-arg]
            except BaseException:
                folder.release()
                folder.discard_if_empty()  # bad data or settings: leave no empty folder behind
                raise
            engine = Engine(trainer, folder, options, ranks)
            history = engine.fit()
            return RunResult(
                folder, trainer.config, history, engine.best_row(), time.perf_counter() - started
            )
        finally:
            folder.release()
    finally:
        stop(ranks)


def _resumed_config(
    trainer_class: type[Trainer], folder: RunFolder, given: dict[str, Any]
) -> RunConfig:
    """The saved run's config with the given options that may change (see RunConfig.resumed)."""
    if not folder.checkpoint_path.exists():
        raise RunError(
            f"--resume: {folder.path} holds no checkpoint.pt to continue (start the run "
            f"without --resume)"
        )
    saved = folder.read_config()
    if saved.get("trainer") not in (None, trainer_class.name):
        raise RunError(
            f"{folder.path} holds a run of {saved.get('trainer')}, not of {trainer_class.name}"
        )
    return trainer_class.Config.resumed(saved, given)


def _given(config: RunConfig) -> dict[str, Any]:
    """The fields of ``config`` that differ from their defaults: what a caller set."""
    defaults = type(config).defaults()
    values = vars(config)
    return {k: v for k, v in values.items() if k not in defaults or defaults[k] != v}


class Engine:
    """The loop of :func:`run` for one trainer and folder (see the module docstring)."""

    def __init__(
        self, trainer: Trainer, folder: RunFolder, options: RunOptions, ranks: Ranks
    ) -> None:
        self.trainer, self.folder, self.options, self.ranks = trainer, folder, options, ranks
        self.state = EngineState()
        self.stop_requested = False
        if options.resume:
            self.restore(load_checkpoint(folder.checkpoint_path, ranks.device))
            if self.state.period > trainer.periods:
                ends = " or ".join(f"--{e.replace('_', '-')}" for e in trainer.Config.ENDS)
                raise RunError(
                    f"--resume cannot shorten a run: it has done {self.state.step} steps "
                    f"({len(self.state.history)} rows), past the end asked for; give a later "
                    f"{ends}"
                )
        if ranks.main:
            folder.write_config({"trainer": trainer.name, **trainer.config.to_dict()})
            folder.write_metrics(self.state.history)
        self.board = self._tensorboard() if ranks.main and options.tensorboard else None

    def fit(self) -> list[dict[str, Any]]:
        trainer, state = self.trainer, self.state
        total = sum(trainer.steps_in(p) for p in range(trainer.periods))
        done = sum(trainer.steps_in(p) for p in range(min(state.period, trainer.periods)))
        show = self.options.progress if self.ranks.main else False
        with (
            RunProgress(trainer.name, trainer.unit, trainer.periods, total, show) as bar,
            self._catch_interrupts(),
        ):
            while state.period < trainer.periods:
                period, steps = state.period, trainer.steps_in(state.period)
                if state.index == 0:
                    trainer.start_period(period)
                    state.period_seconds = 0.0
                bar.start(period, done + state.index)
                clock = time.perf_counter()
                while state.index < steps:
                    trainer.train_step(period, state.index)
                    state.index += 1
                    state.step += 1
                    bar.step(done + state.index)
                    every = self.options.checkpoint_every
                    if (every and state.step % every == 0 and state.index < steps) or (
                        self.stop_requested
                    ):
                        state.period_seconds += time.perf_counter() - clock
                        clock = time.perf_counter()
                        self.checkpoint()
                        if self.stop_requested:
                            raise self._interrupted()
                row = {trainer.unit: period + 1, "step": state.step, **trainer.end_period(period)}
                row["seconds"] = state.period_seconds + time.perf_counter() - clock
                state.history.append(row)
                state.period, state.index, done = period + 1, 0, done + steps
                self.end_of_period(row)
                bar.period_done(period, trainer.summary(row))
                if self.stop_requested and state.period < trainer.periods:
                    raise self._interrupted()
        if self.ranks.main:
            trainer.draw(self.folder.path, state.history)
            if self.board is not None:
                self.board.close()
        return state.history

    def end_of_period(self, row: dict[str, Any]) -> None:
        trainer, state = self.trainer, self.state
        monitor = trainer.monitor
        if monitor is not None and self.ranks.main:
            value = float(row[monitor])
            if state.best is None or value > state.best:
                state.best = value
                save_atomic(
                    {"model": trainer.model.state_dict(), trainer.unit: row[trainer.unit]},
                    self.folder.best_path,
                )
        self.checkpoint()
        if self.board is not None:
            for name, value in row.items():
                if isinstance(value, int | float) and name not in (trainer.unit, "step"):
                    self.board.add_scalar(name, value, row["step"])
            for name, image in trainer.images().items():
                self.board.add_image(name, image, row["step"])

    def checkpoint(self) -> None:
        """Save the whole state, then rebuild metrics.csv from the history it holds."""
        if not self.ranks.main:
            return
        save_atomic(
            {
                "engine": self.state.as_dict(),
                "model": self.trainer.model.state_dict(),
                "trainer": self.trainer.state_dict(),
                "rng": rng_state(),
            },
            self.folder.checkpoint_path,
        )
        self.folder.write_metrics(self.state.history)

    def restore(self, saved: dict[str, Any]) -> None:
        try:
            self.trainer.model.load_state_dict(saved["model"])
            self.trainer.load_state_dict(saved["trainer"])
            self.state = EngineState(**saved["engine"])
            set_rng_state(saved["rng"])
        except (KeyError, RuntimeError, TypeError) as error:
            reason = str(error).strip().splitlines()[0][:300]
            raise ValueError(
                f"{self.folder.checkpoint_path} does not fit this {self.trainer.name} run "
                f"(another architecture or version: {reason})"
            ) from error
        if self.ranks.world > 1:
            torch.manual_seed(self.state.step * 1_000_003 + self.ranks.rank)

    def best_row(self) -> dict[str, Any] | None:
        monitor = self.trainer.monitor
        if monitor is None or not self.state.history:
            return None
        return max(self.state.history, key=lambda row: row[monitor])

    def _interrupted(self) -> Interrupted:
        s = self.state
        where = f"{self.trainer.unit} {s.period + 1}, step {s.step}"
        command = self.trainer.command or f"train {self.trainer.name}"
        return Interrupted(self.folder.path, command, where)

    @contextmanager
    def _catch_interrupts(self) -> Iterator[None]:
        """The first Ctrl-C asks the loop to checkpoint and stop; a second one stops now."""
        if threading.current_thread() is not threading.main_thread():
            yield  # signal handlers can only be set from the main thread
            return

        def handler(signum: int, frame: object) -> None:
            if self.stop_requested:
                raise KeyboardInterrupt
            self.stop_requested = True

        previous = signal.signal(signal.SIGINT, handler)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

    def _tensorboard(self) -> Any:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            return None
        return SummaryWriter(str(self.folder.path))


def rng_state() -> dict[str, Any]:
    """torch's CPU generator and every CUDA device's, as tensors."""
    state: dict[str, Any] = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["cpu"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])

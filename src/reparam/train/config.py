"""Run settings: one frozen dataclass a trainer, saved as ``config.json`` in its run folder."""

from __future__ import annotations

import json
import math
from dataclasses import MISSING, asdict, dataclass, fields
from typing import Any, ClassVar, TypeVar

from reparam.train.distributed import DEVICE_PATTERN
from reparam.train.run_folder import RunError

C = TypeVar("C", bound="RunConfig")


@dataclass(frozen=True)
class RunConfig:
    """The base of every trainer's settings.

    A subclass lists its fields with their defaults and checks them in ``__post_init__``
    (:func:`positive`, :func:`finite`, :func:`one_of`). :meth:`to_dict` is what ``config.json``
    holds: the fields that apply (:meth:`applies`), after every default has been resolved.

    ``ENDS`` name the fields that say where the run ends (``epochs``, ``steps``): the only
    ones a ``--resume`` may change, besides the ``FREE`` ones, which say how the run is
    computed rather than what it computes (``device``).
    """

    ENDS: ClassVar[tuple[str, ...]] = ("epochs",)
    FREE: ClassVar[tuple[str, ...]] = ("device",)

    def applies(self, name: str) -> bool:
        """Whether field ``name`` means something for this run (``flow`` only with a flow)."""
        return True

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if self.applies(k)}

    @classmethod
    def from_dict(cls: type[C], values: dict[str, Any]) -> C:
        known = {f.name for f in fields(cls)}
        return cls(**{k: _tuples(v) for k, v in values.items() if k in known})

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return {f.name: f.default for f in fields(cls) if f.default is not MISSING}

    @classmethod
    def resumed(cls: type[C], saved: dict[str, Any], given: dict[str, Any]) -> C:
        """The saved run's config with the ``given`` options that may change on resume;
        any other given option that differs from the saved value is refused, all of them
        named in one message."""
        movable = (*cls.ENDS, *cls.FREE)
        conflicts = [
            f"{flag(key)} {_show(value)} (the run has {_show(saved.get(key))})"
            for key, value in given.items()
            if key not in movable and _plain(value) != _plain(saved.get(key, _plain(value)))
        ]
        if conflicts:
            ends = " and ".join(flag(e) for e in cls.ENDS)
            raise RunError(
                "--resume keeps the run's settings, but "
                + "; ".join(conflicts)
                + f". Only {ends} may change: drop the others, or start a new run (another "
                f"--out, or --overwrite)"
            )
        return cls.from_dict({**saved, **{k: v for k, v in given.items() if k in movable}})


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value))


def _show(value: Any) -> str:
    return ",".join(map(str, value)) if isinstance(value, list | tuple) else str(value)


def _tuples(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def flag(name: str) -> str:
    """The command line's spelling of field ``name``: ``batch_size`` is ``--batch-size``."""
    return "--" + name.replace("_", "-")


def positive(name: str, value: float | int | None, *, integer: bool = False) -> None:
    """``ValueError`` naming ``name`` unless ``value`` is None or a finite number > 0."""
    if value is None:
        return
    if integer and (isinstance(value, bool) or not isinstance(value, int)):
        raise ValueError(f"{name} must be a whole number; got {value!r}")
    finite(name, value)
    if not value > 0:
        raise ValueError(f"{name} must be > 0; got {value}")


def non_negative(name: str, value: float | int | None) -> None:
    if value is None:
        return
    finite(name, value)
    if not value >= 0:
        raise ValueError(f"{name} must be >= 0; got {value}")


def finite(name: str, value: float | int | None) -> None:
    if value is not None and not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number; got {value}")


def in_range(name: str, value: float | None, low: float, high: float) -> None:
    """``ValueError`` unless ``low <= value <= high`` (None passes)."""
    if value is None:
        return
    finite(name, value)
    if not low <= value <= high:
        raise ValueError(f"{name} must lie in [{low:g}, {high:g}]; got {value}")


def one_of(name: str, value: Any, choices: tuple[Any, ...] | list[Any]) -> None:
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; choose one of {', '.join(map(str, choices))}")


def device_option(value: Any) -> None:
    """``ValueError`` naming ``--device`` unless ``value`` is auto, cpu, cuda or cuda:N."""
    if not isinstance(value, str) or not DEVICE_PATTERN.fullmatch(value):
        raise ValueError(f"unknown --device {value!r}; choose auto, cpu, cuda or cuda:N")


def whole_periods(steps: int, eval_every: int) -> None:
    """``ValueError`` unless ``steps`` is a multiple of ``eval_every``: a run of periods of
    ``eval_every`` steps is whole periods, so that a resumed run equals a straight one."""
    if steps % eval_every:
        raise ValueError(
            f"--steps {steps} must be a multiple of --eval-every {eval_every} "
            "(a run is whole periods, so that a resumed run equals a straight one)"
        )

"""``--compile``: torch.compile a trainer's hot function where it helps."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import torch

F = TypeVar("F", bound=Callable)


def maybe_compile(function: F, enabled: bool) -> F:
    """``torch.compile(function)`` when ``enabled``, else ``function`` itself.

    Compile the function a step calls (a model's loss), not the module: the module's
    ``state_dict`` keys then stay those of the eager model, so checkpoints written with and
    without ``--compile`` load into each other.
    """
    if not enabled:
        return function
    return torch.compile(function)  # type: ignore[return-value]

"""Checkpoints: written atomically, read back as tensors and plain values only."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch


def save_atomic(state: dict[str, Any], path: Path) -> None:
    """``torch.save`` to ``path.tmp``, flush it to disk, then ``os.replace``: a crash or a
    SIGKILL leaves either the old file or the new one, never half of one."""
    temporary = path.with_suffix(path.suffix + ".tmp")
    with open(temporary, "wb") as file:
        torch.save(state, file)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)


def load(path: Path, device: torch.device | str = "cpu") -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True``: tensors, numbers, strings, lists and dicts
    only, so loading one never runs code. A missing file is a ``FileNotFoundError``; an empty,
    truncated or foreign file a ``ValueError`` that names it."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}: was the run started with this --out?")
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception as error:  # torch raises many kinds for a bad file
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ValueError(
            f"{path} is not a readable checkpoint (empty, truncated or not written by reparam: "
            f"{reason[:200]})"
        ) from error
    if not isinstance(state, dict):
        raise ValueError(f"{path} is not a reparam checkpoint (it holds a {type(state).__name__})")
    return state

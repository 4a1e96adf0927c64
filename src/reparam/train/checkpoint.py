"""Atomic checkpoints: write to a temporary file, then rename over the old one."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch


def save_atomic(state: dict[str, Any], path: Path) -> None:
    """``torch.save`` to ``path.tmp`` then ``os.replace``: a crash never leaves half a file."""
    temporary = path.with_suffix(path.suffix + ".tmp")
    torch.save(state, temporary)
    os.replace(temporary, path)


def load(path: Path, device: torch.device) -> dict[str, Any]:
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}: was the run started with this --out?")
    return torch.load(path, map_location=device, weights_only=False)

"""A parsed copy of a slow-to-parse data file, kept as a ``.pt`` file and checked against it.

The copy is kept in the user's cache folder, ``$XDG_CACHE_HOME/reparam/parsed/`` (by default
``~/.cache/reparam/parsed/``), never beside the source: a data folder may be shared and must not
be written into. It records the source's path, size and modification time, and is parsed again
whenever any of them differs.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

FOLDER = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "reparam" / "parsed"


def cache_path(source: Path) -> Path:
    """Where the parsed copy of ``source`` is kept: ``<name without suffixes>-<hash of its
    folder>.pt`` in :data:`FOLDER`, so copies of same-named files in two folders never clash."""
    folder = hashlib.sha1(str(source.resolve().parent).encode()).hexdigest()[:10]
    return FOLDER / f"{source.name.split('.')[0]}-{folder}.pt"


def fingerprint(source: Path) -> dict[str, str | int]:
    """What identifies the version of ``source`` that a parsed copy was made from."""
    stat = source.stat()
    return {"source": str(source.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def cached(source: Path, parse: Callable[[Path], Tensor]) -> Tensor:
    """``parse(source)``, read from the parsed copy when it matches ``source``, else parsed and
    saved (a failure to save only costs the next call a parse)."""
    path = cache_path(source)
    key = fingerprint(source)
    if path.is_file():
        try:
            entry = torch.load(path, weights_only=True)
            if entry["key"] == key:
                return entry["data"]
        except Exception:  # an unreadable copy is no copy: parse again
            pass
    data = parse(source)
    partial = path.with_name(f"{path.name}.{os.getpid()}.part")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"key": key, "data": data}, partial)
        partial.replace(path)
    except (OSError, RuntimeError):  # torch.save reports a failed write as a RuntimeError
        partial.unlink(missing_ok=True)
    return data

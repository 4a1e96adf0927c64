"""What the run tests share: quiet run options, metrics without their timings, checkpoints
compared weight by weight, a config as command-line options."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from reparam.train import RunOptions
from reparam.train.checkpoint import load


def quiet_options(out: Path | str, **kw: Any) -> RunOptions:
    """Run options without a progress bar or TensorBoard (unless ``kw`` asks)."""
    return RunOptions(out, **{"progress": False, "tensorboard": False, **kw})


def strip_time(rows: list[dict]) -> list[dict]:
    """Metrics rows without their ``seconds``, the one column two equal runs may differ in."""
    return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]


def assert_same_weights(a: Path, b: Path) -> None:
    """The model weights of the checkpoints of run folders ``a`` and ``b`` are bit-equal."""
    first, second = load(a / "checkpoint.pt")["model"], load(b / "checkpoint.pt")["model"]
    assert first.keys() == second.keys()
    for name, tensor in first.items():
        assert torch.equal(tensor, second[name]), name


def arguments(values: dict[str, Any]) -> list[str]:
    """``{"batch_size": 4}`` as ``["--batch-size=4"]``."""
    return [f"--{k.replace('_', '-')}={v}" for k, v in values.items()]

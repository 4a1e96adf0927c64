"""The run engine: one training loop, one run folder, checkpoints and exact resume for every
trainer (see :mod:`reparam.train.engine`)."""

from reparam.train.config import RunConfig
from reparam.train.engine import Interrupted, RunOptions, RunResult, Trainer, run
from reparam.train.run_folder import RunError, RunFolder

__all__ = [
    "Interrupted",
    "RunConfig",
    "RunError",
    "RunFolder",
    "RunOptions",
    "RunResult",
    "Trainer",
    "run",
]

"""One rank of a two-process WGAN run (``torchrun --nproc_per_node=2 wgan_ddp_worker.py OUT
LIPSCHITZ``): trains through the run engine, then saves this rank's final weights, critic
statistics and data-generator state to ``OUT-rankR.pt`` for the test to compare."""

from __future__ import annotations

import sys
from typing import Any

import torch

from reparam.experiments.wgan import WGANTrainer
from reparam.train import RunOptions, run


class RecordingTrainer(WGANTrainer):
    def end_period(self, period: int) -> dict[str, Any]:
        row = super().end_period(period)
        if period == self.periods - 1:
            torch.save(
                {
                    "model": self.model.state_dict(),
                    "window": self.window.clone(),
                    "data_rng": self.data_rng.get_state(),
                    "batch": self.batch,
                },
                f"{out}-rank{self.ranks.rank}.pt",
            )
        return row


if __name__ == "__main__":
    out, lipschitz = sys.argv[1], sys.argv[2]
    torch.set_num_threads(1)
    config = {"lipschitz": lipschitz, "steps": 6, "log_every": 3, "batch_size": 16,
              "critic_steps": 2, "hidden": 16, "eval_points": 32, "device": "cpu"}  # fmt: skip
    run(RecordingTrainer, config, RunOptions(out, progress=False, tensorboard=False))

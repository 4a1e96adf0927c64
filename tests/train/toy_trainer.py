"""A small trainer for the engine's tests: a noisy linear regression with a moving average.

Run as a script (``python toy_trainer.py OUT EPOCHS [--resume]``) it trains into OUT, so that
a test can SIGKILL it at a random moment and resume it.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from reparam.train import RunConfig, RunOptions, Trainer, run
from reparam.train.config import positive


@dataclass(frozen=True)
class ToyConfig(RunConfig):
    epochs: int = 4
    steps: int = 6
    lr: float = 0.05
    seed: int = 0
    sleep: float = 0.0
    device: str = "cpu"

    def __post_init__(self) -> None:
        positive("epochs", self.epochs, integer=True)
        positive("lr", self.lr)


class ToyTrainer(Trainer):
    name, Config, monitor = "toy", ToyConfig, "valid"
    outputs = ("picture.txt",)

    def __init__(self, config: ToyConfig, ranks: Any) -> None:
        self.config = config
        torch.manual_seed(config.seed)
        self.model = nn.Linear(3, 1)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr)
        self.x = torch.randn(64, 3)
        self.y = self.x @ torch.tensor([1.0, -2.0, 0.5]) + 0.1 * torch.randn(64)
        self.average = 0.0
        self.order = torch.zeros(0, dtype=torch.long)
        self.total = 0.0

    @property
    def periods(self) -> int:
        return self.config.epochs

    def steps_in(self, period: int) -> int:
        return self.config.steps

    def start_period(self, period: int) -> None:
        self.order = torch.randperm(64)  # the global RNG: must be saved with the period
        self.total = 0.0

    def train_step(self, period: int, index: int) -> None:
        rows = self.order[index * 10 : index * 10 + 10]
        noise = 0.01 * torch.randn(len(rows))
        loss = ((self.model(self.x[rows]).squeeze(-1) - self.y[rows] - noise) ** 2).mean()
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        self.average = 0.9 * self.average + 0.1 * float(loss.detach())
        self.total += float(loss.detach())
        time.sleep(self.config.sleep)

    def end_period(self, period: int) -> dict[str, Any]:
        with torch.no_grad():
            valid = -float(((self.model(self.x).squeeze(-1) - self.y) ** 2).mean())
        return {"train": self.total / self.config.steps, "average": self.average, "valid": valid}

    def state_dict(self) -> dict[str, Any]:
        return {
            "optimizer": self.optimizer.state_dict(),
            "average": self.average,
            "order": self.order,
            "total": self.total,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.average, self.order, self.total = state["average"], state["order"], state["total"]

    def draw(self, folder, history) -> None:
        (folder / "picture.txt").write_text(str(len(history)))


if __name__ == "__main__":
    out, epochs = sys.argv[1], int(sys.argv[2])
    resume = "--resume" in sys.argv
    given = {"epochs": epochs, "sleep": 0.02}
    run(ToyTrainer, given, RunOptions(out, resume=resume, checkpoint_every=2, progress=False))

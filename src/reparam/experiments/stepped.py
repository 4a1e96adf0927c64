"""What the speech trainers share: a run of ``config.steps`` Adam steps in periods of
``config.eval_every``, the learning rate warmed up over ``config.warmup`` steps and then
decayed by :func:`~reparam.experiments.schedule.warmup_inverse_sqrt`, batches and masks drawn
from a generator seeded with ``config.seed``, and the period's running sums."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from reparam.experiments.schedule import warmup_inverse_sqrt
from reparam.train import Trainer


class SteppedTrainer(Trainer):
    """A :class:`~reparam.train.Trainer` of steps in periods; a subclass builds
    ``self.model``, then calls :meth:`start_optimiser`, and keeps its period's sums in
    ``self.sums``."""

    unit = "period"

    def start_optimiser(self) -> None:
        """Adam on ``self.model``, its schedule, and the seeded generator."""
        config = self.config
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr)
        self.schedule = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda step: warmup_inverse_sqrt(step, config.warmup)
        )
        self.generator = torch.Generator().manual_seed(config.seed)

    def update(self, loss: Tensor, clip: float | None = None) -> None:
        """One Adam step on ``loss``: gradients, their norm clipped to ``clip`` (if given),
        the step and the schedule's."""
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if clip is not None:
            nn.utils.clip_grad_norm_(self.model.parameters(), clip)
        self.optimizer.step()
        self.schedule.step()

    @property
    def periods(self) -> int:
        return self.config.steps // self.config.eval_every

    def steps_in(self, period: int) -> int:
        return self.config.eval_every

    def state_dict(self) -> dict[str, Any]:
        return {
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
            "generator": self.generator.get_state(),
            "sums": list(self.sums),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        self.generator.set_state(state["generator"].cpu())
        self.sums = list(state["sums"])

"""The training loop: data, model, optimizer, run folder, checkpoints, resume, DDP."""

from __future__ import annotations

import csv
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from torch import Tensor
from torch.nn.parallel import DistributedDataParallel

from reparam.data import load
from reparam.experiments.schedule import learning_rate
from reparam.experiments.vae_build import EstimatorSchedule, build_model, temperature
from reparam.experiments.vae_config import TrainConfig
from reparam.models import LatentModel
from reparam.objectives import KLAnnealing
from reparam.plots import vae as pictures
from reparam.train.checkpoint import load as load_checkpoint
from reparam.train.checkpoint import save_atomic
from reparam.train.distributed import Ranks, start, stop

COLUMNS = ("epoch", "step", "lr", "beta", "temperature", "train_bound", "valid_bound", "seconds")


def train(config: TrainConfig, *, resume: bool = False) -> list[dict]:
    """Train ``config``'s model and write its run folder; returns the metrics, one row an epoch.

    With ``resume``, the run in ``config.out`` continues from its last checkpoint (its saved
    config, with ``config.epochs`` as the new end) exactly as if it had not stopped. Under
    ``torchrun`` each rank trains on its share of every batch through
    DistributedDataParallel, and rank 0 alone writes.
    """
    ranks = start(config.device)
    try:
        return Trainer(config, ranks, resume).run()
    finally:
        stop(ranks)


def random_rows(data: Tensor, count: int | None) -> Tensor:
    """``count`` rows drawn at random with a fixed seed (all rows when None): the binarized
    MNIST files are ordered, so a prefix is not a fair sample."""
    if count is None or count >= len(data):
        return data
    return data[torch.randperm(len(data), generator=torch.Generator().manual_seed(0))[:count]]


def validation_estimator(objective: str) -> str:
    """An estimator whose value is the plain Monte Carlo bound (relaxed ones are not)."""
    return "score" if objective == "elbo" else "auto"


class Trainer:
    def __init__(self, config: TrainConfig, ranks: Ranks, resume: bool) -> None:
        self.out = Path(config.out)
        if resume:
            config = replace(TrainConfig.load(self.out / "config.json"), epochs=config.epochs)
        self.config, self.ranks = config, ranks
        device = ranks.device
        self.train_x = random_rows(load(config.dataset, "train", config.data_dir), config.subset)
        self.valid_x = random_rows(load(config.dataset, "valid", config.data_dir), config.subset)
        self.train_x, self.valid_x = self.train_x.to(device), self.valid_x.to(device)
        torch.manual_seed(config.seed)
        self.model: LatentModel = build_model(config, self.train_x.shape[1]).to(device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr, eps=1e-4)
        self.epoch, self.step, self.history, self.best = 0, 0, [], -float("inf")
        self.estimator = EstimatorSchedule(config.estimator, config.temperature_rate)
        torch.manual_seed(config.seed + ranks.rank)
        if resume:
            self.restore(load_checkpoint(self.out / "checkpoint.pt", device))
        elif ranks.main:
            self.out.mkdir(parents=True, exist_ok=True)
            config.save(self.out / "config.json")
            with open(self.out / "metrics.csv", "w", newline="") as file:
                csv.writer(file).writerow(COLUMNS)
        self.net = DistributedDataParallel(self.model) if ranks.world > 1 else self.model
        self.annealing = KLAnnealing(config.kl_warmup, config.beta)
        self.board = tensorboard(self.out) if ranks.main else None

    def run(self) -> list[dict]:
        config = self.config
        show = self.ranks.main and sys.stdout.isatty()
        columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[info]}"))
        with Progress(*columns, TimeRemainingColumn(), disable=not show) as progress:
            task = progress.add_task(
                config.model, total=config.epochs, completed=self.epoch, info=""
            )
            while self.epoch < config.epochs:
                row = self.train_epoch()
                progress.update(
                    task,
                    advance=1,
                    info=f"epoch {row['epoch']}  train {-row['train_bound']:.2f}  "
                    f"valid {-row['valid_bound']:.2f} nats  {row['seconds']:.1f} s",
                )
        if self.ranks.main:
            self.draw()
        return self.history

    def train_epoch(self) -> dict:
        config, ranks = self.config, self.ranks
        start_time = time.perf_counter()
        lr = learning_rate(config.schedule, config.lr, self.epoch)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        order = torch.randperm(
            len(self.train_x),
            generator=torch.Generator().manual_seed(config.seed * 1_000_003 + self.epoch),
        )
        per_rank = max(1, config.batch_size // ranks.world)
        batches = order.split(config.batch_size)
        self.model.train()
        total, count = 0.0, 0
        for indices in batches:
            x = self.train_x[indices.to(self.train_x.device)[ranks.rank :: ranks.world][:per_rank]]
            bound = self.net(
                x,
                objective=config.objective,
                k=config.k,
                estimator=self.estimator(self.step),
                beta=self.annealing(self.step),
            )
            loss = -bound.mean()
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.step += 1
            total += float(bound.detach().sum())
            count += len(x)
        row = {
            "epoch": self.epoch + 1,
            "step": self.step,
            "lr": lr,
            "beta": self.annealing(self.step),
            "temperature": temperature(self.step, config.temperature_rate),
            "train_bound": total / count,
            "valid_bound": self.validate(),
            "seconds": time.perf_counter() - start_time,
        }
        self.epoch += 1
        self.history.append(row)
        if ranks.main:
            self.record(row)
        return row

    @torch.no_grad()
    def validate(self) -> float:
        """The mean bound of the validation split (the objective, β = 1), for model selection."""
        self.model.eval()
        config = self.config
        estimator = validation_estimator(config.objective)
        total = sum(
            float(
                self.model.bound(
                    x, objective=config.objective, k=config.k, estimator=estimator
                ).sum()
            )
            for x in self.valid_x.split(config.batch_size)
        )
        return total / len(self.valid_x)

    def record(self, row: dict) -> None:
        with open(self.out / "metrics.csv", "a", newline="") as file:
            csv.writer(file).writerow([row[c] for c in COLUMNS])
        if self.board is not None:
            for name in ("train_bound", "valid_bound", "lr", "beta"):
                self.board.add_scalar(name, row[name], row["epoch"])
        if row["valid_bound"] > self.best:
            self.best = row["valid_bound"]
            save_atomic(
                {"model": self.model.state_dict(), "epoch": row["epoch"]}, self.out / "best.pt"
            )
        save_atomic(self.state(), self.out / "checkpoint.pt")

    def state(self) -> dict:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "epoch": self.epoch,
            "step": self.step,
            "history": self.history,
            "best": self.best,
            "estimator": self.estimator,
            "rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        }

    def restore(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.epoch, self.step = state["epoch"], state["step"]
        self.history, self.best = state["history"], state["best"]
        self.estimator = state["estimator"]
        torch.set_rng_state(state["rng"].cpu())
        if state["cuda_rng"] is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])

    def draw(self) -> None:
        best = load_checkpoint(self.out / "best.pt", self.ranks.device)
        self.model.load_state_dict(best["model"])
        self.model.eval()
        pictures.draw_samples(self.model, self.out / "samples.png")
        pictures.draw_reconstructions(self.model, self.valid_x, self.out / "reconstructions.png")
        pictures.draw_curves(self.history, self.out / "curves.png")


def tensorboard(out: Path) -> object | None:
    """A TensorBoard writer into the run folder when tensorboard is installed, else None."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(out))

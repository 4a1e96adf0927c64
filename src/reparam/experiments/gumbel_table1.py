r"""One cell of Jang, Gu & Poole (2017)'s Table 1 on the run engine: a model (the two-layer
SBN or the VAE, Bernoulli or categorical) trained with one estimator at one learning rate.

Each step draws a batch of ``batch_size`` training rows (with replacement, from torch's
generator, which the engine checkpoints), anneals a Gumbel estimator's temperature to
:math:`\tau = \max(0.5, e^{-r\,\lfloor t/N\rfloor N})` and takes one SGD step (momentum 0.9)
on the batch's mean loss (the estimators' own learned parts, if any, take an Adam step
of rate ``control_lr`` from the same backward pass):

- SBN: :math:`\mathbb E_{z \sim p(z \mid x_\text{top})}[-\log p(x_\text{bottom} \mid z_2)]`
  through :func:`~reparam.estimators.chain.expect_chain` (one estimator object a layer), or
  for VIMCO the k-sample :math:`-\log\frac1k\sum_i p(x_\text{bottom} \mid z^{(i)})`;
- VAE: the negative ELBO (analytic KL to the uniform prior), or for VIMCO the negative
  :math:`\mathcal L_k`.

With a tuple of learning rates (``lr``) the run trains one replica of the model per rate in
one batched pass (:mod:`reparam.models.replicas`): the loss is
:math:`\sum_r \lambda_r \bar L_r` and SGD runs at rate 1, which is SGD at rate
:math:`\lambda_r` on replica r, momentum included. Only estimators that keep every row of a
batch a problem of its own can serve replicas (:attr:`couples_rows
<reparam.estimators.base.EstimatorModule.couples_rows>` false: not NVIL, REBAR or RELAX,
whose learned parts would be shared by the replicas). A replica whose weights stop being
finite is set to zero and frozen; its validation metric reads ∞.

Every ``eval_every`` steps a row holds the validation metric (:func:`metrics`: the SBN's
:math:`-\log\frac1m\sum_i p(x_\text{bottom} \mid z_i)`, the VAE's −ELBO, with
``valid_samples`` samples), which picks ``best.pt``. The estimators are submodules of the
model (``model.estimators``), so their learned parts (NVIL's baseline, REBAR's η and τ) are
trained by the same step and checkpointed with it.

Example:
    Twenty steps of the categorical SBN on the 8×8 digits, then the run loaded back:

    >>> import tempfile
    >>> from reparam.runs import load_run
    >>> from reparam.train import RunOptions, run
    >>> out = tempfile.mkdtemp() + "/cell"
    >>> config = GumbelTable1Config(row="sbn-categorical", estimator="st-gumbel",
    ...     dataset="digits", steps=20, eval_every=10, lr=1e-3, valid_subset=50,
    ...     valid_samples=5, device="cpu")
    >>> result = run(GumbelTable1Trainer, config, RunOptions(out, progress=False, tensorboard=False))
    >>> [row["step"] for row in result.history], result.config.x_dim
    ([10, 20], 64)
    >>> type(load_run(out).model).__name__
    'SigmoidBeliefNet'
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import torch
from torch import Tensor, nn

from reparam.estimators import GumbelSoftmax, parse
from reparam.experiments.gumbel_table1_config import BOUNDS, GumbelTable1Config
from reparam.experiments.vae_build import load_split
from reparam.experiments.vae_evaluation import bounds
from reparam.models import CategoricalVAE
from reparam.models.bernoulli_vae import BernoulliVAE
from reparam.models.replicas import finite_replicas, replica_count, stack
from reparam.models.sbn import SigmoidBeliefNet
from reparam.train import Trainer
from reparam.train.distributed import Ranks


def temperature(step: int, rate: float, every: int) -> float:
    r""":math:`\tau = \max(0.5, e^{-r t})` with t the last multiple of ``every`` at or below
    ``step`` (the paper's N-step updates).

    >>> temperature(0, 1e-4, 500), round(temperature(1000, 1e-4, 500), 4)
    (1.0, 0.9048)
    """
    return max(0.5, math.exp(-rate * (step // every * every)))


def halves(data: Tensor) -> tuple[Tensor, Tensor]:
    """The top and bottom halves of flattened images (the first and last ⌊D/2⌋, ⌈D/2⌉
    pixels: for 28×28 digits, rows 1–14 and 15–28)."""
    top = data.shape[-1] // 2
    return data[..., :top], data[..., top:]


def build_network(config: GumbelTable1Config) -> nn.Module:
    """The row's model for ``config.x_dim`` pixels."""
    if config.x_dim is None:
        raise ValueError("the config records no x_dim: it needs the data's size")
    if config.family == "vae":
        if config.kind == "categorical":
            return CategoricalVAE(config.x_dim)
        return BernoulliVAE(config.x_dim)
    top = config.x_dim // 2
    if config.kind == "categorical":
        return SigmoidBeliefNet(top, config.x_dim - top, "categorical", units=20, classes=10)
    return SigmoidBeliefNet(top, config.x_dim - top, "bernoulli", units=200)


def build_model(config: GumbelTable1Config) -> nn.Module:
    """:func:`build_network` (stacked into ``config.replicas`` replicas when ``lr`` is a
    tuple) holding its estimators as ``model.estimators``: one object a stochastic layer for
    the SBN's per-sample estimators, else one. A spec that is not in the vocabulary raises
    ``ValueError`` (``unknown estimator ...``), and so does an estimator that couples the
    rows of a batch when there are replicas."""
    model = build_network(config)
    objective = "iwae" if config.estimator in BOUNDS else "elbo"
    count = len(model.maps) if isinstance(model, SigmoidBeliefNet) and objective == "elbo" else 1
    estimators = [parse(config.estimator, objective=objective) for _ in range(count)]
    if config.replicas is not None:
        if estimators[0].couples_rows:
            raise ValueError(
                f"--estimator {config.estimator} learns from the whole batch, so replicas "
                f"would share it: give one --lr a run"
            )
        model = stack(model, config.replicas)
    model.add_module("estimators", nn.ModuleList(estimators))  # type: ignore[arg-type]
    return model


def loss(model: nn.Module, config: GumbelTable1Config, data: Tensor) -> Tensor:
    """The training loss of each row of ``data``, ``[B]``, or ``[R, B]`` for replicas (each
    sees the same rows; see the module docstring)."""
    replicas = replica_count(model)
    if replicas is not None:
        data = data.expand(replicas, *data.shape)
    estimators = list(model.estimators)  # type: ignore[arg-type]
    bound = config.estimator in BOUNDS
    if isinstance(model, SigmoidBeliefNet):
        x, y = halves(data)
        if bound:
            return model.bound(x, y, config.k, estimators[0])
        return model.loss(x, y, estimators, n=config.k)
    objective = "iwae" if bound else "elbo"
    return -model.bound(data, objective=objective, k=config.k, estimator=estimators[0])  # type: ignore[operator]


@torch.no_grad()
def metrics(model: nn.Module, data: Tensor, m: int, batch_size: int = 100) -> dict[str, Tensor]:
    r"""The table's metrics, averaged over the rows of ``data``, with ``m`` samples: the SBN's
    ``nll`` :math:`-\log\frac1m\sum_i p(x_\text{bottom} \mid z_i)`; the VAE's
    ``negative_elbo`` and ``nll`` :math:`-\mathcal L_m`. Each a 0-dim tensor, or ``[R]``,
    one a replica, for a stacked model."""
    model.eval()
    replicas = replica_count(model)
    sums: dict[str, Tensor] = {}
    for rows in data.split(batch_size):
        if replicas is not None:
            rows = rows.expand(replicas, *rows.shape)
        if isinstance(model, SigmoidBeliefNet):
            parts = {"nll": model.nll(*halves(rows), m=m, chunk=min(m, 100))}
        else:
            bound, elbo = bounds(model, rows, m, min(m, 100))  # type: ignore[arg-type]
            parts = {"negative_elbo": -elbo, "nll": -bound}
        for name, value in parts.items():
            sums[name] = sums.get(name, 0.0) + value.double().sum(-1)
    model.train()
    return {name: total / len(data) for name, total in sums.items()}


def main_metric(config: GumbelTable1Config) -> str:
    """The table's number for the row: the SBN's NLL, the VAE's −ELBO."""
    return "nll" if config.family == "sbn" else "negative_elbo"


class GumbelTable1Trainer(Trainer):
    """``reparam repro gumbel-table1``'s runs: one model, estimator and learning rate each."""

    name, command, Config, unit = (
        "gumbel-table1",
        "repro gumbel-table1",
        GumbelTable1Config,
        "period",
    )
    monitor = "valid"

    def __init__(self, config: GumbelTable1Config, ranks: Ranks) -> None:
        device = ranks.device
        train = load_split(config.dataset, "train", config.data_dir, config.subset)
        valid = load_split(config.dataset, "valid", config.data_dir, config.valid_subset)
        if config.x_dim is not None and config.x_dim != train.shape[1]:
            raise ValueError(
                f"--dataset {config.dataset} has {train.shape[1]} values a row, but the run "
                f"was trained on {config.x_dim}"
            )
        self.config = replace(config, x_dim=train.shape[1], device=str(device))
        self.ranks = ranks
        self.train_x, self.valid_x = train.to(device), valid.to(device)
        torch.manual_seed(config.seed)
        self.model = build_model(self.config).to(device)
        self.materialize()
        network = [p for n, p in self.model.named_parameters() if not n.startswith("estimators.")]
        learned = list(self.model.estimators.parameters())  # type: ignore[union-attr]
        # replicas: SGD at rate 1 on the loss sum_r lr_r L_r, which is SGD at lr_r on each
        rate = config.lr if config.replicas is None else 1.0
        self.optimizer = torch.optim.SGD(network, lr=rate, momentum=config.momentum)
        self.rates = torch.tensor(config.rates, device=device)
        self.alive = torch.ones(len(config.rates), dtype=torch.bool, device=device)
        # the estimators' learned parts (NVIL's baseline, REBAR's η and τ, RELAX's surrogate)
        # by Adam, as in their papers: their variance objectives' gradients are far larger
        # than the model's, and SGD at the model's rate makes η and τ diverge
        self.control = torch.optim.Adam(learned, lr=config.control_lr) if learned else None
        self.total, self.count = torch.zeros(len(config.rates), dtype=torch.float64), 0

    def materialize(self) -> None:
        """One forward and backward pass on a few rows, so that lazy parts of an estimator
        (NVIL's baseline network) get their sizes before the optimiser sees them, and an
        estimator that does not apply to the row fails here, with its own message. Torch's
        generator and the estimators' buffers (running means, step counts) are left as
        they were."""
        buffers = {name: b.clone() for name, b in self.model.named_buffers()}
        with torch.random.fork_rng(devices=[]):
            loss(self.model, self.config, self.train_x[:4]).mean().backward()
        self.model.zero_grad(set_to_none=True)
        with torch.no_grad():
            for name, buffer in self.model.named_buffers():
                buffer.copy_(buffers[name])

    @property
    def periods(self) -> int:
        return math.ceil(self.config.steps / self.config.eval_every)

    def steps_in(self, period: int) -> int:
        every = self.config.eval_every
        return min(every, self.config.steps - period * every)

    def start_period(self, period: int) -> None:
        self.total, self.count = torch.zeros_like(self.total), 0

    def temperature(self, step: int) -> float | None:
        config = self.config
        if not config.relaxed:
            return None
        return temperature(step, config.temperature_rate, config.temperature_every)

    def train_step(self, period: int, index: int) -> None:
        config = self.config
        step = period * config.eval_every + index
        tau = self.temperature(step)
        for estimator in self.model.estimators:  # type: ignore[union-attr]
            if tau is not None and isinstance(estimator, GumbelSoftmax):
                estimator.temperature = tau
        rows = torch.randint(len(self.train_x), (config.batch_size,))
        losses = loss(self.model, config, self.train_x[rows.to(self.train_x.device)]).mean(-1)
        value = losses if config.replicas is None else (self.rates * self.alive * losses).sum()
        self.model.zero_grad(set_to_none=True)
        value.backward()
        self.optimizer.step()
        if self.control is not None:
            self.control.step()
        if config.replicas is not None:
            self.freeze_diverged()
        self.total += losses.detach().double().cpu().reshape(-1)
        self.count += 1

    @torch.no_grad()
    def freeze_diverged(self) -> None:
        """Zero and freeze the replicas whose weights stopped being finite (their momentum
        too), so that their NaNs reach no other replica's numbers."""
        dead = self.alive & ~finite_replicas(self.model)
        if not bool(dead.any()):
            return
        self.alive &= ~dead
        for group in self.optimizer.param_groups:
            for p in group["params"]:
                p[dead] = 0.0
                momentum = self.optimizer.state.get(p, {}).get("momentum_buffer")
                if momentum is not None:
                    momentum[dead] = 0.0

    def end_period(self, period: int) -> dict[str, Any]:
        config = self.config
        train = (self.total / max(self.count, 1)).tolist()
        if config.replicas is None:
            finite = all(bool(torch.isfinite(p).all()) for p in self.model.parameters())
        else:
            finite = bool(self.alive.any())
        values = [math.inf] * len(config.rates)  # a diverged run (a non-finite weight) ranks last
        if finite:
            found = metrics(self.model, self.valid_x, config.valid_samples)[main_metric(config)]
            found = found.where(self.alive.to(found.device), math.inf)
            values = found.reshape(-1).tolist()
        best = min(range(len(values)), key=values.__getitem__)
        row: dict[str, Any] = {"lr": config.rates[best]}
        tau = self.temperature(period * config.eval_every + self.steps_in(period) - 1)
        if tau is not None:
            row["temperature"] = tau
        row["train_loss"], row["valid_metric"] = train[best], values[best]
        row["valid"] = -values[best] if math.isfinite(values[best]) else -math.inf
        if config.replicas is not None:  # every replica's numbers; lr, valid: the best's
            for rate, value, train_loss in zip(config.rates, values, train, strict=True):
                row[f"valid_metric_lr{rate:g}"] = value
                row[f"train_loss_lr{rate:g}"] = train_loss
        return row

    def state_dict(self) -> dict[str, Any]:
        state = {
            "optimizer": self.optimizer.state_dict(),
            "total": self.total,
            "count": self.count,
            "alive": self.alive,
        }
        if self.control is not None:
            state["control"] = self.control.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        if self.control is not None:
            self.control.load_state_dict(state["control"])
        # runs saved before replicas kept a float total and no alive mask
        self.total = torch.as_tensor(state["total"], dtype=torch.float64).reshape(-1)
        self.count = state["count"]
        if "alive" in state:
            self.alive = state["alive"].to(self.alive.device)

    def summary(self, row: dict[str, Any]) -> str:
        return f"train_loss {row['train_loss']:.2f}  valid {row['valid_metric']:.2f}"

    @classmethod
    def build_model(cls, config: GumbelTable1Config) -> nn.Module:  # type: ignore[override]
        return build_model(config)

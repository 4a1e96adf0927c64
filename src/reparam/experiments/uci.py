r"""The UCI regression benchmark of Hernández-Lobato & Adams (2015) for Bayesian MLPs.

Protocol: for each standard split, one hidden layer of ReLU units (50; 100 for protein), inputs
and targets normalized with the training part's mean and standard deviation, a Gaussian
likelihood whose noise scale is learned, and test RMSE and test log-likelihood in the original
units, :math:`\log \frac1S \sum_s N(y; f_s(x), σ^2)` with S posterior draws. Reported: mean ±
standard error over the splits.

Hyperparameters are chosen on the training part only: each split's training rows are cut into
80 % fit / 20 % validation; every candidate prior scale is trained on the fit part and the
(prior scale, epoch) with the best validation log-likelihood is kept. The model is then
retrained on the whole training part with that prior and read at that epoch.

All splits and candidates train at once, as replicas of one network (``batch_shape``): Adam's
update is elementwise, so this is exactly independent training, in one batched pass.

References:
    Hernández-Lobato & Adams (2015), Probabilistic backpropagation for scalable learning of
    Bayesian neural networks, ICML.
    Gal & Ghahramani (2016), Dropout as a Bayesian approximation, ICML.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from torch import Tensor

from reparam.bayes import NormalPrior, kl, kl_weights
from reparam.bayes.predict import gaussian_log_likelihood
from reparam.data.uci import UCIDataset, load_uci
from reparam.models.bnn import BayesMLP
from reparam.train.distributed import resolve_device


@dataclass(frozen=True)
class UCIConfig:
    """One UCI run. ``epochs`` and ``batch_size`` default per data set (``budget``)."""

    dataset: str
    estimator: str = "local"
    epochs: int | None = None
    batch_size: int | None = None
    lr: float = 1e-3
    prior_sigmas: tuple[float, ...] = (0.1, 0.3, 1.0)
    checkpoints: int = 20
    valid_fraction: float = 0.2
    samples: int = 100
    kl_weighting: str = "uniform"
    init_std: float = 1e-3
    splits: int | None = None
    device: str = "auto"
    seed: int = 0
    data_dir: str | None = None
    out: str | None = None


@dataclass
class Scaled:
    """Inputs and targets of every replica [R, N, ·], normalized by the statistics of each
    replica's training part; ``y_mean``/``y_std`` [R] map predictions back."""

    x: Tensor
    y: Tensor
    y_mean: Tensor
    y_std: Tensor


@dataclass
class UCIResult:
    """Per-split test RMSE and log-likelihood (original units) and what was chosen."""

    dataset: str
    rmse: list[float]
    log_likelihood: list[float]
    prior_sigma: list[float]
    epochs: list[int]
    seconds: float
    config: dict = field(default_factory=dict)

    @staticmethod
    def summary(values: list[float]) -> tuple[float, float]:
        """Mean and standard error over splits."""
        tensor = torch.tensor(values, dtype=torch.float64)
        se = tensor.std() / math.sqrt(len(values)) if len(values) > 1 else torch.tensor(0.0)
        return float(tensor.mean()), float(se)


def budget(data: UCIDataset) -> tuple[int, int]:
    """Default (epochs, batch size): about 12 000 steps on the fit part, of 32 rows on the
    small sets and of 128 on those over 5000 rows, between 40 and 1000 epochs."""
    rows = len(data.train[0])
    batch = 32 if rows < 5000 else 128
    steps_per_epoch = math.ceil(rows * 0.8 / batch)
    return max(40, min(1000, 12_000 // steps_per_epoch)), batch


def scale(x: Tensor, y: Tensor, fit: Tensor, *parts: Tensor) -> tuple[Scaled, ...]:
    """Normalize the rows ``fit`` [R, N] (and the other ``parts``) of x [n, D] and y [n] with the
    statistics of ``fit``; constant inputs keep a scale of one."""
    x_fit, y_fit = x[fit], y[fit]
    x_mean, x_std = x_fit.mean(1, keepdim=True), x_fit.std(1, keepdim=True)
    x_std = torch.where(x_std > 0, x_std, torch.ones_like(x_std))
    y_mean, y_std = y_fit.mean(1), y_fit.std(1)
    return tuple(
        Scaled(
            ((x[rows] - x_mean) / x_std).float(),
            ((y[rows] - y_mean[:, None]) / y_std[:, None]).float(),
            y_mean,
            y_std,
        )
        for rows in (fit, *parts)
    )


@torch.no_grad()
def held_out_metrics(model: BayesMLP, data: Scaled, samples: int) -> tuple[Tensor, Tensor]:
    """RMSE and mean log-likelihood [R] in the original units of every replica."""
    outputs = torch.stack([model(data.x) for _ in range(samples)]).double()
    noise = model.log_noise_std.double().exp()[:, None]
    log_lik = gaussian_log_likelihood(outputs, data.y.double(), noise).mean(-1)
    y_std = data.y_std.to(outputs)
    rmse = ((outputs.mean(0) - data.y.double()) ** 2).mean(-1).sqrt() * y_std
    return rmse, log_lik - torch.log(y_std)


def fit(
    model: BayesMLP,
    train: Scaled,
    evaluate: Scaled,
    config: UCIConfig,
    epochs: int,
    batch_size: int,
    on_epoch: Callable[[], None] = lambda: None,
) -> tuple[list[int], Tensor, Tensor]:
    """Train every replica on ``train`` with loss π_i·KL − log p(D_i | w) per minibatch (divided
    by the rows, for Adam's scale), reading ``evaluate``'s metrics at ``config.checkpoints``
    evenly spaced epochs: (epochs, RMSE [C, R], log-likelihood [C, R])."""
    replicas, rows = train.y.shape
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    batches = math.ceil(rows / batch_size)
    weights = kl_weights(batches, config.kl_weighting).tolist()
    marks = sorted(
        {max(1, epochs * (c + 1) // config.checkpoints) for c in range(config.checkpoints)}
    )
    replica = torch.arange(replicas, device=train.x.device)[:, None]
    rmse, log_lik = [], []
    for epoch in range(1, epochs + 1):
        order = torch.rand(replicas, rows, device=train.x.device).argsort(1)
        for i, weight in enumerate(weights):
            rows_i = order[:, i * batch_size : (i + 1) * batch_size]
            x, y = train.x[replica, rows_i], train.y[replica, rows_i]
            loss = (weight * kl(model) - model.log_likelihood(x, y)).sum() / rows
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        if epoch in marks:
            metrics = held_out_metrics(model, evaluate, config.samples)
            rmse.append(metrics[0])
            log_lik.append(metrics[1])
        on_epoch()
    return marks, torch.stack(rmse), torch.stack(log_lik)


def build(config: UCIConfig, inputs: int, hidden: int, sigmas: Tensor) -> BayesMLP:
    """One replica per entry of ``sigmas``, the prior scale of each."""
    return BayesMLP(
        [inputs, hidden, 1],
        task="regression",
        estimator=config.estimator,
        prior=NormalPrior(sigmas),
        init_std=config.init_std,
        batch_shape=(len(sigmas),),
    )


def run_uci(config: UCIConfig, progress: bool | None = None) -> UCIResult:
    """Run the protocol of the module docstring on ``config.dataset`` (a short name such as
    ``"boston"``, or ``"uci:boston"``); write ``results.json`` to ``config.out`` if given."""
    start = time.perf_counter()
    data = load_uci(config.dataset, config.data_dir)
    device = resolve_device(config.device)
    splits = min(config.splits or data.splits, data.splits)
    default_epochs, default_batch = budget(data)
    epochs, batch_size = config.epochs or default_epochs, config.batch_size or default_batch
    if not 0 < config.valid_fraction < 1:
        raise ValueError(f"valid_fraction must lie in (0, 1), got {config.valid_fraction}")
    generator = torch.Generator().manual_seed(config.seed)
    torch.manual_seed(config.seed)
    x, y = data.x.to(device), data.y.to(device)
    if len({len(rows) for rows in data.train[:splits]}) > 1:
        raise ValueError(
            f"{data.name}: the splits' training parts differ in size; the protocol "
            "trains them side by side and needs one size"
        )
    train_rows = torch.stack(data.train[:splits]).to(device)
    test_rows = torch.stack(data.test[:splits]).to(device)
    shuffled = train_rows[:, torch.randperm(train_rows.shape[1], generator=generator)]
    n_valid = round(config.valid_fraction * shuffled.shape[1])
    candidates = len(config.prior_sigmas)
    show = sys.stdout.isatty() if progress is None else progress
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[info]}"))
    with Progress(*columns, TimeRemainingColumn(), disable=not show) as bar:
        task = bar.add_task(
            f"{data.name}: {splits} splits × {candidates} priors", total=2 * epochs, info="select"
        )

        def tick() -> None:
            bar.update(task, advance=1)

        fit_part, valid_part = (
            part.repeat_interleave(candidates, 0)
            for part in (shuffled[:, n_valid:], shuffled[:, :n_valid])
        )
        sigmas = torch.tensor(config.prior_sigmas, device=device).repeat(splits)
        model = build(config, x.shape[1], data.hidden, sigmas).to(device)
        marks, _, valid_ll = fit(
            model, *scale(x, y, fit_part, valid_part), config, epochs, batch_size, tick
        )
        best = valid_ll.T.reshape(splits, candidates * len(marks)).argmax(1)
        chosen = [config.prior_sigmas[c] for c in (best // len(marks)).tolist()]
        chosen_sigma = torch.tensor(chosen, device=device)
        chosen_mark = best % len(marks)
        bar.update(task, info="retrain")
        model = build(config, x.shape[1], data.hidden, chosen_sigma).to(device)
        _, rmse, log_lik = fit(
            model, *scale(x, y, train_rows, test_rows), config, epochs, batch_size, tick
        )
    index = torch.arange(splits, device=device)
    result = UCIResult(
        dataset=data.name,
        rmse=rmse[chosen_mark, index].tolist(),
        log_likelihood=log_lik[chosen_mark, index].tolist(),
        prior_sigma=chosen,
        epochs=[marks[m] for m in chosen_mark.tolist()],
        seconds=time.perf_counter() - start,
        config={**asdict(config), "epochs": epochs, "batch_size": batch_size, "splits": splits},
    )
    if config.out:
        out = Path(config.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.json").write_text(json.dumps(asdict(result), indent=1))
    return result

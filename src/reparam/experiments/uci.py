r"""The UCI regression benchmark of Hernández-Lobato & Adams (2015) for Bayesian MLPs, on the
run engine.

Protocol: for each standard split, one hidden layer of ReLU units (50; 100 for protein), inputs
and targets normalized with the training part's mean and standard deviation, a Gaussian
likelihood whose noise scale is learned, and test RMSE and test log-likelihood in the original
units, :math:`\log \frac1S \sum_s N(y; f_s(x), σ^2)` with S posterior draws. Reported: mean ±
standard error over the splits. Each minibatch i of M pays
:math:`F_i = π_i \mathrm{KL}(q\,\|\,p) - \log p(D_i \mid w)` (divided by the rows, for Adam's
scale), with the prior :math:`N(0, s^2)`.

Hyperparameters are chosen on the training part only. The run has two phases of ``epochs``
epochs each, the engine's periods ``0 … 2·epochs − 1``:

1. *selection*: each split's training rows are cut into 80 % fit / 20 % validation; every
   candidate prior scale s is trained on the fit part, the validation log-likelihood is read at
   ``checkpoints`` evenly spaced epochs, and the (s, epoch) with the best one is chosen;
2. *retraining*: the model is retrained on the whole training part with that prior, and read on
   the test part at that epoch: the networks of that epoch are kept (``model["chosen"]``).

All splits and candidates train at once, as replicas of one network (``batch_shape``): Adam's
update is elementwise, so this is exactly independent training, in one batched pass. That is
why there is no DistributedDataParallel here: the replicas already fill a device, and a data
set is one process.

The run folder holds the engine's files and ``results.json`` / ``results.md`` (the table row).
``self.model`` holds three sets of networks: ``select`` (splits × candidates, the selection
phase), ``final`` (one per split, retrained, at the last epoch) and ``chosen`` (a
:class:`~reparam.experiments.bnn_predictive.UCIPredictor`: each split's retrained network at
its chosen epoch, with its normalization — the networks the test figures are read from).

Example:
    Two splits of yacht, 20 epochs a phase (the files in ``$REPARAM_DATA/uci/yacht``):

    >>> result = run_uci(UCIConfig("uci:yacht", splits=2, epochs=20), "runs/yacht")  # doctest: +SKIP
    >>> print(result.summary())  # doctest: +SKIP
    yacht, 2 splits: test RMSE …, test log-likelihood … (… s)

    The selection phase reads the validation part at these epochs of 60:

    >>> checkpoint_epochs(60, 4)
    [15, 30, 45, 60]

References:
    Hernández-Lobato & Adams (2015), Probabilistic backpropagation for scalable learning of
    Bayesian neural networks, ICML.
    Gal & Ghahramani (2016), Dropout as a Bayesian approximation, ICML.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from reparam.bayes import SCHEMES, NormalPrior, kl, kl_weights
from reparam.bayes.layers import ESTIMATORS, BayesLinear
from reparam.bayes.predict import gaussian_log_likelihood
from reparam.data.uci import PREFIX, UCIDataset, load_uci, resolve
from reparam.experiments.bnn_options import check_seed_and_device
from reparam.experiments.bnn_predictive import RegressionPredictive, UCIPredictor
from reparam.models.bnn import BayesMLP
from reparam.train import RunConfig, RunError, RunOptions, Trainer, run
from reparam.train.compile import maybe_compile
from reparam.train.config import one_of, positive
from reparam.train.distributed import Ranks

PHASES = ("select", "retrain")


@dataclass(frozen=True)
class UCIConfig(RunConfig):
    """One UCI run (see the module docstring).

    ``epochs`` and ``batch_size`` default per data set (:func:`budget`), ``splits`` to all the
    set's standard splits; the trainer resolves them, and records the data's ``inputs`` and the
    standard network's ``hidden_units``, so that ``config.json`` says exactly what ran.
    ``prior_sigmas``: the candidate prior scales s of N(0, s²). ``checkpoints``: the epochs of
    each phase at which the held-out part is read. ``samples``: the posterior draws S of the
    held-out figures. ``init_std``: the posterior's initial σ (default 0.001).
    """

    ENDS = ("epochs",)
    FREE = ("device", "data_dir")

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
    init_std: float | None = None
    splits: int | None = None
    seed: int = 0
    device: str = "auto"
    compile: bool = False
    data_dir: str | None = None
    inputs: int | None = None
    hidden_units: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "dataset", PREFIX + resolve(self.dataset))
        if self.init_std is None:
            object.__setattr__(self, "init_std", 1e-3)
        one_of("--estimator", self.estimator, ESTIMATORS)
        one_of("--kl-weighting", self.kl_weighting, SCHEMES)
        for name in ("epochs", "batch_size", "checkpoints", "samples", "splits"):
            positive("--" + name.replace("_", "-"), getattr(self, name), integer=True)
        for name in ("inputs", "hidden_units"):
            positive(name, getattr(self, name), integer=True)
        positive("--lr", self.lr)
        positive("--init-std", self.init_std)
        check_seed_and_device(self.seed, self.device)
        if not 0 < self.valid_fraction < 1:
            raise ValueError(f"--valid-fraction must lie in (0, 1); got {self.valid_fraction}")
        sigmas = tuple(self.prior_sigmas)
        if not sigmas or not all(
            isinstance(s, int | float) and math.isfinite(s) and s > 0 for s in sigmas
        ):
            raise ValueError(f"--prior-sigmas must be positive numbers; got {sigmas}")
        object.__setattr__(self, "prior_sigmas", tuple(float(s) for s in sigmas))

    @classmethod
    def resumed(cls, saved: dict[str, Any], given: dict[str, Any]) -> UCIConfig:
        """As :meth:`RunConfig.resumed`, except that ``epochs`` may not change either: it is the
        length of both phases and sets the epochs where the held-out part is read."""
        if "epochs" in given and given["epochs"] != saved.get("epochs"):
            raise RunError(
                f"--resume keeps the run's settings, but --epochs {given['epochs']} (the run "
                f"has {saved.get('epochs')}): the UCI protocol's phases are that long. Drop "
                "--epochs, or start a new run (another --out, or --overwrite)"
            )
        return super().resumed(saved, given)


@dataclass(frozen=True)
class Scaled:
    """Inputs and targets of every replica [R, N, ·], normalized by the statistics of each
    replica's training part: ``x_mean``/``x_std`` [R, 1, D] and ``y_mean``/``y_std`` [R]
    (float64) map them back."""

    x: Tensor
    y: Tensor
    x_mean: Tensor
    x_std: Tensor
    y_mean: Tensor
    y_std: Tensor


@dataclass(frozen=True)
class UCIResult:
    """Per-split test RMSE and log-likelihood (original units) and the prior scale and epoch
    chosen on validation, with the training time."""

    dataset: str
    rmse: tuple[float, ...]
    log_likelihood: tuple[float, ...]
    prior_sigma: tuple[float, ...]
    epochs: tuple[int, ...]
    seconds: float

    def summary(self) -> str:
        rmse, rmse_se = mean_and_se(self.rmse)
        ll, ll_se = mean_and_se(self.log_likelihood)
        return (
            f"{self.dataset}, {len(self.rmse)} splits: test RMSE {rmse:.4g} ± {rmse_se:.2g}, "
            f"test log-likelihood {ll:.4g} ± {ll_se:.2g} ({self.seconds:.0f} s)"
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> UCIResult:
        return cls(
            values["dataset"],
            *(tuple(values[k]) for k in ("rmse", "log_likelihood", "prior_sigma", "epochs")),
            values["seconds"],
        )

    @classmethod
    def read(cls, folder: str | Path) -> UCIResult:
        """The result a finished run wrote into ``folder/results.json``."""
        path = Path(folder) / "results.json"
        if not path.exists():
            raise FileNotFoundError(f"no {path}: the run in {folder} has not finished")
        return cls.from_dict(json.loads(path.read_text())["result"])


def mean_and_se(values: tuple[float, ...] | list[float]) -> tuple[float, float]:
    """Mean and standard error over splits (0 for one split).

    >>> mean_and_se([1.0, 3.0])
    (2.0, 1.0)
    """
    tensor = torch.tensor(values, dtype=torch.float64)
    se = float(tensor.std() / math.sqrt(len(values))) if len(values) > 1 else 0.0
    return float(tensor.mean()), se


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
            x_mean,
            x_std,
            y_mean,
            y_std,
        )
        for rows in (fit, *parts)
    )


@torch.no_grad()
def held_out_metrics(model: nn.Module, data: Scaled, samples: int) -> tuple[Tensor, Tensor]:
    """RMSE and mean log-likelihood [R] in the original units of every replica."""
    outputs = torch.stack([model(data.x) for _ in range(samples)]).double()
    noise = model.log_noise_std.double().exp()[:, None]
    log_lik = gaussian_log_likelihood(outputs, data.y.double(), noise).mean(-1)
    y_std = data.y_std.to(outputs)
    rmse = ((outputs.mean(0) - data.y.double()) ** 2).mean(-1).sqrt() * y_std
    return rmse, log_lik - torch.log(y_std)


def network(config: UCIConfig, sigmas: Tensor) -> BayesMLP:
    """One replica per entry of ``sigmas``, the prior scale of each."""
    assert config.inputs is not None and config.hidden_units is not None
    assert config.init_std is not None
    return BayesMLP(
        [config.inputs, config.hidden_units, 1],
        task="regression",
        estimator=config.estimator,
        prior=NormalPrior(sigmas),
        init_std=config.init_std,
        batch_shape=(len(sigmas),),
    )


def set_prior(model: BayesMLP, sigmas: Tensor) -> None:
    """Give every layer of ``model`` the prior N(0, s²) with one s per replica."""
    for layer in model.layers:
        if isinstance(layer, BayesLinear):
            layer.prior = NormalPrior(sigmas)


def minibatch_loss(model: BayesMLP, x: Tensor, y: Tensor, weight: Tensor, rows: int) -> Tensor:
    """(π_i·KL − log p(D_i | w)) / rows, summed over the replicas."""
    # the forward first: its layers compute the KL in the same pass, and kl() returns it
    return (-model.log_likelihood(x, y) + weight * kl(model)).sum() / rows


def checkpoint_epochs(epochs: int, checkpoints: int) -> list[int]:
    """The epochs (1-based) of a phase at which the held-out part is read.

    >>> checkpoint_epochs(60, 4)
    [15, 30, 45, 60]
    """
    return sorted({max(1, epochs * (c + 1) // checkpoints) for c in range(checkpoints)})


@dataclass(frozen=True)
class Phase:
    """What one phase trains on: the replicas' training and held-out data and its minibatch
    KL weights."""

    name: str
    train: Scaled
    held_out: Scaled
    weights: Tensor

    @property
    def rows(self) -> int:
        return self.train.y.shape[1]


def resolve_config(config: UCIConfig, data: UCIDataset) -> UCIConfig:
    """``config`` with its per-data-set defaults resolved and the data's shapes recorded."""
    if config.splits is not None and config.splits > data.splits:
        raise ValueError(
            f"--splits must be at most {data.splits} ({data.name} has {data.splits} standard "
            f"splits); got {config.splits}"
        )
    epochs, batch_size = budget(data)
    resolved = replace(
        config,
        epochs=config.epochs or epochs,
        batch_size=config.batch_size or batch_size,
        splits=config.splits or data.splits,
        inputs=data.x.shape[1],
        hidden_units=data.hidden,
    )
    for name in ("inputs", "hidden_units"):
        if getattr(config, name) not in (None, getattr(resolved, name)):
            raise ValueError(
                f"{name} {getattr(config, name)} does not match the data ({getattr(resolved, name)})"
            )
    return resolved


class UCITrainer(Trainer):
    """The protocol of the module docstring on the engine: periods ``0 … epochs − 1`` select,
    ``epochs … 2·epochs − 1`` retrain."""

    name = "bnn-uci"
    command = "train bnn"
    Config = UCIConfig
    outputs = ("results.json", "results.md")

    def __init__(self, config: UCIConfig, ranks: Ranks) -> None:
        if ranks.world > 1:
            raise ValueError(
                "bnn-uci trains every split side by side in one process; run it without torchrun"
            )
        data = load_uci(config.dataset, config.data_dir)
        self.config = config = resolve_config(config, data)
        assert config.splits is not None and config.batch_size is not None
        device = self.device = ranks.device
        splits, candidates = config.splits, len(config.prior_sigmas)
        if len({len(rows) for rows in data.train[:splits]}) > 1:
            raise ValueError(
                f"{data.name}: the splits' training parts differ in size; the protocol "
                "trains them side by side and needs one size"
            )
        generator = torch.Generator().manual_seed(config.seed)
        torch.manual_seed(config.seed)
        x, y = data.x.to(device), data.y.to(device)
        train_rows = torch.stack(data.train[:splits]).to(device)
        test_rows = torch.stack(data.test[:splits]).to(device)
        shuffled = train_rows[:, torch.randperm(train_rows.shape[1], generator=generator)]
        n_valid = round(config.valid_fraction * shuffled.shape[1])
        if not 0 < n_valid < shuffled.shape[1]:
            raise ValueError(
                f"--valid-fraction {config.valid_fraction} leaves no validation or no fit rows "
                f"of {shuffled.shape[1]}"
            )
        fit_part, valid_part = (
            part.repeat_interleave(candidates, 0)
            for part in (shuffled[:, n_valid:], shuffled[:, :n_valid])
        )
        self.phases = (
            self.phase("select", *scale(x, y, fit_part, valid_part)),
            self.phase("retrain", *scale(x, y, train_rows, test_rows)),
        )
        self.model = self.build_model(config).to(device)
        chosen, retrain = self.model["chosen"], self.phases[1].train
        chosen.x_mean.copy_(retrain.x_mean)
        chosen.x_std.copy_(retrain.x_std)
        chosen.y_mean.copy_(retrain.y_mean[:, None])
        chosen.y_std.copy_(retrain.y_std[:, None])
        self.networks = (self.model["select"], self.model["final"])
        self.optimizers = tuple(
            torch.optim.Adam(net.parameters(), lr=config.lr) for net in self.networks
        )
        self.losses = tuple(
            maybe_compile(lambda *a, net=net: minibatch_loss(net, *a), config.compile)
            for net in self.networks
        )
        self.marks = checkpoint_epochs(config.epochs, config.checkpoints)
        figures = {"fill_value": float("nan"), "dtype": torch.float64, "device": device}
        self.valid_ll = torch.full((len(self.marks), splits * candidates), **figures)
        self.test_rmse = torch.full((len(self.marks), splits), **figures)
        self.test_ll = torch.full((len(self.marks), splits), **figures)
        self.best = torch.full((splits,), -1, dtype=torch.long, device=device)
        self.order = torch.zeros(0, dtype=torch.long)
        self.loss_sum = torch.zeros((), device=device)

    def phase(self, name: str, train: Scaled, held_out: Scaled) -> Phase:
        assert self.config.batch_size is not None
        batches = math.ceil(train.y.shape[1] / self.config.batch_size)
        weights = kl_weights(batches, self.config.kl_weighting).float().to(self.device)
        return Phase(name, train, held_out, weights)

    @classmethod
    def build_model(cls, config: UCIConfig) -> nn.ModuleDict:
        assert config.splits is not None and config.inputs is not None
        sigmas = torch.tensor(config.prior_sigmas).repeat(config.splits)
        ones = torch.ones(config.splits)
        return nn.ModuleDict(
            {
                "select": network(config, sigmas),
                "final": network(config, ones),
                "chosen": UCIPredictor(network(config, ones), config.inputs),
            }
        )

    @classmethod
    def exportable(
        cls, model: nn.Module, config: UCIConfig
    ) -> tuple[nn.Module, tuple[Tensor, ...]]:
        """Every split's network at its chosen epoch, as a predictive mean and standard
        deviation [splits, N] of inputs [N, D] in the data's units (``config.samples``
        draws)."""
        assert config.inputs is not None
        predictive = RegressionPredictive(model["chosen"], config.samples)
        return predictive, (torch.zeros(2, config.inputs),)

    @property
    def periods(self) -> int:
        assert self.config.epochs is not None
        return 2 * self.config.epochs

    def where(self, period: int) -> tuple[int, int]:
        """The phase (0: select, 1: retrain) and its 1-based epoch of ``period``."""
        assert self.config.epochs is not None
        return divmod(period, self.config.epochs)[0], period % self.config.epochs + 1

    def steps_in(self, period: int) -> int:
        return len(self.phases[self.where(period)[0]].weights)

    def start_period(self, period: int) -> None:
        phase = self.phases[self.where(period)[0]]
        replicas = phase.train.y.shape[0]
        self.order = torch.rand(replicas, phase.rows, device=self.device).argsort(1)
        self.loss_sum = torch.zeros((), device=self.device)

    def train_step(self, period: int, index: int) -> None:
        which = self.where(period)[0]
        phase, batch = self.phases[which], self.config.batch_size
        assert batch is not None
        rows = self.order[:, index * batch : (index + 1) * batch]
        replica = torch.arange(rows.shape[0], device=self.device)[:, None]
        x, y = phase.train.x[replica, rows], phase.train.y[replica, rows]
        loss = self.losses[which](x, y, phase.weights[index], phase.rows)
        optimizer = self.optimizers[which]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        self.loss_sum += loss.detach()

    def end_period(self, period: int) -> dict[str, Any]:
        which, epoch = self.where(period)
        phase, net = self.phases[which], self.networks[which]
        row: dict[str, Any] = {
            "phase": phase.name,
            "phase_epoch": epoch,
            "loss": float(self.loss_sum) / phase.train.y.shape[0],
        }
        if epoch not in self.marks:
            return row
        mark = self.marks.index(epoch)
        rmse, log_lik = held_out_metrics(net, phase.held_out, self.config.samples)
        if which == 0:
            self.valid_ll[mark] = log_lik
            row["valid_ll"] = float(log_lik.mean())
            if mark == len(self.marks) - 1:
                self.choose()
        else:
            self.test_rmse[mark], self.test_ll[mark] = rmse, log_lik
            row["test_rmse"], row["test_ll"] = float(rmse.mean()), float(log_lik.mean())
            self.keep(mark)
        return row

    @property
    def chosen_mark(self) -> Tensor:
        """Each split's chosen checkpoint (an index into ``marks``)."""
        return self.best % len(self.marks)

    @property
    def chosen_sigma(self) -> list[float]:
        """Each split's chosen prior scale."""
        return [self.config.prior_sigmas[c] for c in (self.best // len(self.marks)).tolist()]

    def choose(self) -> None:
        """Each split's best (prior scale, epoch) on validation; the retraining's prior."""
        splits, candidates = len(self.best), len(self.config.prior_sigmas)
        self.best = self.valid_ll.T.reshape(splits, candidates * len(self.marks)).argmax(1)
        chosen = self.model["chosen"]
        chosen.prior_sigma.copy_(torch.tensor(self.chosen_sigma))
        chosen.epoch.copy_(torch.tensor(self.marks, device=self.device)[self.chosen_mark])
        self.set_priors()

    def set_priors(self) -> None:
        sigmas = torch.tensor(self.chosen_sigma, device=self.device)
        set_prior(self.model["final"], sigmas)
        set_prior(self.model["chosen"].net, sigmas)

    @torch.no_grad()
    def keep(self, mark: int) -> None:
        """Copy the retrained networks of the splits whose chosen epoch this is."""
        picked = self.chosen_mark == mark
        target = dict(self.model["chosen"].net.named_parameters())
        for name, value in self.model["final"].named_parameters():
            target[name][picked] = value[picked]

    def state_dict(self) -> dict[str, Any]:
        return {
            "optimizers": [o.state_dict() for o in self.optimizers],
            "order": self.order,
            "loss_sum": self.loss_sum,
            "valid_ll": self.valid_ll,
            "test_rmse": self.test_rmse,
            "test_ll": self.test_ll,
            "best": self.best,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for optimizer, saved in zip(self.optimizers, state["optimizers"], strict=True):
            optimizer.load_state_dict(saved)
        for name in ("order", "loss_sum", "valid_ll", "test_rmse", "test_ll", "best"):
            setattr(self, name, state[name].to(self.device))
        if bool((self.best >= 0).all()):
            self.set_priors()

    def summary(self, row: dict[str, Any]) -> str:
        held_out = "  ".join(
            f"{k} {row[k]:.4g}" for k in ("valid_ll", "test_rmse", "test_ll") if k in row
        )
        return f"{row['phase']} {row['phase_epoch']}  loss {row['loss']:.4g}  {held_out}"

    def result(self, history: list[dict[str, Any]]) -> UCIResult:
        """The test figures at each split's chosen epoch (a finished run)."""
        index = torch.arange(len(self.best), device=self.device)
        return UCIResult(
            dataset=self.config.dataset.removeprefix(PREFIX),
            rmse=tuple(self.test_rmse[self.chosen_mark, index].tolist()),
            log_likelihood=tuple(self.test_ll[self.chosen_mark, index].tolist()),
            prior_sigma=tuple(self.chosen_sigma),
            epochs=tuple(self.marks[m] for m in self.chosen_mark.tolist()),
            seconds=sum(row["seconds"] for row in history),
        )

    def draw(self, folder: Path, history: list[dict[str, Any]]) -> None:
        from reparam.experiments.uci_table import uci_table

        result = self.result(history)
        record = {"result": result.to_dict(), "config": self.config.to_dict()}
        (folder / "results.json").write_text(json.dumps(record, indent=1) + "\n")
        label = f"BayesLinear ({self.config.estimator}), N(0, s²) prior"
        (folder / "results.md").write_text(uci_table([result], label) + "\n")


def run_uci(
    config: UCIConfig,
    out: str | Path,
    *,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool | None = None,
) -> UCIResult:
    """Run the protocol with ``config`` in the run folder ``out`` (or continue it there, with
    ``resume``) and return its result."""
    run(UCITrainer, config, RunOptions(out, resume=resume, overwrite=overwrite, progress=progress))
    return UCIResult.read(out)

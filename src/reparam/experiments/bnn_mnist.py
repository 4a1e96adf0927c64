r"""MNIST classification with Bayes by Backprop against plain and dropout networks, on the run
engine.

Three ReLU networks of the same architecture (784–400–400–10 by default) are trained side by
side — each minibatch, in the same order, steps all three — and compared on held-out test
error, negative log-likelihood and expected calibration error (Blundell et al. 2015, Table 1,
with calibration added):

1. **BBB** (``bbb``): ``BayesMLP`` with a factorized Gaussian posterior and the scale-mixture
   prior :math:`p(w) = π N(0, σ_1^2) + (1 - π) N(0, σ_2^2)`, here π = 1/2, −log σ1 = 0,
   −log σ2 = 6 (one of Blundell et al.'s best MNIST settings). Each minibatch i of M pays
   :math:`F_i = π_i \mathrm{KL}(q\,\|\,p) - \log p(D_i \mid w)` with π_i from ``kl_weighting``
   (``"uniform"`` 1/M, or ``"blundell"`` 2^{M−i}/(2^M − 1)); the loss is F_i / N (N the
   training examples), so one epoch's losses add up to the negative ELBO per example. The
   default estimator is ``"local"`` (the local reparameterization trick: lower-variance
   gradients at about the cost of one weight draw, the better choice for short runs);
   ``"weight"`` with ``"blundell"`` weights is Bayes by Backprop as published.
2. **plain** (``sgd``): ``nn.Linear`` layers trained by maximum likelihood (mean
   cross-entropy), no regularisation.
3. **dropout** (``dropout``): the same with ``nn.Dropout(0.5)`` after each hidden ReLU (Hinton
   et al. 2012, Srivastava et al. 2014; no input dropout), evaluated as standard dropout (eval
   mode) and, with ``mc_dropout``, as MC dropout (Gal & Ghahramani 2016): dropout left on at
   test time and ``samples`` passes averaged.

All three use Adam at the same learning rate; "plain" names the non-Bayesian, unregularised
baseline of Blundell et al.'s table (their "SGD"). The plain and dropout networks start from
the same weights. There is no validation set, so no early stopping and no ``best.pt``: every
model is read after the last epoch.

Data: ``dataset="mnist-test"`` is the registry's ``mnist-resplit`` (MNIST's 10 000 labelled
test images, re-split: the first 8000 train, the last 2000 test; see ``reparam.data.mnist``:
its errors are not comparable to published MNIST numbers); ``dataset="digits"`` uses
scikit-learn's 8×8 digits (their train/test splits), for quick runs.

Evaluation on the test images, at the end of the run: the predictive probabilities
:math:`\bar p(y \mid x)` are averaged over ``samples`` posterior draws for BBB (and MC
dropout), in log space as :math:`\log \frac1S \sum_s p_s(y \mid x)`; test error is that of the
arg max; NLL is the mean :math:`-\log \bar p(y \mid x)` in nats; ECE uses ``bins``
equal-width bins (``reparam.diagnostics.calibration``). The evaluation draws from its own
seeded random stream, so it does not disturb training, and a run resumed to more epochs
equals a longer run.

Under ``torchrun`` each network is wrapped in DistributedDataParallel: every rank takes its
share of each minibatch (the KL term once, the likelihood scaled to the minibatch), the
gradients are averaged, and rank 0 writes the run folder.

The run folder gets the engine's files (``metrics.csv``: one row per epoch, a column group
per network), ``results.json``, ``results.md`` (the table) and ``reliability.png``.

Example:
    >>> import tempfile
    >>> from reparam.train import RunOptions, run
    >>> config = MNISTConfig(dataset="digits", hidden=(16,), epochs=1, samples=2,
    ...                      train_size=200, device="cpu")
    >>> out = tempfile.mkdtemp() + "/bnn"
    >>> _ = run(MNISTTrainer, config, RunOptions(out, progress=False, tensorboard=False))
    >>> [m.key for m in MNISTResults.read(out).models]
    ['bbb', 'sgd', 'dropout', 'dropout-mc']

References:
    Blundell, Cornebise, Kavukcuoglu & Wierstra (2015), Weight uncertainty in neural networks,
    ICML, section 5.1.
    Srivastava, Hinton, Krizhevsky, Sutskever & Salakhutdinov (2014), Dropout: a simple way to
    prevent neural networks from overfitting, JMLR.
    Gal & Ghahramani (2016), Dropout as a Bayesian approximation, ICML.
    Guo, Pleiss, Sun & Weinberger (2017), On calibration of modern neural networks, ICML.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from reparam.bayes import SCHEMES, ScaleMixturePrior, kl, kl_weights
from reparam.bayes.layers import ESTIMATORS
from reparam.data.registry import load_labelled
from reparam.diagnostics.calibration import Calibration, expected_calibration_error
from reparam.experiments.bnn_options import check_seed_and_device
from reparam.experiments.bnn_predictive import ClassifierPredictive
from reparam.models.bnn import BayesMLP
from reparam.models.networks import mlp
from reparam.train import RunConfig, Trainer
from reparam.train.compile import maybe_compile
from reparam.train.config import in_range, one_of, positive
from reparam.train.distributed import Ranks

CLASSES = 10
DATASETS = ("mnist-test", "digits")
NETWORKS = ("bbb", "sgd", "dropout")
LABELS = {
    "bbb": "BBB (scale mixture)",
    "sgd": "plain (no regularisation)",
    "dropout": "dropout",
    "dropout-mc": "MC dropout",
}
EVAL_CHUNK = 1000  # test rows per forward pass


@dataclass(frozen=True)
class MNISTConfig(RunConfig):
    """Settings of the three classifiers (see the module docstring).

    ``epochs`` (default 20), ``batch_size`` (100) and ``init_std`` (BBB's initial posterior σ,
    0.01) resolve when not given, ``train_size`` / ``test_size`` (keep only the first rows of
    each part) to the rows used, and ``inputs`` is recorded from the data. ``hidden``: the
    hidden widths. ``samples``: posterior draws averaged at test time (BBB, MC dropout).
    ``prior_pi``, ``prior_sigma1``, ``prior_sigma2``: the scale-mixture prior. ``bins``: ECE
    bins.
    """

    FREE = ("device", "data_dir")

    dataset: str = "mnist-test"
    epochs: int | None = None
    batch_size: int | None = None
    lr: float = 1e-3
    hidden: tuple[int, ...] = (400, 400)
    samples: int = 100
    estimator: str = "local"
    kl_weighting: str = "uniform"
    prior_pi: float = 0.5
    prior_sigma1: float = 1.0
    prior_sigma2: float = math.exp(-6)
    init_std: float | None = None
    dropout: float = 0.5
    mc_dropout: bool = True
    bins: int = 15
    train_size: int | None = None
    test_size: int | None = None
    seed: int = 0
    device: str = "auto"
    compile: bool = False
    data_dir: str | None = None
    inputs: int | None = None

    def __post_init__(self) -> None:
        one_of("--dataset", self.dataset, DATASETS)
        one_of("--estimator", self.estimator, ESTIMATORS)
        one_of("--kl-weighting", self.kl_weighting, SCHEMES)
        defaults = {"epochs": 20, "batch_size": 100, "init_std": 1e-2}
        for name, default in defaults.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, default)
        for name in ("epochs", "batch_size", "samples", "bins", "train_size", "test_size"):
            positive("--" + name.replace("_", "-"), getattr(self, name), integer=True)
        positive("inputs", self.inputs, integer=True)
        check_seed_and_device(self.seed, self.device)
        for name in ("lr", "init_std", "prior_sigma1", "prior_sigma2"):
            positive("--" + name.replace("_", "-"), getattr(self, name))
        hidden = tuple(self.hidden)
        if not hidden or not all(isinstance(h, int) and h > 0 for h in hidden):
            raise ValueError(f"--hidden needs one or more widths >= 1; got {hidden}")
        object.__setattr__(self, "hidden", hidden)
        in_range("--dropout", self.dropout, 0.0, 1.0)
        if self.dropout == 1:
            raise ValueError("--dropout must be < 1 (it would drop every unit)")
        in_range("--prior-pi", self.prior_pi, 0.0, 1.0)
        if self.prior_pi in (0, 1):
            raise ValueError(f"--prior-pi must lie strictly between 0 and 1; got {self.prior_pi}")
        if not self.prior_sigma1 > self.prior_sigma2:
            raise ValueError(
                f"the scale mixture needs --prior-sigma1 > --prior-sigma2; got "
                f"{self.prior_sigma1} and {self.prior_sigma2}"
            )


@dataclass(frozen=True)
class Split:
    """Training and test images [N, D] in [0, 1] and their int64 labels [N]."""

    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor
    description: str


def load_split(
    dataset: str,
    data_dir: str | Path | None = None,
    train_size: int | None = None,
    test_size: int | None = None,
) -> Split:
    """The fixed train/test split of ``dataset`` (see the module docstring), each part cut to
    its first ``train_size`` / ``test_size`` rows when given.

    >>> split = load_split("digits", train_size=100)
    >>> split.x_train.shape, split.x_test.shape
    (torch.Size([100, 64]), torch.Size([180, 64]))
    """
    if dataset == "mnist-test":
        x_train, y_train = load_labelled("mnist-resplit", "train", data_dir)
        x_test, y_test = load_labelled("mnist-resplit", "test", data_dir)
        description = (
            "MNIST test set re-split (the training images are not on this machine): "
            "images 0-7999 train, 8000-9999 test"
        )
    elif dataset == "digits":
        x_train, y_train = load_labelled("digits", "train")
        x_test, y_test = load_labelled("digits", "test")
        description = "scikit-learn 8x8 digits, binarized: its train and test splits"
    else:
        raise ValueError(f"unknown --dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    x_train, y_train = x_train[:train_size], y_train[:train_size]
    x_test, y_test = x_test[:test_size], y_test[:test_size]
    description += f"; {len(x_train)} training and {len(x_test)} test examples used"
    return Split(x_train, y_train, x_test, y_test, description)


def network(name: str, config: MNISTConfig) -> nn.Module:
    """The network ``name`` (``"bbb"``, ``"sgd"`` or ``"dropout"``) of ``config``."""
    assert config.inputs is not None and config.init_std is not None
    sizes = [config.inputs, *config.hidden, CLASSES]
    if name == "bbb":
        prior = ScaleMixturePrior(config.prior_pi, config.prior_sigma1, config.prior_sigma2)
        return BayesMLP(
            sizes,
            task="classification",
            estimator=config.estimator,
            prior=prior,
            init_std=config.init_std,
        )
    return mlp(sizes, nn.ReLU, last=False, dropout=config.dropout if name == "dropout" else None)


@torch.no_grad()
def predictive_log_probs(model: nn.Module, x: Tensor, samples: int) -> Tensor:
    r""":math:`\log \frac1S \sum_s \operatorname{softmax} f_s(x)` [N, K] over ``samples``
    stochastic passes (the model's train/eval mode decides whether it is stochastic), in log
    space so that a confident mistake keeps a finite NLL; rows of ``EVAL_CHUNK`` at a time.

    >>> from reparam.bayes import BayesLinear
    >>> predictive_log_probs(BayesLinear(3, 4), torch.randn(5, 3), 10).exp().sum(-1)
    tensor([1.0000, 1.0000, 1.0000, 1.0000, 1.0000])
    """
    parts = []
    for chunk in x.split(EVAL_CHUNK):
        total = model(chunk).log_softmax(-1)
        for _ in range(samples - 1):
            total = torch.logaddexp(total, model(chunk).log_softmax(-1))
        parts.append(total - math.log(samples))
    return torch.cat(parts)


@dataclass(frozen=True)
class ClassifierResult:
    """One model's test figures: error (%, with its binomial standard error), NLL (nats), ECE
    and MCE (%), the predictive draws averaged, the last epoch's training error (%), the
    seconds of training and of evaluation, and the calibration bins."""

    key: str
    label: str
    test_error: float
    test_error_se: float
    nll: float
    ece: float
    mce: float
    examples: int
    samples: int
    final_train_error: float
    train_seconds: float
    eval_seconds: float
    calibration: Calibration

    def summary(self) -> str:
        return (
            f"{self.label}: test error {self.test_error:.2f} ± {self.test_error_se:.2f} %, "
            f"NLL {self.nll:.4f}, ECE {self.ece:.2f} %"
        )

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "calibration": self.calibration.to_dict()}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ClassifierResult:
        return cls(**{**values, "calibration": Calibration.from_dict(values["calibration"])})


@dataclass(frozen=True)
class MNISTResults:
    """The test figures of every model of a run, in the order bbb, sgd, dropout
    (dropout-mc)."""

    dataset: str
    description: str
    epochs: int
    models: tuple[ClassifierResult, ...]

    def summary(self) -> str:
        return "\n".join(model.summary() for model in self.models)

    def __getitem__(self, key: str) -> ClassifierResult:
        return next(model for model in self.models if model.key == key)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "description": self.description,
            "epochs": self.epochs,
            "models": [model.to_dict() for model in self.models],
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> MNISTResults:
        models = tuple(ClassifierResult.from_dict(m) for m in values["models"])
        return cls(values["dataset"], values["description"], values["epochs"], models)

    @classmethod
    def read(cls, folder: str | Path) -> MNISTResults:
        """The results a finished run wrote into ``folder/results.json``."""
        path = Path(folder) / "results.json"
        if not path.exists():
            raise FileNotFoundError(f"no {path}: the run in {folder} has not finished")
        return cls.from_dict(json.loads(path.read_text())["results"])


def score(log_probs: Tensor, y: Tensor, bins: int) -> dict[str, Any]:
    """Test error (%, with its binomial standard error), NLL (nats), ECE and MCE (%) and the
    calibration of predictive log-probabilities [N, K] against labels [N]."""
    log_probs, y = log_probs.double().cpu(), y.cpu()
    calibration = expected_calibration_error(log_probs.exp(), y, bins)
    error = float((log_probs.argmax(-1) != y).double().mean())
    return {
        "test_error": 100 * error,
        "test_error_se": 100 * math.sqrt(error * (1 - error) / len(y)),
        "nll": float(-log_probs.gather(-1, y[:, None]).mean()),
        "ece": 100 * calibration.ece,
        "mce": 100 * calibration.mce,
        "examples": len(y),
        "calibration": calibration,
    }


class MNISTTrainer(Trainer):
    """The three classifiers of the module docstring, one engine step a minibatch for all."""

    name = "bnn-mnist"
    command = "train bnn"
    Config = MNISTConfig
    outputs = ("results.json", "results.md", "reliability.png")

    def __init__(self, config: MNISTConfig, ranks: Ranks) -> None:
        split = load_split(config.dataset, config.data_dir, config.train_size, config.test_size)
        inputs = split.x_train.shape[1]
        if config.inputs not in (None, inputs):
            raise ValueError(f"inputs {config.inputs} does not match the data ({inputs})")
        used = {"train_size": len(split.x_train), "test_size": len(split.x_test)}
        self.config = config = replace(config, inputs=inputs, **used)
        self.ranks, self.device, self.description = ranks, ranks.device, split.description
        self.x_train, self.y_train = split.x_train.to(self.device), split.y_train.to(self.device)
        self.x_test, self.y_test = split.x_test.to(self.device), split.y_test.to(self.device)
        networks = {}
        for name in NETWORKS:  # each from the seed: plain and dropout start equal
            torch.manual_seed(config.seed)
            networks[name] = network(name, config)
        self.model = nn.ModuleDict(networks).to(self.device)
        if ranks.world > 1:
            torch.manual_seed(config.seed * 1_000_003 + ranks.rank)  # each rank its own noise
        self.nets = {
            name: DistributedDataParallel(net) if ranks.world > 1 else net
            for name, net in self.model.items()
        }
        self.optimizers = {
            name: torch.optim.Adam(net.parameters(), lr=config.lr)
            for name, net in self.model.items()
        }
        self.losses = {name: maybe_compile(self.loss_of(name), config.compile) for name in NETWORKS}
        assert config.batch_size is not None
        batches = math.ceil(len(self.x_train) / config.batch_size)
        self.weights = kl_weights(batches, config.kl_weighting).float().to(self.device)
        self.sums = torch.zeros(len(NETWORKS), 3, dtype=torch.float64, device=self.device)
        self.seconds = [0.0] * len(NETWORKS)
        self.shuffled: tuple[int, Tensor] | None = None

    @classmethod
    def build_model(cls, config: MNISTConfig) -> nn.ModuleDict:
        return nn.ModuleDict({name: network(name, config) for name in NETWORKS})

    @classmethod
    def exportable(
        cls, model: nn.Module, config: MNISTConfig
    ) -> tuple[nn.Module, tuple[Tensor, ...]]:
        """BBB's posterior predictive: class probabilities [N, 10] of images [N, D], averaged
        over ``config.samples`` weight draws."""
        assert config.inputs is not None
        return ClassifierPredictive(model["bbb"], config.samples), (torch.zeros(2, config.inputs),)

    def loss_of(self, name: str) -> Any:
        """The minibatch loss of network ``name``, with its NLL sum, error count and KL term
        (BBB: (π_i·KL + NLL·scale) / N, ``scale`` making a rank's share count for the whole
        minibatch; the others: the mean cross-entropy)."""
        net, rows = self.nets[name], len(self.x_train)

        def loss(x: Tensor, y: Tensor, weight: Tensor, scale: float) -> tuple[Tensor, ...]:
            logits = net(x)
            nll = F.cross_entropy(logits, y, reduction="sum")
            errors = (logits.detach().argmax(-1) != y).sum()
            if name == "bbb":
                kl_term = weight * kl(self.model["bbb"])
                return (kl_term + nll * scale) / rows, nll.detach(), errors, kl_term.detach()
            return nll / len(y), nll.detach(), errors, torch.zeros_like(nll)

        return loss

    @property
    def periods(self) -> int:
        assert self.config.epochs is not None
        return self.config.epochs

    def steps_in(self, period: int) -> int:
        return len(self.weights)

    def order(self, period: int) -> Tensor:
        """The minibatch order of ``period``: a permutation drawn from the seed and the epoch
        alone, so a resumed run needs no saved order."""
        if self.shuffled is None or self.shuffled[0] != period:
            generator = torch.Generator().manual_seed(self.config.seed * 1_000_003 + period + 1)
            order = torch.randperm(len(self.x_train), generator=generator).to(self.device)
            self.shuffled = (period, order)
        return self.shuffled[1]

    def start_period(self, period: int) -> None:
        self.sums.zero_()
        self.seconds = [0.0] * len(NETWORKS)

    def train_step(self, period: int, index: int) -> None:
        batch, ranks = self.config.batch_size, self.ranks
        assert batch is not None
        indices = self.order(period)[index * batch : (index + 1) * batch]
        shard = indices[ranks.rank :: ranks.world]
        x, y = self.x_train[shard], self.y_train[shard]
        for i, name in enumerate(NETWORKS):
            started = time.perf_counter()
            self.nets[name].train()
            loss, nll, errors, kl_term = self.losses[name](
                x, y, self.weights[index], len(indices) / len(shard)
            )
            optimizer = self.optimizers[name]
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            self.sums[i] += torch.stack([nll.double(), errors.double(), kl_term.double()])
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)
            self.seconds[i] += time.perf_counter() - started

    def end_period(self, period: int) -> dict[str, Any]:
        sums = self.sums.clone()
        if self.ranks.world > 1:  # NLL and errors of every rank's share; the KL is everyone's
            shares = sums[:, :2].contiguous()
            dist.all_reduce(shares)
            sums[:, :2] = shares
        rows = len(self.x_train)
        row: dict[str, Any] = {}
        for i, name in enumerate(NETWORKS):
            nll, errors, kl_sum = sums[i].tolist()
            row[f"{name}_loss"] = (kl_sum + nll) / rows
            row[f"{name}_train_nll"] = nll / rows
            row[f"{name}_train_error"] = 100 * errors / rows
            if name == "bbb":
                row["bbb_kl"] = kl_sum / rows
            row[f"{name}_seconds"] = self.seconds[i]
        return row

    def state_dict(self) -> dict[str, Any]:
        return {
            "optimizers": {name: o.state_dict() for name, o in self.optimizers.items()},
            "sums": self.sums,
            "seconds": list(self.seconds),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name, optimizer in self.optimizers.items():
            optimizer.load_state_dict(state["optimizers"][name])
        self.sums = state["sums"].to(self.device)
        self.seconds = list(state["seconds"])

    def summary(self, row: dict[str, Any]) -> str:
        errors = "  ".join(f"{name} {row[f'{name}_train_error']:.2f} %" for name in NETWORKS)
        return f"bbb loss {row['bbb_loss']:.4f}  train error {errors}"

    def evaluate(self, history: list[dict[str, Any]]) -> MNISTResults:
        """Every model's test figures, from a random stream of its own (seeded by the run's
        seed), so that evaluating does not change what training draws next."""
        config = self.config
        assert config.epochs is not None
        variants = [("bbb", "bbb", True), ("sgd", "sgd", False), ("dropout", "dropout", False)]
        if config.mc_dropout:
            variants.append(("dropout-mc", "dropout", True))
        devices = [self.device] if self.device.type == "cuda" else []
        models = []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(config.seed)
            for key, name, stochastic in variants:
                started = time.perf_counter()
                net = self.model[name]
                net.train(key == "dropout-mc")  # BBB samples in both modes
                samples = config.samples if stochastic else 1
                log_probs = predictive_log_probs(net, self.x_test, samples)
                figures = score(log_probs, self.y_test, config.bins)
                models.append(
                    ClassifierResult(
                        key=key,
                        label=LABELS[key],
                        **figures,
                        samples=samples,
                        final_train_error=history[-1][f"{name}_train_error"],
                        train_seconds=sum(row[f"{name}_seconds"] for row in history),
                        eval_seconds=time.perf_counter() - started,
                    )
                )
        return MNISTResults(config.dataset, self.description, config.epochs, tuple(models))

    def draw(self, folder: Path, history: list[dict[str, Any]]) -> None:
        from reparam.plots.calibration import plot_reliability

        results = self.evaluate(history)
        record = {"results": results.to_dict(), "config": self.config.to_dict()}
        (folder / "results.json").write_text(json.dumps(record, indent=1) + "\n")
        (folder / "results.md").write_text(render(results, self.config))
        plot_reliability(
            {model.label: model.calibration for model in results.models},
            folder / "reliability.png",
            title=f"{self.config.dataset}: {len(self.x_test)} test examples",
        )


def render(results: MNISTResults, config: MNISTConfig) -> str:
    """The markdown table of ``results``."""
    sizes = "–".join(str(s) for s in (config.inputs, *config.hidden))
    prior_sigma2 = config.prior_sigma2
    mc = f"; MC dropout averages {config.samples} passes" if config.mc_dropout else ""
    lines = [
        f"**{sizes}–10 ReLU classifiers on {config.dataset}**",
        "",
        f"Data: {results.description}.",
        "",
        f"Training: {config.epochs} epochs, batch {config.batch_size}, Adam lr {config.lr:g} "
        f"for all models, seed {config.seed}; no early stopping. BBB: scale-mixture prior π = "
        f"{config.prior_pi:g}, σ1 = {config.prior_sigma1:g}, σ2 = {prior_sigma2:.4g} "
        f"(−log σ2 = {-math.log(prior_sigma2):.3g}), estimator {config.estimator!r}, "
        f"KL weighting {config.kl_weighting!r}, {config.samples} posterior samples at test "
        f"time. Dropout: p = {config.dropout:g} on hidden units, evaluated as standard dropout "
        f"(eval mode){mc}. ECE: {config.bins} equal-width bins. ± is the binomial standard "
        "error of the test error.",
        "",
        "| model | test error (%) | NLL (nats) | ECE (%) | MCE (%) | train error (%) "
        "| train time (s) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results.models:
        lines.append(
            f"| {r.label} | {r.test_error:.2f} ± {r.test_error_se:.2f} | {r.nll:.4f} | "
            f"{r.ece:.2f} | {r.mce:.2f} | {r.final_train_error:.2f} | {r.train_seconds:.0f} |"
        )
    return "\n".join(lines) + "\n"

r"""MNIST classification with Bayes by Backprop against plain and dropout networks.

Three 784–400–400–10 ReLU networks are trained on the same data, in the same order, from the
same seed, and compared on held-out test error, negative log-likelihood and expected
calibration error (Blundell et al. 2015, Table 1, with calibration added):

1. **BBB**: ``BayesMLP`` with a factorized Gaussian posterior and the scale-mixture prior
   :math:`p(w) = π N(0, σ_1^2) + (1 - π) N(0, σ_2^2)`, here π = 1/2, −log σ1 = 0,
   −log σ2 = 6 (one of Blundell et al.'s best MNIST settings). Each minibatch i of M pays
   :math:`F_i = π_i \mathrm{KL}(q\,\|\,p) - \log p(D_i \mid w)` with π_i from ``kl_weighting``
   (``"uniform"`` 1/M, or ``"blundell"`` 2^{M−i}/(2^M − 1)); the loss is F_i / N (N the
   training examples), so one epoch's losses add up to the negative ELBO per example.
   The default estimator is ``"weight"`` — one weight draw per minibatch, Bayes by Backprop as
   published; ``"local"`` (the local reparameterization trick) gives lower-variance gradients
   at about the same cost and is the better choice for short runs.
2. **plain SGD**: the same architecture with ``nn.Linear`` layers, trained by maximum
   likelihood (mean cross-entropy), no regularisation.
3. **dropout**: the same with ``nn.Dropout(0.5)`` after each hidden ReLU (Hinton et al. 2012,
   Srivastava et al. 2014; no input dropout), evaluated as standard dropout: the network in
   eval mode with the weights scaled by 1 − p (PyTorch scales during training instead, the
   same thing). ``mc_dropout=True`` adds MC dropout (Gal & Ghahramani 2016): dropout left on
   at test time and ``samples`` passes averaged.

All three use Adam at the same learning rate (not plain SGD: Adam reaches a good optimum in
the few epochs a CPU affords, and is insensitive to the BBB loss's 1/N scale); "SGD" names the
non-Bayesian, unregularised baseline as in Blundell et al.'s table. There is no validation
set and no early stopping: every model is read after the last epoch.

Data (``dataset="mnist-test"``): only MNIST's 10 000 labelled *test* images are on this
machine, so they are re-split, fixed: the first 8 000 for training, the last 2 000 for testing.
MNIST's first 5 000 test images come from NIST's SD-3 (Census employees) and the last 5 000
from SD-1 (high-school students), which are harder, so test errors here are not comparable to
published MNIST numbers (60 000 training images, the whole test set). ``dataset="digits"``
uses scikit-learn's 8×8 digits (train/test splits), for quick tests.

Evaluation on the test images: the predictive probabilities :math:`\bar p(y \mid x)` are
averaged over ``samples`` posterior draws for BBB (and MC dropout), in log space as
:math:`\log \frac1S \sum_s p_s(y \mid x)`, the same average as ``reparam.bayes.predict``;
test error is that of the arg max; NLL is the mean :math:`-\log \bar p(y \mid x)` in nats; ECE
uses 15 equal-width bins (``reparam.diagnostics.calibration``).

The output folder gets ``config.json``, ``metrics.csv`` (one row per model and epoch),
``results.json``, ``results.md`` (the table) and ``reliability.png``.

References:
    Blundell, Cornebise, Kavukcuoglu & Wierstra (2015), Weight uncertainty in neural networks,
    ICML, section 5.1.
    Srivastava, Hinton, Krizhevsky, Sutskever & Salakhutdinov (2014), Dropout: a simple way to
    prevent neural networks from overfitting, JMLR.
    Gal & Ghahramani (2016), Dropout as a Bayesian approximation, ICML.
    Guo, Pleiss, Sun & Weinberger (2017), On calibration of modern neural networks, ICML.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from torch import Tensor, nn

from reparam.bayes import SCHEMES, ScaleMixturePrior, kl, kl_weights
from reparam.bayes.layers import ESTIMATORS
from reparam.data.registry import load_labelled
from reparam.diagnostics.calibration import (
    Calibration,
    expected_calibration_error,
    plot_reliability,
)
from reparam.models.bnn import BayesMLP
from reparam.train.distributed import resolve_device

CLASSES = 10
MNIST_TRAIN_ROWS = 8000  # of MNIST's 10 000 test images: the first 8000 train, the rest test
DATASETS = ("mnist-test", "digits")
LABELS = {
    "bbb": "BBB (scale mixture)",
    "sgd": "plain (no regularisation)",
    "dropout": "dropout",
    "dropout-mc": "MC dropout",
}
CSV_COLUMNS = ("model", "epoch", "loss", "train_nll", "train_error", "kl", "seconds")
EVAL_CHUNK = 1000  # test rows per forward pass


@dataclass(frozen=True)
class MNISTConfig:
    """Settings of ``train_mnist_classifiers`` (see the module docstring).

    ``hidden``: the hidden widths (400, 400 as Blundell et al.; small ones for tests).
    ``samples``: posterior draws averaged at test time (BBB, MC dropout).
    ``prior_pi``, ``prior_sigma1``, ``prior_sigma2``: the scale-mixture prior.
    ``init_std``: BBB's initial posterior σ. ``bins``: ECE bins.
    ``train_size`` / ``test_size``: keep only the first rows of each part (quick runs).
    """

    dataset: str = "mnist-test"
    epochs: int = 20
    batch_size: int = 100
    lr: float = 1e-3
    hidden: tuple[int, ...] = (400, 400)
    samples: int = 100
    estimator: str = "weight"
    kl_weighting: str = "blundell"
    prior_pi: float = 0.5
    prior_sigma1: float = 1.0
    prior_sigma2: float = math.exp(-6)
    init_std: float = 1e-2
    dropout: float = 0.5
    mc_dropout: bool = False
    bins: int = 15
    train_size: int | None = None
    test_size: int | None = None
    device: str = "auto"
    seed: int = 0
    data_dir: str | None = None
    out: str | None = "runs/bnn-mnist-test"

    def __post_init__(self) -> None:
        if self.dataset not in DATASETS:
            raise ValueError(f"unknown dataset {self.dataset!r}; choose from {', '.join(DATASETS)}")
        if self.estimator not in ESTIMATORS:
            raise ValueError(
                f"unknown estimator {self.estimator!r}; choose from {', '.join(ESTIMATORS)}"
            )
        if self.kl_weighting not in SCHEMES:
            raise ValueError(
                f"unknown KL weighting {self.kl_weighting!r}; choose from {', '.join(SCHEMES)}"
            )
        for name in ("epochs", "batch_size", "samples", "bins"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("train_size", "test_size"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.hidden or min(self.hidden) < 1:
            raise ValueError(f"hidden needs at least one width >= 1, got {self.hidden}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must lie in [0, 1), got {self.dropout}")
        if not self.prior_sigma1 > self.prior_sigma2 > 0:
            raise ValueError("the scale mixture needs prior_sigma1 > prior_sigma2 > 0")
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))


@dataclass
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
        x, y = load_labelled("mnist-test", "test", data_dir)
        x_train, y_train = x[:MNIST_TRAIN_ROWS], y[:MNIST_TRAIN_ROWS]
        x_test, y_test = x[MNIST_TRAIN_ROWS:], y[MNIST_TRAIN_ROWS:]
        description = (
            f"MNIST test set re-split (the training images are not on this machine): "
            f"images 0-{MNIST_TRAIN_ROWS - 1} train, {MNIST_TRAIN_ROWS}-{len(x) - 1} test"
        )
    elif dataset == "digits":
        x_train, y_train = load_labelled("digits", "train")
        x_test, y_test = load_labelled("digits", "test")
        description = "scikit-learn 8x8 digits, binarized: its train and test splits"
    else:
        raise ValueError(f"unknown dataset {dataset!r}; choose from {', '.join(DATASETS)}")
    x_train, y_train = x_train[:train_size], y_train[:train_size]
    x_test, y_test = x_test[:test_size], y_test[:test_size]
    description += f"; {len(x_train)} training and {len(x_test)} test examples used"
    return Split(x_train, y_train, x_test, y_test, description)


def deterministic_mlp(sizes: list[int], dropout: float | None) -> nn.Sequential:
    """ReLU MLP of ``nn.Linear`` layers, with ``nn.Dropout(dropout)`` after each hidden ReLU
    when ``dropout`` is given."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
            if dropout is not None:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


def build(name: str, config: MNISTConfig, inputs: int) -> nn.Module:
    """The network ``name`` (``"bbb"``, ``"sgd"`` or ``"dropout"``) for ``inputs`` features."""
    sizes = [inputs, *config.hidden, CLASSES]
    if name == "bbb":
        prior = ScaleMixturePrior(config.prior_pi, config.prior_sigma1, config.prior_sigma2)
        return BayesMLP(
            sizes,
            task="classification",
            estimator=config.estimator,
            prior=prior,
            init_std=config.init_std,
        )
    return deterministic_mlp(sizes, config.dropout if name == "dropout" else None)


def fit(
    name: str,
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    config: MNISTConfig,
    on_epoch: Callable[[dict], None],
) -> list[dict]:
    """Train ``model`` for ``config.epochs`` with Adam; one metrics row per epoch.

    BBB's loss for minibatch i is (π_i·KL − log p(D_i | w)) / N, the log-likelihood summed over
    the minibatch (``BayesMLP.log_likelihood``, here from the same logits that give the
    training error); the others minimise the minibatch's mean cross-entropy.
    """
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    rows = len(x)
    batches = math.ceil(rows / config.batch_size)
    weights = kl_weights(batches, config.kl_weighting).tolist()
    history = []
    for epoch in range(1, config.epochs + 1):
        start = time.perf_counter()
        generator = torch.Generator().manual_seed(config.seed * 1_000_003 + epoch)
        order = torch.randperm(rows, generator=generator).to(x.device)
        model.train()
        loss_sum, nll_sum, errors, kl_sum = 0.0, 0.0, 0, 0.0
        for i, indices in enumerate(order.split(config.batch_size)):
            logits = model(x[indices])
            nll = F.cross_entropy(logits, y[indices], reduction="sum")
            if name == "bbb":
                kl_term = weights[i] * kl(model)
                loss = (kl_term + nll) / rows
                kl_sum += float(kl_term.detach())
            else:
                loss = nll / len(indices)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            nll_sum += float(nll.detach())
            loss_sum += float(loss.detach()) * (1 if name == "bbb" else len(indices) / rows)
            errors += int((logits.detach().argmax(-1) != y[indices]).sum())
        row = {
            "model": name,
            "epoch": epoch,
            "loss": loss_sum,
            "train_nll": nll_sum / rows,
            "train_error": 100 * errors / rows,
            "kl": kl_sum / rows if name == "bbb" else math.nan,
            "seconds": time.perf_counter() - start,
        }
        history.append(row)
        on_epoch(row)
    return history


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


def score(log_probs: Tensor, y: Tensor, bins: int) -> tuple[dict, Calibration]:
    """Test error (%, with its binomial standard error), NLL (nats) and ECE (%) of predictive
    log-probabilities [N, K] against labels [N]."""
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
    }, calibration


def train_mnist_classifiers(
    config: MNISTConfig | None = None, *, progress: bool | None = None, **options: object
) -> dict[str, dict]:
    """Train and evaluate BBB, plain SGD and dropout networks (see the module docstring) and,
    when ``config.out`` is set, write the run folder there.

    Settings come from ``config`` (default ``MNISTConfig()``) with ``options`` overriding
    its fields, e.g. ``train_mnist_classifiers(epochs=5, estimator="local")``. ``progress``
    shows a bar over the epochs (default: when stdout is a terminal). Returns, per model
    (``"bbb"``, ``"sgd"``, ``"dropout"``, and ``"dropout-mc"`` with ``mc_dropout``): its
    label, test error and its standard error (%), NLL (nats), ECE and MCE (%), the training
    and evaluation seconds, and the per-bin calibration.
    """
    config = replace(config or MNISTConfig(), **options)
    device = resolve_device(config.device)
    split = load_split(config.dataset, config.data_dir, config.train_size, config.test_size)
    x_train, y_train = split.x_train.to(device), split.y_train.to(device)
    x_test, y_test = split.x_test.to(device), split.y_test.to(device)
    out = Path(config.out) if config.out is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        settings = asdict(config) | {"split": split.description, "optimizer": "Adam"}
        (out / "config.json").write_text(json.dumps(settings, indent=1))
        with open(out / "metrics.csv", "w", newline="") as file:
            csv.writer(file).writerow(CSV_COLUMNS)

    def record(row: dict) -> None:
        if out is not None:
            with open(out / "metrics.csv", "a", newline="") as file:
                csv.writer(file).writerow([row[c] for c in CSV_COLUMNS])

    names = ("bbb", "sgd", "dropout")
    results: dict[str, dict] = {}
    calibrations: dict[str, Calibration] = {}
    show = sys.stdout.isatty() if progress is None else progress
    columns = (TextColumn("{task.description:<10}"), BarColumn(), TextColumn("{task.fields[info]}"))
    with Progress(*columns, TimeRemainingColumn(), disable=not show) as bar:
        tasks = {n: bar.add_task(n, total=config.epochs, info="") for n in names}
        for name in names:
            torch.manual_seed(config.seed)
            model = build(name, config, x_train.shape[1]).to(device)

            def on_epoch(row: dict, task: int = tasks[name]) -> None:
                record(row)
                bar.update(
                    task,
                    advance=1,
                    info=f"epoch {row['epoch']}  loss {row['loss']:.4f}  "
                    f"train error {row['train_error']:.2f} %  {row['seconds']:.1f} s",
                )

            history = fit(name, model, x_train, y_train, config, on_epoch)
            train_seconds = sum(row["seconds"] for row in history)
            variants = [(name, name == "bbb")]
            if name == "dropout" and config.mc_dropout:
                variants.append(("dropout-mc", True))
            for key, stochastic in variants:
                start = time.perf_counter()
                model.train(key == "dropout-mc")  # BBB samples in both modes
                log_probs = predictive_log_probs(model, x_test, config.samples if stochastic else 1)
                metrics, calibrations[LABELS[key]] = score(log_probs, y_test, config.bins)
                results[key] = {
                    "label": LABELS[key],
                    **metrics,
                    "samples": config.samples if stochastic else 1,
                    "epochs": config.epochs,
                    "final_train_error": history[-1]["train_error"],
                    "train_seconds": train_seconds,
                    "eval_seconds": time.perf_counter() - start,
                    "calibration": calibrations[LABELS[key]].to_dict(),
                }
    if out is not None:
        (out / "results.json").write_text(
            json.dumps({"config": asdict(config), "split": split.description} | results, indent=1)
        )
        (out / "results.md").write_text(
            render(results, config, split.description, x_train.shape[1])
        )
        plot_reliability(
            calibrations,
            out / "reliability.png",
            title=f"{config.dataset}: {len(split.x_test)} test examples",
        )
    return results


def render(results: dict[str, dict], config: MNISTConfig, description: str, inputs: int) -> str:
    """The markdown table of ``results`` (networks of ``inputs`` input features)."""
    sizes = "–".join(str(s) for s in (inputs, *config.hidden))
    mc = f"; MC dropout averages {config.samples} passes" if config.mc_dropout else ""
    lines = [
        f"**{sizes}–10 ReLU classifiers on {config.dataset}**",
        "",
        f"Data: {description}.",
        "",
        f"Training: {config.epochs} epochs, batch {config.batch_size}, Adam lr {config.lr:g} "
        f"for all models, seed {config.seed}; no early stopping. BBB: scale-mixture prior π = "
        f"{config.prior_pi:g}, σ1 = {config.prior_sigma1:g}, σ2 = {config.prior_sigma2:.4g} "
        f"(−log σ2 = {-math.log(config.prior_sigma2):.3g}), estimator {config.estimator!r}, "
        f"KL weighting {config.kl_weighting!r}, {config.samples} posterior samples at test "
        f"time. Dropout: p = {config.dropout:g} on hidden units, evaluated as standard dropout "
        f"(eval mode){mc}. "
        f"ECE: {config.bins} equal-width bins. ± is the binomial standard error of the test "
        f"error.",
        "",
        "| model | test error (%) | NLL (nats) | ECE (%) | MCE (%) | train error (%) "
        "| train time (s) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results.values():
        lines.append(
            f"| {r['label']} | {r['test_error']:.2f} ± {r['test_error_se']:.2f} | "
            f"{r['nll']:.4f} | {r['ece']:.2f} | {r['mce']:.2f} | "
            f"{r['final_train_error']:.2f} | {r['train_seconds']:.0f} |"
        )
    return "\n".join(lines) + "\n"

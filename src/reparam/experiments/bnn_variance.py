r"""Variance of a Bayesian network's minibatch gradient under each weight-noise estimator: the
layout of Kingma, Salimans & Welling (2015), Table 1.

The gradient is that of the minibatch estimate of the ELBO (Kingma et al., eq. 3),

.. math:: L_{\mathrm{SGVB}} = \frac NM \sum_{i=1}^M \log p(y_i \mid x_i, w) - \mathrm{KL}(q\,\|\,p),

with N training examples and minibatches of M, taken w.r.t. the posterior's parameters. One
*draw* is a fresh random minibatch (M examples without replacement) and fresh weight noise, so
the variance across draws holds both sources, as in the paper. The KL term is in closed form
(N(0, 1) prior): it moves the mean of the gradient, never its variance.

Reported per estimator: the average over a layer's weights of the variance across draws of
:math:`∂L/∂μ` (the paper's quantity; ``weight_mu``) and of :math:`∂L/∂ρ`, σ = softplus(ρ)
(``weight_rho``), for the top (output) and the bottom (input) layer. ``"none"`` is the
network of the means, no weight noise: the variance that the minibatch sampling alone leaves
(the paper's "no dropout noise" row).

Standard errors are by batch means: the R draws fall into G groups (10, or fewer for small
R); each group's average variance is an unbiased, independent estimate; the reported value is
their mean and its standard error their spread / √G.

A caveat on ``weight_mu`` of the *top* layer: with σ a parameter of its own (not tied to μ as
in the paper's variational dropout, σ² = α μ²), local reparameterization and separate weight
samples give the same joint distribution of one example's activations, and ∂b/∂μ = a under
both, so their top-layer μ-gradients have the same distribution: equal variance, up to noise.
The two differ in the bottom layer (backpropagation through a sampled W vs through μ) and in
the ρ-gradients (one noise variable per weight vs per unit).

The study is a trainer of the run engine (:class:`VarianceStudyTrainer`, ``reparam variance
--problem bnn``): the variances are measured when the first epoch starts (kept in the
checkpoint, so a resume does not measure them again), the ``epochs`` epochs of Adam on
−L_SGVB are the engine's periods (checkpoints, ``--resume``, Ctrl-C, the progress bar), and
at the end the trained network is measured again, each estimator's epoch is timed, and the run
folder gets ``bnn.json`` (:class:`BnnStudy`) and ``bnn.png``.

Reference:
    Kingma, Salimans & Welling (2015), Variational dropout and the local reparameterization
    trick, NeurIPS, section 5 and Table 1.

Example:
    One epoch of a small network on the 8×8 digits, three draws per estimator:

    >>> import tempfile
    >>> from reparam.train import RunOptions, run
    >>> config = VarianceStudyConfig(
    ...     sizes=(64, 8, 10), epochs=1, repeats=3, dataset="digits", estimators=("local",),
    ...     min_seconds=0.0)
    >>> out = tempfile.mkdtemp() + "/study"
    >>> result = run(VarianceStudyTrainer, config, RunOptions(out, progress=False, tensorboard=False))
    >>> study = BnnStudy.read(result.folder.path / "bnn.json")
    >>> [(row.phase, row.layer, row.parameter) for row in study.variance][:2]
    [('init', 'top', 'weight_mu'), ('init', 'top', 'weight_rho')]
"""

from __future__ import annotations

import copy
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from reparam.bayes.kl import kl
from reparam.bayes.layers import BayesLinear
from reparam.data.registry import load_labelled
from reparam.models.bnn import BayesMLP
from reparam.models.networks import mlp
from reparam.train import RunConfig, Trainer
from reparam.train.config import non_negative, one_of, positive
from reparam.train.distributed import Ranks

NO_NOISE = "none"
DETERMINISTIC = "deterministic"
ESTIMATOR_ORDER = ("local", "separate", "weight", "flipout", NO_NOISE)
TRAIN_ESTIMATORS = ("local", "separate", "weight", "flipout")
LABELS = {
    "local": "local reparameterization",
    "separate": "separate weight samples",
    "weight": "single weight sample",
    "flipout": "Flipout",
    NO_NOISE: "no weight noise (minimal variance)",
    DETERMINISTIC: "deterministic nn.Linear",
}
LAYERS = ("top", "bottom")
PARAMETERS = ("weight_mu", "weight_rho")
PAPER_SIZES = (784, 1000, 1000, 1000, 10)
DATASETS = ("auto", "mnist", "digits")

# Kingma et al. (2015), Table 1: variance of the top / bottom layer's gradient after 10 and
# 100 epochs of training (MNIST, 784-1000-1000-1000-10, variational dropout, independent noise).
PUBLISHED: dict[str, dict[str, float]] = {
    "local": {"top 10": 7.8e3, "top 100": 1.2e3, "bottom 10": 1.9e2, "bottom 100": 1.1e2},
    "separate": {"top 10": 1.4e4, "top 100": 2.6e3, "bottom 10": 4.3e2, "bottom 100": 2.4e2},
    "weight": {"top 10": 4.9e4, "top 100": 4.3e3, "bottom 10": 8.5e2, "bottom 100": 3.3e2},
    NO_NOISE: {"top 10": 2.8e3, "top 100": 5.9e1, "bottom 10": 1.3e2, "bottom 100": 9.0e0},
}

CAVEAT = (
    "Paper: full MNIST training set and variational dropout (σ² = α θ², tied to the weights); "
    "here σ is a free parameter, so local and separate give the top layer's μ-gradient the same "
    "distribution; the variances scale as N². ±/bars: standard errors (batch means)."
)

# The most entries of one per-example weight tensor that "separate" builds at once; larger
# minibatches run in chunks of examples (exact: each example has its own weights anyway).
SEPARATE_BUDGET = 2**22


@dataclass(frozen=True)
class Estimate:
    """A variance averaged over a layer's weights, with its standard error (nan when R < 4)."""

    value: float
    stderr: float


@dataclass(frozen=True)
class BnnData:
    """Training examples and held-out ones: ``dataset`` is ``"mnist"`` or ``"digits"``,
    ``name`` the registry's name of the data, ``note`` where they came from."""

    x: Tensor
    y: Tensor
    x_test: Tensor
    y_test: Tensor
    dataset: str
    name: str
    note: str


@dataclass(frozen=True)
class VarianceRow:
    """The variance of ∂L/∂``parameter`` of the ``layer``'s weights, averaged over them, under
    ``estimator``, after ``epochs`` epochs of training (0: at initialization)."""

    estimator: str
    phase: str
    epochs: int
    layer: str
    parameter: str
    variance: float
    stderr: float
    repeats: int
    batch_size: int
    published_10_epochs: float | None
    published_100_epochs: float | None


@dataclass(frozen=True)
class TimingRow:
    """Seconds per training epoch (of ``steps_per_epoch`` steps) under ``estimator``, from
    ``steps_timed`` timed steps, and the ratio to a deterministic MLP's."""

    estimator: str
    seconds_per_epoch: float
    ratio_to_deterministic: float
    steps_per_epoch: int
    steps_timed: int


@dataclass(frozen=True)
class BnnStudy:
    """Everything the study measured (what ``bnn.json`` holds)."""

    config: dict[str, Any]
    variance: tuple[VarianceRow, ...]
    timing: tuple[TimingRow, ...]
    held_out_accuracy: float
    notes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": self.config,
            "notes": list(self.notes),
            "held_out_accuracy": self.held_out_accuracy,
            "variance": [asdict(r) for r in self.variance],
            "timing": [asdict(r) for r in self.timing],
            "published": {"source": "Kingma, Salimans & Welling (2015), Table 1", **PUBLISHED},
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> BnnStudy:
        return cls(
            values["config"],
            tuple(VarianceRow(**r) for r in values["variance"]),
            tuple(TimingRow(**r) for r in values["timing"]),
            values["held_out_accuracy"],
            tuple(values["notes"]),
        )

    @classmethod
    def read(cls, path: str | Path) -> BnnStudy:
        """A study back from its ``bnn.json``."""
        return cls.from_dict(json.loads(Path(path).read_text()))

    def lookup(self, estimator: str, phase: str, layer: str, parameter: str) -> VarianceRow | None:
        for r in self.variance:
            if (r.estimator, r.phase, r.layer, r.parameter) == (estimator, phase, layer, parameter):
                return r
        return None

    def summary(self) -> str:
        """One line: the network, the data, and the top layer's μ-gradient variance of each
        estimator at initialization and after training."""
        c = self.config
        parts = []
        for estimator in c["estimators"]:
            ends = [self.lookup(estimator, p, "top", "weight_mu") for p in ("init", "trained")]
            values = " → ".join("—" if r is None else f"{r.variance:.3g}" for r in ends)
            parts.append(f"{estimator} {values}")
        return (
            f"{'-'.join(map(str, c['sizes']))} on {c['train_size']} {c['dataset']} examples, "
            f"{c['epochs']} epochs: held-out accuracy {self.held_out_accuracy:.3f}; "
            f"top-layer Var ∂L/∂μ, init → trained: {', '.join(parts)}"
        )


def parse_sizes(text: str) -> list[int]:
    """``"784,100,10"`` → ``[784, 100, 10]``: at least an input and an output width, all ≥ 1.

    >>> parse_sizes("64, 32,10")
    [64, 32, 10]
    """
    try:
        sizes = [int(s) for s in text.split(",") if s.strip()]
    except ValueError as error:
        raise ValueError(f"--sizes must be comma-separated widths; got {text!r}") from error
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(
            f"--sizes needs two or more widths >= 1 (inputs, ..., classes); got {text!r}"
        )
    return sizes


def bayes_layers(model: nn.Module) -> list[BayesLinear]:
    layers = [m for m in model.modules() if isinstance(m, BayesLinear)]
    if not layers:
        raise ValueError("the model has no BayesLinear layers")
    return layers


def mean_log_likelihood(model: BayesMLP, x: Tensor, y: Tensor) -> Tensor:
    """log p(y | x, w = μ) summed over the examples: the network of the posterior means."""
    out = x
    for layer in model.layers:
        if isinstance(layer, BayesLinear):
            out = F.linear(out, layer.weight_mu, layer.bias_mu)
        else:
            out = layer(out)
    return -F.cross_entropy(out, y, reduction="sum")


def chunk_size(model: BayesMLP, estimator: str, batch_size: int) -> int:
    """Examples per forward pass: all of them, except for "separate" on wide layers."""
    if estimator != "separate":
        return batch_size
    widest = max(layer.weight_mu.numel() for layer in bayes_layers(model))
    return max(1, min(batch_size, SEPARATE_BUDGET // widest))


def negative_elbo(
    model: BayesMLP, x: Tensor, y: Tensor, scale: float, estimator: str, with_kl: bool = True
) -> Tensor:
    """−L_SGVB's part from the examples (x, y) under ``estimator``, plus the KL if asked."""
    if estimator == NO_NOISE:
        log_lik = mean_log_likelihood(model, x, y)
    else:
        model.set_estimator(estimator)
        log_lik = model.log_likelihood(x, y)
    loss = -scale * log_lik
    return loss + kl(model) if with_kl else loss


def minibatch_gradient(
    model: BayesMLP,
    x: Tensor,
    y: Tensor,
    scale: float,
    estimator: str,
    params: Sequence[Tensor],
) -> list[Tensor]:
    """∂(−L_SGVB)/∂``params`` for the minibatch (x, y) and one draw of the noise, in chunks of
    examples for "separate" (one backward pass per chunk, gradients added up)."""
    chunk = chunk_size(model, estimator, x.shape[0])
    total: list[Tensor] | None = None
    for start in range(0, x.shape[0], chunk):
        loss = negative_elbo(
            model, x[start : start + chunk], y[start : start + chunk], scale, estimator, start == 0
        )
        grads = torch.autograd.grad(loss, list(params), allow_unused=True)
        grads = [
            torch.zeros_like(p) if g is None else g for g, p in zip(grads, params, strict=True)
        ]
        total = grads if total is None else [t + g for t, g in zip(total, grads, strict=True)]
    assert total is not None
    return total


def group_sizes(repeats: int, groups: int = 10) -> list[int]:
    """Sizes (≥ 2 each, as even as possible) of the batch-means groups of ``repeats`` draws.

    >>> group_sizes(25), group_sizes(3)
    ([3, 3, 3, 3, 3, 2, 2, 2, 2, 2], [3])
    """
    count = max(1, min(groups, repeats // 2))
    return [repeats // count + (i < repeats % count) for i in range(count)]


def gradient_variances(
    model: BayesMLP,
    x: Tensor,
    y: Tensor,
    estimators: Sequence[str] = ESTIMATOR_ORDER,
    *,
    repeats: int = 100,
    batch_size: int = 100,
    scale: float | None = None,
    groups: int = 10,
    on_draw: Callable[[], None] = lambda: None,
) -> dict[str, dict[tuple[str, str], Estimate]]:
    r"""The variance across ``repeats`` draws (random minibatch of ``batch_size`` from (x, y) +
    fresh noise) of the gradient of −L_SGVB w.r.t. the weights' μ and ρ of the top and bottom
    layers, averaged over each layer's weights: ``result[estimator][(layer, parameter)]``.

    ``scale`` is N/M in L_SGVB (default ``len(x) / batch_size``). The model's estimator is
    restored afterwards; its parameters are untouched (no optimizer step).
    """
    if repeats < 2:
        raise ValueError(f"repeats must be >= 2 to estimate a variance; got {repeats}")
    if not 1 <= batch_size <= x.shape[0]:
        raise ValueError(f"batch_size must be in 1..{x.shape[0]}, got {batch_size}")
    unknown = [e for e in estimators if e not in ESTIMATOR_ORDER]
    if unknown:
        raise ValueError(f"unknown estimator(s) {unknown}; choose from {list(ESTIMATOR_ORDER)}")
    layers = bayes_layers(model)
    targets = {
        (layer, parameter): getattr(module, parameter)
        for layer, module in (("top", layers[-1]), ("bottom", layers[0]))
        for parameter in PARAMETERS
    }
    params = list(targets.values())
    n = x.shape[0]
    scale = n / batch_size if scale is None else scale
    before = layers[0].estimator
    results: dict[str, dict[tuple[str, str], Estimate]] = {}
    try:
        for estimator in estimators:
            per_group: dict[tuple[str, str], list[float]] = {key: [] for key in targets}
            for size in group_sizes(repeats, groups):
                first: list[Tensor] = []
                sums = [torch.zeros_like(p, dtype=torch.float64) for p in params]
                squares = [torch.zeros_like(p, dtype=torch.float64) for p in params]
                for draw in range(size):
                    index = torch.randperm(n, device=x.device)[:batch_size]
                    grads = minibatch_gradient(model, x[index], y[index], scale, estimator, params)
                    if draw == 0:  # shift by the group's first draw, against cancellation
                        first = [g.double() for g in grads]
                    for s, q, g, g0 in zip(sums, squares, grads, first, strict=True):
                        d = g.double() - g0
                        s += d
                        q += d * d
                    on_draw()
                for key, s, q in zip(targets, sums, squares, strict=True):
                    per_group[key].append(float(((q - s * s / size) / (size - 1)).mean()))
            results[estimator] = {key: summarize(values) for key, values in per_group.items()}
    finally:
        for layer in layers:
            layer.estimator = before
    return results


def summarize(values: Sequence[float]) -> Estimate:
    """Batch means: the mean of the groups' values and its standard error."""
    t = torch.tensor(values, dtype=torch.float64)
    stderr = float(t.std() / math.sqrt(len(values))) if len(values) > 1 else math.nan
    return Estimate(float(t.mean()), stderr)


def load_data(
    dataset: str = "auto", train_size: int | None = None, data_dir: str | Path | None = None
) -> BnnData:
    """``"mnist"``: the registry's ``mnist-resplit`` (MNIST's 10 000 labelled test images cut
    once, fixed: 8000 to train, 2000 held out; a ``ValueError`` saying which files to place
    where when they are missing and cannot be downloaded). ``"digits"``: scikit-learn's 8×8
    digits (64 inputs), its train split to train, its test split held out. ``"auto"``: MNIST,
    else digits. ``train_size``: the first that many training examples (default all).

    >>> data = load_data("digits", train_size=100)
    >>> data.x.shape, data.x_test.shape, data.dataset
    (torch.Size([100, 64]), torch.Size([180, 64]), 'digits')
    """
    one_of("--dataset", dataset, DATASETS)
    if train_size is not None and train_size < 2:
        raise ValueError(f"--train-size must be >= 2, got {train_size}")
    note = ""
    if dataset in ("auto", "mnist"):
        try:
            x, y = load_labelled("mnist-resplit", "train", data_dir)
            x_test, y_test = load_labelled("mnist-resplit", "test", data_dir)
            return _cut(x, y, x_test, y_test, "mnist", "mnist-resplit", train_size, "")
        except FileNotFoundError as error:
            if dataset == "mnist":
                raise ValueError(str(error)) from error
            reason = str(error).splitlines()[0].rstrip(":")
            note = f"MNIST unavailable ({reason}); fell back to digits. "
    x, y = load_labelled("digits", "train", data_dir)
    x_test, y_test = load_labelled("digits", "test", data_dir)
    return _cut(x, y, x_test, y_test, "digits", "digits", train_size, note)


def _cut(
    x: Tensor,
    y: Tensor,
    x_test: Tensor,
    y_test: Tensor,
    dataset: str,
    name: str,
    train_size: int | None,
    note: str,
) -> BnnData:
    if train_size is not None and train_size > len(x):
        raise ValueError(
            f"--train-size {train_size} is more than the {len(x)} training examples of {name}"
        )
    used = len(x) if train_size is None else train_size
    where = (
        "the MNIST test set re-split (images 0-7999 train, 8000-9999 held out)"
        if dataset == "mnist"
        else "the digits train split (8×8, 64 inputs; its test split held out)"
    )
    note += f"training on the first {used} of the {len(x)} training images of {where}"
    return BnnData(x[:used], y[:used], x_test, y_test, dataset, name, note)


def set_noise(model: nn.Module, alpha: float) -> None:
    """Set every ``BayesLinear`` posterior's σ to √α·|μ|, weight by weight (biases too): the
    Gaussian dropout noise of Kingma et al.'s variational dropout with independent weight noise
    (α = p / (1 − p); α = 1 matches dropout at p = 0.5). Only the start: σ and μ are separate
    parameters afterwards."""
    if not alpha > 0:
        raise ValueError(f"alpha must be > 0, got {alpha}")
    with torch.no_grad():
        for layer in bayes_layers(model):
            pairs = [(layer.weight_mu, layer.weight_rho), (layer.bias_mu, layer.bias_rho)]
            for mu, rho in pairs:
                if mu is not None:
                    sigma = (math.sqrt(alpha) * mu.abs()).clamp_min(1e-8)
                    rho.copy_(sigma + torch.log(-torch.expm1(-sigma)))


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def sgvb_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    x: Tensor,
    y: Tensor,
    scale: float,
    estimator: str,
) -> float:
    """One Adam step on −L_SGVB of the minibatch (x, y) (on the sum cross-entropy scaled by
    ``scale`` = N/M for the deterministic MLP); returns the loss. "separate" runs in chunks of
    examples, their gradients added up."""
    optimizer.zero_grad(set_to_none=True)
    if estimator == DETERMINISTIC:
        loss = scale * F.cross_entropy(model(x), y, reduction="sum")
        loss.backward()
        total = float(loss.detach())
    else:
        chunk = chunk_size(model, estimator, x.shape[0])  # type: ignore[arg-type]
        total = 0.0
        for start in range(0, x.shape[0], chunk):
            rows = slice(start, start + chunk)
            loss = negative_elbo(model, x[rows], y[rows], scale, estimator, start == 0)  # type: ignore[arg-type]
            loss.backward()
            total += float(loss.detach())
    optimizer.step()
    return total


def time_epoch(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    batch_size: int,
    estimator: str,
    lr: float,
    min_seconds: float = 0.25,
    max_seconds: float = 60.0,
) -> tuple[float, int]:
    """Wall-clock seconds per training epoch of a copy of ``model``, after one warm-up step:
    the mean time of a step × the steps of an epoch, over at least an epoch and
    ``min_seconds``, or fewer steps (at least 3) once ``max_seconds`` have passed. Also
    returns the number of steps timed."""
    n = x.shape[0]
    per_epoch = n // batch_size
    model = copy.deepcopy(model)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)

    def step() -> None:
        index = torch.randperm(n, device=x.device)[:batch_size]
        sgvb_step(model, optimizer, x[index], y[index], n / batch_size, estimator)

    step()
    sync(x.device)
    start = time.perf_counter()
    done = 0
    while True:
        step()
        done += 1
        sync(x.device)
        elapsed = time.perf_counter() - start
        if (done >= per_epoch and elapsed >= min_seconds) or (elapsed >= max_seconds and done >= 3):
            return elapsed / done * per_epoch, done


@torch.no_grad()
def accuracy(model: BayesMLP, x: Tensor, y: Tensor) -> float:
    """Accuracy of the network of the posterior means."""
    if len(x) == 0:
        return math.nan
    out = x
    for layer in model.layers:
        out = (
            F.linear(out, layer.weight_mu, layer.bias_mu)
            if isinstance(layer, BayesLinear)
            else layer(out)
        )
    return float((out.argmax(-1) == y).float().mean())


def measure(
    model: BayesMLP,
    x: Tensor,
    y: Tensor,
    estimators: Sequence[str],
    *,
    phase: str,
    epochs: int,
    repeats: int,
    batch_size: int,
    on_draw: Callable[[], None] = lambda: None,
) -> list[VarianceRow]:
    """:func:`gradient_variances` of every estimator as rows, beside the paper's figures."""
    rows = []
    for estimator in estimators:
        result = gradient_variances(
            model, x, y, [estimator], repeats=repeats, batch_size=batch_size, on_draw=on_draw
        )[estimator]
        for (layer, parameter), estimate in result.items():
            published = PUBLISHED.get(estimator, {}) if parameter == "weight_mu" else {}
            rows.append(
                VarianceRow(
                    estimator=estimator,
                    phase=phase,
                    epochs=epochs,
                    layer=layer,
                    parameter=parameter,
                    variance=estimate.value,
                    stderr=estimate.stderr,
                    repeats=repeats,
                    batch_size=batch_size,
                    published_10_epochs=published.get(f"{layer} 10"),
                    published_100_epochs=published.get(f"{layer} 100"),
                )
            )
    return rows


@dataclass(frozen=True)
class VarianceStudyConfig(RunConfig):
    """The study's settings. ``sizes``: the widths, inputs first (None: the paper's
    784-1000-1000-1000-10 with the data's input width; the run records the widths used).
    ``train_size``: the first that many training examples (None: all; recorded). ``dataset``
    ``auto`` is recorded as the data used (``mnist`` or ``digits``). Initial σ = √``alpha``·|μ|
    per weight, or ``init_std`` everywhere when ``alpha`` is None; N(0, 1) prior; Adam with
    ``lr`` on ``train_estimator``; ``repeats`` draws per estimator and phase; timing as
    :func:`time_epoch` with ``min_seconds`` and ``max_seconds``."""

    FREE = ("device", "data_dir")

    sizes: tuple[int, ...] | None = None
    epochs: int = 10
    repeats: int = 100
    batch_size: int = 100
    train_size: int | None = None
    dataset: str = "auto"
    estimators: tuple[str, ...] = ESTIMATOR_ORDER
    train_estimator: str = "local"
    lr: float = 1e-3
    alpha: float | None = 1.0
    init_std: float = 1e-2
    min_seconds: float = 0.25
    max_seconds: float = 60.0
    seed: int = 0
    device: str = "cpu"
    data_dir: str | None = None

    def __post_init__(self) -> None:
        if self.sizes is not None:
            sizes = tuple(self.sizes)
            if len(sizes) < 2 or any(isinstance(s, bool) or not isinstance(s, int) for s in sizes):
                raise ValueError(f"--sizes must be two or more whole widths; got {self.sizes}")
            if min(sizes) < 1:
                raise ValueError(f"--sizes must all be >= 1; got {','.join(map(str, sizes))}")
            object.__setattr__(self, "sizes", sizes)
        positive("--epochs", self.epochs, integer=True)
        positive("--repeats", self.repeats, integer=True)
        if self.repeats < 2:
            raise ValueError(f"--repeats must be >= 2 to estimate a variance; got {self.repeats}")
        positive("--batch-size", self.batch_size, integer=True)
        positive("--train-size", self.train_size, integer=True)
        one_of("--dataset", self.dataset, DATASETS)
        estimators = tuple(self.estimators)
        if not estimators:
            raise ValueError("--estimators names none; choose from " + ", ".join(ESTIMATOR_ORDER))
        unknown = [e for e in estimators if e not in ESTIMATOR_ORDER]
        if unknown:
            raise ValueError(
                f"unknown estimator(s) {', '.join(unknown)} in --estimators; choose from "
                + ", ".join(ESTIMATOR_ORDER)
            )
        if len(set(estimators)) < len(estimators):
            raise ValueError(f"--estimators names one twice: {','.join(estimators)}")
        object.__setattr__(self, "estimators", estimators)
        one_of("train estimator", self.train_estimator, TRAIN_ESTIMATORS)
        positive("--lr", self.lr)
        positive("--alpha", self.alpha)
        positive("init_std", self.init_std)
        non_negative("min_seconds", self.min_seconds)
        positive("max_seconds", self.max_seconds)

    def applies(self, name: str) -> bool:
        return name != "init_std" or self.alpha is None

    @classmethod
    def resumed(cls, saved: dict[str, Any], given: dict[str, Any]) -> VarianceStudyConfig:
        """As :meth:`RunConfig.resumed`; ``--dataset auto`` matches the data the run used."""
        given = {k: v for k, v in given.items() if not (k == "dataset" and v == "auto")}
        return super().resumed(saved, given)


def initial_model(config: VarianceStudyConfig, device: torch.device | str) -> BayesMLP:
    """The network at initialization (σ = √α·|μ| when ``alpha`` is given), drawn from torch's
    global generator."""
    model = VarianceStudyTrainer.build_model(config).to(device)
    if config.alpha is not None:
        set_noise(model, config.alpha)
    return model


class VarianceStudyTrainer(Trainer):
    """The study on the run engine (see the module docstring): measure, train, measure."""

    name = "bnn-variance"
    command = "variance --problem bnn"
    Config = VarianceStudyConfig
    unit = "epoch"
    monitor = None
    outputs = ("bnn.json", "bnn.png")

    def __init__(self, config: VarianceStudyConfig, ranks: Ranks) -> None:
        data = load_data(config.dataset, config.train_size, config.data_dir)
        width, classes = data.x.shape[1], int(data.y.max()) + 1
        sizes = config.sizes or (width, *PAPER_SIZES[1:-1], classes)
        if sizes[0] != width:
            hint = ",".join(map(str, (width, *sizes[1:])))
            raise ValueError(
                f"--sizes starts with {sizes[0]} inputs but {data.name} has {width}: use {hint}"
            )
        if sizes[-1] != classes:
            raise ValueError(
                f"--sizes: the last width must be the {classes} classes, got {sizes[-1]}"
            )
        if config.batch_size > len(data.x):
            raise ValueError(
                f"--batch-size {config.batch_size} is more than the {len(data.x)} training examples"
            )
        self.config = replace(
            config,
            sizes=sizes,
            dataset=data.dataset,
            train_size=len(data.x),
            device=str(ranks.device),
        )
        self.device = ranks.device
        self.x, self.y = data.x.to(self.device), data.y.to(self.device)
        self.x_test, self.y_test = data.x_test.to(self.device), data.y_test.to(self.device)
        torch.manual_seed(config.seed)
        self.model = initial_model(self.config, self.device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr)
        self.order = torch.zeros(0, dtype=torch.long)
        self.loss_sum = 0.0
        self.init_rows: list[dict[str, Any]] = []
        self.notes = [data.note]

    @classmethod
    def build_model(cls, config: VarianceStudyConfig) -> nn.Module:
        if config.sizes is None:
            raise ValueError("the config names no --sizes: it was not written by a run")
        return BayesMLP(list(config.sizes), task="classification", init_std=config.init_std)

    @property
    def periods(self) -> int:
        return self.config.epochs

    def steps_in(self, period: int) -> int:
        return len(self.x) // self.config.batch_size

    def measure(self, phase: str, epochs: int) -> list[VarianceRow]:
        c = self.config
        return measure(
            self.model,  # type: ignore[arg-type]
            self.x,
            self.y,
            c.estimators,
            phase=phase,
            epochs=epochs,
            repeats=c.repeats,
            batch_size=c.batch_size,
        )

    def start_period(self, period: int) -> None:
        if not self.init_rows:  # once a run: the checkpoint keeps them
            self.init_rows = [asdict(row) for row in self.measure("init", 0)]
        self.order = torch.randperm(len(self.x), device=self.device)
        self.loss_sum = 0.0

    def train_step(self, period: int, index: int) -> None:
        m = self.config.batch_size
        rows = self.order[index * m : (index + 1) * m]
        scale = len(self.x) / m
        self.loss_sum += sgvb_step(
            self.model,
            self.optimizer,
            self.x[rows],
            self.y[rows],
            scale,
            self.config.train_estimator,
        )

    def end_period(self, period: int) -> dict[str, Any]:
        steps = self.steps_in(period)
        return {
            "train_loss": self.loss_sum / steps / len(self.x),
            "held_out_accuracy": accuracy(self.model, self.x_test, self.y_test),  # type: ignore[arg-type]
        }

    def summary(self, row: dict[str, Any]) -> str:
        return f"−ELBO/N {row['train_loss']:.4f}  held-out accuracy {row['held_out_accuracy']:.3f}"

    def state_dict(self) -> dict[str, Any]:
        return {
            "optimizer": self.optimizer.state_dict(),
            "order": self.order,
            "loss_sum": self.loss_sum,
            "init": self.init_rows,
            "notes": self.notes,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.order = state["order"].to(self.device)
        self.loss_sum, self.init_rows, self.notes = state["loss_sum"], state["init"], state["notes"]

    def timing(self) -> list[TimingRow]:
        """Seconds per epoch of a deterministic MLP and of each estimator, from the initial
        network (redrawn from the seed, the global generator left as it was)."""
        c = self.config
        sizes = list(c.sizes or ())
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            torch.manual_seed(c.seed)
            initial = initial_model(c, self.device)
            base, timed = time_epoch(
                mlp(sizes, nn.ReLU, last=False).to(self.device),
                self.x,
                self.y,
                c.batch_size,
                DETERMINISTIC,
                c.lr,
                c.min_seconds,
                c.max_seconds,
            )
            per_epoch = len(self.x) // c.batch_size
            rows = [TimingRow(DETERMINISTIC, base, 1.0, per_epoch, timed)]
            for estimator in c.estimators:
                if estimator == NO_NOISE:
                    continue
                taken, timed = time_epoch(
                    initial,
                    self.x,
                    self.y,
                    c.batch_size,
                    estimator,
                    c.lr,
                    c.min_seconds,
                    c.max_seconds,
                )
                rows.append(TimingRow(estimator, taken, taken / base, per_epoch, timed))
        return rows

    def study(self, history: list[dict[str, Any]]) -> BnnStudy:
        """Measure the trained network and time the estimators: the whole study."""
        c = self.config
        trained = self.measure("trained", c.epochs)
        config = {
            **c.to_dict(),
            "sizes": list(c.sizes or ()),
            "estimators": list(c.estimators),
            "initial_sigma": f"sqrt({c.alpha})*|mu| per weight"
            if c.alpha is not None
            else c.init_std,
            "prior": "N(0, 1)",
            "objective": "gradient of L_SGVB = (N/M) sum_i log p(y_i|x_i,w) - KL(q||p), "
            "N = train_size",
        }
        return BnnStudy(
            config=config,
            variance=(*(VarianceRow(**row) for row in self.init_rows), *trained),
            timing=tuple(self.timing()),
            held_out_accuracy=history[-1]["held_out_accuracy"] if history else math.nan,
            notes=tuple(self.notes),
        )

    def draw(self, folder: Path, history: list[dict[str, Any]]) -> None:
        from reparam.plots.bnn_variance import plot_bnn_variance

        study = self.study(history)
        (folder / "bnn.json").write_text(json.dumps(study.to_dict(), indent=1) + "\n")
        plot_bnn_variance(study, folder / "bnn.png")

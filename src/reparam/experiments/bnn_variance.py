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

Reference:
    Kingma, Salimans & Welling (2015), Variational dropout and the local reparameterization
    trick, NeurIPS, section 5 and Table 1.
"""

from __future__ import annotations

import copy
import itertools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from reparam.bayes.kl import kl
from reparam.bayes.layers import BayesLinear
from reparam.data.registry import load_labelled
from reparam.models.bnn import BayesMLP

NO_NOISE = "none"
DETERMINISTIC = "deterministic"
ESTIMATOR_ORDER = ("local", "separate", "weight", "flipout", NO_NOISE)
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
    """Training examples (the first ``train_size``) and held-out ones, with their origin."""

    x: Tensor
    y: Tensor
    x_test: Tensor
    y_test: Tensor
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


@dataclass
class BnnStudy:
    """Everything ``run_bnn_study`` measured."""

    config: dict
    variance: list[VarianceRow] = field(default_factory=list)
    timing: list[TimingRow] = field(default_factory=list)
    held_out_accuracy: float = math.nan
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "config": self.config,
            "notes": self.notes,
            "held_out_accuracy": self.held_out_accuracy,
            "variance": [asdict(r) for r in self.variance],
            "timing": [asdict(r) for r in self.timing],
            "published": {"source": "Kingma, Salimans & Welling (2015), Table 1", **PUBLISHED},
        }

    def lookup(self, estimator: str, phase: str, layer: str, parameter: str) -> VarianceRow | None:
        for r in self.variance:
            if (r.estimator, r.phase, r.layer, r.parameter) == (estimator, phase, layer, parameter):
                return r
        return None


def parse_sizes(text: str) -> list[int]:
    """``"784,100,10"`` → ``[784, 100, 10]``: at least an input and an output width, all ≥ 1.

    >>> parse_sizes("64, 32,10")
    [64, 32, 10]
    """
    try:
        sizes = [int(s) for s in text.split(",") if s.strip()]
    except ValueError as error:
        raise ValueError(f"expected comma-separated widths, got {text!r}") from error
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"need at least two positive widths (inputs, ..., classes), got {text!r}")
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
    dataset: str = "auto", train_size: int = 8000, data_dir: str | Path | None = None
) -> BnnData:
    """``"mnist"``: the first ``train_size`` images of the MNIST *test* set (the only labelled
    MNIST here) for training, the rest held out (a ``ValueError`` saying which files to place
    where when they are missing and cannot be downloaded). ``"digits"``: scikit-learn's 8×8
    digits (64 inputs), the first ``train_size`` of its train split, its test split held out.
    ``"auto"``: MNIST, else digits."""
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; choose from {', '.join(DATASETS)}")
    if train_size < 2:
        raise ValueError(f"train_size must be >= 2, got {train_size}")
    note = ""
    if dataset in ("auto", "mnist"):
        try:
            x, y = load_labelled("mnist-test", "test", data_dir)
            return BnnData(
                x[:train_size],
                y[:train_size],
                x[train_size:],
                y[train_size:],
                "mnist-test",
                f"training on the first {min(train_size, len(x))} of the 10 000 MNIST test "
                f"images (the only labelled MNIST here), the other {max(0, len(x) - train_size)} "
                "held out",
            )
        except FileNotFoundError as error:
            if dataset == "mnist":
                raise ValueError(str(error)) from error
            reason = str(error).splitlines()[0].rstrip(":")
            note = f"MNIST unavailable ({reason}); fell back to digits. "
    x, y = load_labelled("digits", "train", data_dir)
    x_test, y_test = load_labelled("digits", "test", data_dir)
    used = min(train_size, len(x))
    note += f"training on the first {used} of the 1437 digits train images (8×8, 64 inputs)"
    return BnnData(x[:train_size], y[:train_size], x_test, y_test, "digits", note)


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


def deterministic_mlp(sizes: Sequence[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in itertools.pairwise(sizes):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    x: Tensor,
    y: Tensor,
    batch_size: int,
    estimator: str,
    steps: int | None = None,
) -> int:
    """One epoch (or its first ``steps`` minibatches) of Adam on −L_SGVB (on the sum
    cross-entropy scaled by N/M for the deterministic MLP); returns the steps taken."""
    n = x.shape[0]
    scale = n / batch_size
    order = torch.randperm(n, device=x.device)
    count = n // batch_size if steps is None else min(steps, n // batch_size)
    for step in range(count):
        index = order[step * batch_size : (step + 1) * batch_size]
        optimizer.zero_grad(set_to_none=True)
        if estimator == DETERMINISTIC:
            loss = scale * F.cross_entropy(model(x[index]), y[index], reduction="sum")
            loss.backward()
        else:
            params = [p for p in model.parameters() if p.requires_grad]
            grads = minibatch_gradient(model, x[index], y[index], scale, estimator, params)
            for p, g in zip(params, grads, strict=True):
                p.grad = g
        optimizer.step()
    return count


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
    per_epoch = x.shape[0] // batch_size
    model = copy.deepcopy(model)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    train_epoch(model, optimizer, x, y, batch_size, estimator, steps=1)
    sync(x.device)
    start = time.perf_counter()
    done = 0
    while True:
        done += train_epoch(model, optimizer, x, y, batch_size, estimator, steps=1)
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


def study_steps(estimators: Sequence[str], repeats: int, epochs: int) -> int:
    """The number of ``on_step`` calls of ``run_bnn_study``: draws, epochs and timings."""
    timed = [e for e in estimators if e != NO_NOISE]
    return 2 * len(estimators) * repeats + epochs + len(timed) + 1


def run_bnn_study(
    *,
    sizes: Sequence[int] = PAPER_SIZES,
    epochs: int = 10,
    repeats: int = 100,
    batch_size: int = 100,
    train_size: int = 8000,
    dataset: str = "auto",
    estimators: Sequence[str] = ESTIMATOR_ORDER,
    train_estimator: str = "local",
    lr: float = 1e-3,
    alpha: float | None = 1.0,
    init_std: float = 1e-2,
    min_seconds: float = 0.25,
    max_seconds: float = 60.0,
    device: torch.device | str = "cpu",
    data_dir: str | Path | None = None,
    on_step: Callable[[str], None] = lambda description: None,
) -> BnnStudy:
    """Kingma et al.'s Table 1 for a ``BayesMLP`` of ``sizes`` (N(0, 1) prior; initial σ =
    √``alpha``·|μ| per weight, or ``init_std`` everywhere when ``alpha`` is None): gradient
    variances of each estimator at initialization and after ``epochs`` epochs of Adam (lr
    ``lr``) with ``train_estimator``, and each estimator's time per training epoch beside a
    deterministic MLP's (see ``time_epoch`` for ``min_seconds`` and ``max_seconds``). Seed
    ``torch`` first for a repeatable run."""
    device = torch.device(device)
    data = load_data(dataset, train_size, data_dir)
    sizes = list(sizes)
    notes = [data.note]
    if sizes[0] != data.x.shape[1]:
        notes.append(f"input width {sizes[0]} → {data.x.shape[1]} to fit {data.name}")
        sizes[0] = data.x.shape[1]
    classes = int(data.y.max()) + 1
    if sizes[-1] != classes:
        raise ValueError(f"the last width must be the {classes} classes, got {sizes[-1]}")
    x, y = data.x.to(device), data.y.to(device)
    if not 1 <= batch_size <= len(x):
        raise ValueError(f"batch_size must be in 1..{len(x)} (the training examples)")
    model = BayesMLP(sizes, task="classification", init_std=init_std).to(device)
    if alpha is not None:
        set_noise(model, alpha)
    config = {
        "sizes": sizes,
        "epochs": epochs,
        "repeats": repeats,
        "batch_size": batch_size,
        "train_size": len(x),
        "dataset": data.name,
        "estimators": list(estimators),
        "train_estimator": train_estimator,
        "lr": lr,
        "initial_sigma": f"sqrt({alpha})*|mu| per weight" if alpha is not None else init_std,
        "prior": "N(0, 1)",
        "device": str(device),
        "objective": "gradient of L_SGVB = (N/M) sum_i log p(y_i|x_i,w) - KL(q||p), N = train_size",
    }
    study = BnnStudy(config=config, notes=notes)

    def measure(phase: str, trained: int) -> None:
        for estimator in estimators:
            result = gradient_variances(
                model,
                x,
                y,
                [estimator],
                repeats=repeats,
                batch_size=batch_size,
                on_draw=lambda e=estimator: on_step(f"{phase}: {e}"),
            )[estimator]
            for (layer, parameter), estimate in result.items():
                published = PUBLISHED.get(estimator, {}) if parameter == "weight_mu" else {}
                study.variance.append(
                    VarianceRow(
                        estimator=estimator,
                        phase=phase,
                        epochs=trained,
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

    measure("init", 0)
    initial = copy.deepcopy(model)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    for epoch in range(epochs):
        train_epoch(model, optimizer, x, y, batch_size, train_estimator)
        on_step(f"training epoch {epoch + 1}/{epochs} ({train_estimator})")
    study.held_out_accuracy = accuracy(model, data.x_test.to(device), data.y_test.to(device))
    measure("trained", epochs)

    seconds, timed = time_epoch(
        deterministic_mlp(sizes).to(device), x, y, batch_size, DETERMINISTIC, lr, min_seconds
    )
    on_step("timing deterministic")
    per_epoch = len(x) // batch_size
    study.timing.append(TimingRow(DETERMINISTIC, seconds, 1.0, per_epoch, timed))
    for estimator in estimators:
        if estimator == NO_NOISE:
            continue
        taken, timed = time_epoch(
            initial, x, y, batch_size, estimator, lr, min_seconds, max_seconds
        )
        study.timing.append(TimingRow(estimator, taken, taken / seconds, per_epoch, timed))
        on_step(f"timing {estimator}")
    return study

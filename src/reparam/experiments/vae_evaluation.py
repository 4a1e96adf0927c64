r"""Test-set evaluation: the importance-weighted bound with many samples, in bounded memory.

Example:
    >>> import torch
    >>> from reparam.models import VAE
    >>> model = VAE(64, layers=(((16,), 4),))
    >>> result = evaluate(model, torch.ones(10, 64).bernoulli(), k=20, chunk=7)
    >>> result.examples, result.k, result.nll <= result.negative_elbo
    (10, 20, True)
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
from rich.progress import Progress
from torch import Tensor

from reparam.experiments.vae_build import load_split
from reparam.experiments.vae_config import LatentConfig
from reparam.models import LatentModel
from reparam.train.config import one_of, positive

SPLITS = ("test", "valid", "train")


@dataclass(frozen=True)
class Evaluation:
    r"""A model's bounds on a split: ``nll`` :math:`= -\frac1N\sum_n \mathcal L_k(x_n)`, the
    negative ELBO (the mean of the k log-weights), the active units (None without a Gaussian
    posterior mean), and the ``extra`` figures a model family adds (a sentence model's
    perplexity, a KL term), by name."""

    split: str
    k: int
    nll: float
    negative_elbo: float
    active_units: int | None
    examples: int
    seconds: float
    extra: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        units = "—" if self.active_units is None else str(self.active_units)
        extra = "".join(f", {name} {value:.4g}" for name, value in self.extra.items())
        return (
            f"{self.split} ({self.examples} examples): NLL = -L_{self.k} {self.nll:.2f} nats, "
            f"-ELBO {self.negative_elbo:.2f}, active units {units}{extra}, {self.seconds:.1f} s"
        )

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@torch.no_grad()
def log_weights(model: LatentModel, x: Tensor, k: int) -> Tensor:
    r""":math:`\log w_i = \log p(x, z_i) - \log q(z_i \mid x)` for k draws, shape ``[k, B]``."""
    q = model.posterior(x)
    z = q.sample((k,))
    return model.log_joint(x, z) - q.log_prob(z)


@torch.no_grad()
def bounds(model: LatentModel, x: Tensor, k: int, chunk: int) -> tuple[Tensor, Tensor]:
    r""":math:`\mathcal L_k` and the ELBO (the mean log-weight) of each row of x, drawing the k
    samples ``chunk`` at a time (:func:`merged_bounds`)."""
    return merged_bounds(lambda n: log_weights(model, x, n), k, chunk)


@torch.no_grad()
def merged_bounds(
    log_weights_of: Callable[[int], Tensor], k: int, chunk: int
) -> tuple[Tensor, Tensor]:
    r""":math:`\mathcal L_k = \log \frac1k \sum_i w_i` and the mean log-weight of each
    example, from ``log_weights_of(n)``, n fresh log-weights ``[n, B]``, called for ``chunk``
    at a time and merged with ``logaddexp``, so memory grows with ``chunk``, never with k."""
    total: Tensor | None = None
    mean: Tensor | None = None
    for start in range(0, k, chunk):
        log_w = log_weights_of(min(chunk, k - start))
        part, summed = torch.logsumexp(log_w, 0), log_w.sum(0) / k
        total = part if total is None else torch.logaddexp(total, part)
        mean = summed if mean is None else mean + summed
    assert total is not None and mean is not None, "k must be at least 1"
    return total - math.log(k), mean


@torch.no_grad()
def active_units(
    model: LatentModel, data: Tensor, batch_size: int, threshold: float = 0.01
) -> int | None:
    r"""Latent dimensions u with :math:`\operatorname{Cov}_x(\mathbb E_{q(u\mid x)}[u]) > 0.01`
    (Burda et al. 2016, §5.2); ``None`` for models without a Gaussian posterior mean."""
    if not hasattr(model, "posterior_mean"):
        return None
    means = torch.cat([model.posterior_mean(x) for x in data.split(batch_size)])
    return int((means.var(0) > threshold).sum())


def check(k: int, chunk: int, batch_size: int, subset: int | None, split: str) -> None:
    """A ``ValueError`` naming the option for a count below 1 or an unknown split."""
    for name, value in (("--k", k), ("--chunk", chunk), ("--batch-size", batch_size)):
        positive(name, value, integer=True)
    positive("--subset", subset, integer=True)
    one_of("--split", split, SPLITS)


def evaluate(
    model: LatentModel,
    data: Tensor,
    *,
    k: int = 5000,
    chunk: int = 100,
    batch_size: int = 100,
    split: str = "test",
    on_batch: Callable[[], None] = lambda: None,
) -> Evaluation:
    r"""Test NLL :math:`-\frac1N\sum_n \mathcal L_k(x_n)`, the negative ELBO and active units.

    Memory is bounded by ``batch_size × chunk`` samples at a time, whatever the data's size.
    """
    check(k, chunk, batch_size, None, split)
    started = time.perf_counter()
    model.eval()
    nll, negative_elbo = 0.0, 0.0
    for x in data.split(batch_size):
        bound, elbo = bounds(model, x, k, chunk)
        nll -= float(bound.sum())
        negative_elbo -= float(elbo.sum())
        on_batch()
    n = len(data)
    units = active_units(model, data, batch_size)
    return Evaluation(split, k, nll / n, negative_elbo / n, units, n, time.perf_counter() - started)


def evaluate_saved_run(
    run: str | Path,
    *,
    k: int = 5000,
    chunk: int = 100,
    split: str = "test",
    subset: int | None = None,
    batch_size: int = 100,
    device: str = "auto",
    weights: str = "best",
    progress: bool = False,
) -> Evaluation:
    """Evaluate a latent-variable run's model (``best``: chosen on validation; or ``last``) on
    ``split``, or on a random ``subset`` of it (fixed seed; never a prefix: the files are
    ordered), through its trainer's ``test_bounds`` (a VAE-family, DRAW or sentence-VAE run);
    the result is also written to ``RUN/eval-SPLIT-kK.json``."""
    from reparam.runs import load_run

    check(k, chunk, batch_size, subset, split)
    loaded = load_run(run, weights=weights, device=device)
    with Progress(transient=True, disable=not progress) as bar:

        def meter(batches: int) -> Callable[[], None]:
            task = bar.add_task(f"L_{k} on {split}", total=batches)
            return lambda: bar.advance(task)

        started = time.perf_counter()
        result = loaded.trainer_class().test_bounds(
            Path(run),
            loaded.model,
            loaded.config,
            split=split,
            k=k,
            chunk=chunk,
            subset=subset,
            batch_size=batch_size,
            meter=meter,
        )
    result = replace(result, seconds=time.perf_counter() - started)
    (Path(run) / f"eval-{split}-k{k}.json").write_text(json.dumps(result.to_dict(), indent=1))
    return result


def evaluate_latent_run(
    model: LatentModel,
    config: LatentConfig,
    *,
    split: str,
    k: int,
    chunk: int,
    subset: int | None,
    batch_size: int,
    meter: Callable[[int], Callable[[], None]],
) -> Evaluation:
    """:func:`evaluate` on ``split`` of a VAE-family run's dataset (``LatentTrainer.test_bounds``)."""
    chosen = next(model.parameters()).device
    data = load_split(config.dataset, split, config.data_dir, subset).to(chosen)
    advance = meter(math.ceil(len(data) / batch_size))
    return evaluate(
        model, data, k=k, chunk=chunk, batch_size=batch_size, split=split, on_batch=advance
    )

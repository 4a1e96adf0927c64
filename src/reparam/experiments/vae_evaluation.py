"""Test-set evaluation: the importance-weighted bound with many samples, in bounded memory."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path

import torch
from rich.progress import Progress
from torch import Tensor

from reparam.data import load
from reparam.experiments.vae import random_rows
from reparam.experiments.vae_build import build_model
from reparam.experiments.vae_config import TrainConfig
from reparam.models import LatentModel
from reparam.train.checkpoint import load as load_checkpoint
from reparam.train.distributed import resolve_device


@torch.no_grad()
def log_weights(model: LatentModel, x: Tensor, k: int) -> Tensor:
    r""":math:`\log w_i = \log p(x, z_i) - \log q(z_i \mid x)` for k draws, shape ``[k, B]``."""
    q = model.posterior(x)
    z = q.sample((k,))
    return model.log_joint(x, z) - q.log_prob(z)


@torch.no_grad()
def bounds(model: LatentModel, x: Tensor, k: int, chunk: int) -> tuple[Tensor, Tensor]:
    r""":math:`\mathcal L_k` and the ELBO (the mean log-weight) of each row of x, drawing the k
    samples ``chunk`` at a time and merging them with ``logaddexp``, so memory grows with
    ``chunk``, never with k."""
    total = x.new_full((x.shape[0],), -math.inf)
    mean = x.new_zeros(x.shape[0])
    for start in range(0, k, chunk):
        log_w = log_weights(model, x, min(chunk, k - start))
        total = torch.logaddexp(total, torch.logsumexp(log_w, 0))
        mean += log_w.sum(0) / k
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


def evaluate(
    model: LatentModel,
    data: Tensor,
    *,
    k: int = 5000,
    chunk: int = 100,
    batch_size: int = 100,
    on_batch: Callable[[], None] = lambda: None,
) -> dict[str, float | int | None]:
    r"""Test NLL :math:`-\frac1N\sum_n \mathcal L_k(x_n)`, the negative ELBO and active units.

    Memory is bounded by ``batch_size × chunk`` samples at a time, whatever the data's size.
    """
    model.eval()
    nll, negative_elbo = 0.0, 0.0
    for x in data.split(batch_size):
        bound, elbo = bounds(model, x, k, chunk)
        nll -= float(bound.sum())
        negative_elbo -= float(elbo.sum())
        on_batch()
    n = len(data)
    return {
        "k": k,
        "nll": nll / n,
        "negative_elbo": negative_elbo / n,
        "active_units": active_units(model, data, batch_size),
        "examples": n,
    }


def evaluate_saved_run(
    run: Path,
    *,
    k: int = 5000,
    chunk: int = 100,
    split: str = "test",
    subset: int | None = None,
    batch_size: int = 100,
    device: str = "auto",
    progress: bool = False,
) -> dict[str, float | int | None]:
    """Evaluate a run folder's best model (chosen on validation) on ``split``, or on a random
    ``subset`` of it (fixed seed; never a prefix: the files are ordered); the result is also
    written to ``RUN/eval-SPLIT-kK.json``."""
    if k < 1 or chunk < 1:
        raise ValueError(f"k and chunk must be >= 1; got k={k}, chunk={chunk}.")
    if not (run / "config.json").exists():
        raise FileNotFoundError(
            f"{run} is not a run folder (no config.json); train one with `reparam train --out {run}`."
        )
    config = TrainConfig.load(run / "config.json")
    chosen = resolve_device(device)
    data = random_rows(load(config.dataset, split, config.data_dir), subset).to(chosen)
    model = build_model(config, data.shape[1]).to(chosen)
    model.load_state_dict(load_checkpoint(run / "best.pt", chosen)["model"])
    start = time.perf_counter()
    with Progress(transient=True, disable=not progress) as bar:
        task = bar.add_task(f"L_{k} on {split}", total=math.ceil(len(data) / batch_size))
        result = evaluate(
            model,
            data,
            k=k,
            chunk=chunk,
            batch_size=batch_size,
            on_batch=lambda: bar.advance(task),
        )
    result["seconds"] = time.perf_counter() - start
    result["split"] = split
    (run / f"eval-{split}-k{k}.json").write_text(json.dumps(result, indent=1))
    return result

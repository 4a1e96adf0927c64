r"""From a run's config to its data, its model, its decoder and its gradient estimator."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from reparam.data import DATASETS, load
from reparam.data.arrays import is_array_file, load_arrays
from reparam.estimators import EstimatorModule, parse
from reparam.experiments.vae_config import (
    GUMBEL,
    CategoricalVAEConfig,
    ConvVAEConfig,
    FlowVAEConfig,
    LatentConfig,
    VAEConfig,
)
from reparam.flows import PosteriorFlow
from reparam.models import ONE_LAYER, TWO_LAYERS, VAE, CategoricalVAE, ConvVAE, LatentModel


def random_rows(data: Tensor, count: int | None) -> Tensor:
    """``count`` rows drawn at random with a fixed seed (all rows when None): the binarized
    MNIST files are ordered, so a prefix is not a fair sample."""
    if count is None or count >= len(data):
        return data
    return data[torch.randperm(len(data), generator=torch.Generator().manual_seed(0))[:count]]


def load_split(dataset: str, split: str, data_dir: str | None, subset: int | None) -> Tensor:
    """Rows of ``split`` of a registry dataset or of a file of one's own (``.npy``, ``.npz``,
    ``.csv``), checked to be binary: the decoders are Bernoulli."""
    if is_array_file(dataset):
        data = load_arrays(dataset, split, binary=True)
    else:
        if not DATASETS[dataset].binary:
            binary = ", ".join(name for name, d in DATASETS.items() if d.binary)
            raise ValueError(
                f"--dataset {dataset}: Bernoulli decoders need binary data (0/1 values); "
                f"choose one of {binary}, or a binarized file of your own"
            )
        data = load(dataset, split, data_dir)
    return random_rows(data, subset)


def pixels(config: LatentConfig) -> int:
    if config.x_dim is None:
        raise ValueError(f"the {config.MODEL} config records no x_dim: it needs the data's size")
    return config.x_dim


def build_model(config: LatentConfig) -> LatentModel:
    """The architecture ``config`` describes, for ``config.x_dim`` pixels, holding its
    training estimator as the submodule ``estimator`` (see :func:`make_estimator`)."""
    model = build_network(config)
    model.add_module("estimator", make_estimator(config))
    return model


def build_network(config: LatentConfig) -> LatentModel:
    x_dim = pixels(config)
    if isinstance(config, CategoricalVAEConfig):
        return CategoricalVAE(x_dim)
    if isinstance(config, ConvVAEConfig):
        side = math.isqrt(x_dim)
        if side * side != x_dim or side % 4:
            raise ValueError(
                f"conv-vae needs square images whose side is a multiple of 4; --dataset "
                f"{config.dataset} has {x_dim} values a row"
            )
        return ConvVAE(side)
    if isinstance(config, FlowVAEConfig):
        hidden, z_dim = ONE_LAYER[0]
        flow = PosteriorFlow(config.flow, config.flow_length, z_dim, hidden[-1])
        return VAE(x_dim, ONE_LAYER, flow=flow)
    assert isinstance(config, VAEConfig)
    return VAE(x_dim, TWO_LAYERS if config.layers == 2 else ONE_LAYER)


def temperature(step: int, rate: float) -> float:
    r"""Jang et al.'s annealing :math:`\tau = \max(0.5, e^{-r t})`, updated every 500 steps.

    >>> temperature(0, 1e-4), temperature(499, 1e-4), round(temperature(500, 1e-4), 4)
    (1.0, 1.0, 0.9512)
    """
    return max(0.5, math.exp(-rate * (step // 500 * 500)))


def make_estimator(config: LatentConfig) -> EstimatorModule:
    """The gradient estimator of a run: one object for the whole run, a submodule of its model
    (``model.estimator``), so that a moving-average baseline learns across steps and its
    state is in the model's ``state_dict`` and checkpoints.

    ``auto`` follows :mod:`reparam.estimators.auto` (pathwise when the posterior has
    ``rsample``; for categorical latents the score function with the leave-one-out baseline
    at k > 1, VIMCO for the IWAE bound), except at k = 1 on the ELBO with categorical latents,
    where a training run owns a ``score+moving-average`` baseline rather than none.

    >>> make_estimator(CategoricalVAEConfig(k=1, estimator="auto"))
    ScoreFunction(baseline=MovingAverage(decay=0.9))
    """
    spec = config.estimator
    if spec == "auto" and config.LATENT == "discrete" and config.objective == "elbo":
        spec = "score+leave-one-out" if config.k > 1 else "score+moving-average"
    return parse(spec, objective=config.objective, latent=config.LATENT)  # type: ignore[return-value]


def set_temperature(estimator: nn.Module, config: LatentConfig, step: int) -> float | None:
    """Anneal a Gumbel estimator's temperature to ``step``'s; None for other estimators."""
    if config.estimator not in GUMBEL:
        return None
    tau = temperature(step, config.temperature_rate)  # type: ignore[attr-defined]
    estimator.temperature = tau  # type: ignore[assignment]
    return tau


def validation_estimator(objective: str) -> str:
    """An estimator whose value is the plain Monte Carlo bound (relaxed ones are not) and
    which keeps no state."""
    return "score" if objective == "elbo" else "auto"


class DecoderMeans(nn.Module):
    r"""The generative network :math:`z \mapsto \mathbb E[x \mid z] = \sigma(\text{decoder}(z))`:
    Bernoulli means ``[B, pixels]`` in [0, 1] from latent codes ``[B, d]``; what
    ``reparam export`` writes."""

    def __init__(self, decoder: nn.Module) -> None:
        super().__init__()
        self.decoder = decoder

    def forward(self, z: Tensor) -> Tensor:
        return torch.sigmoid(self.decoder(z))

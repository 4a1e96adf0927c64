"""From a run's config to its model and, step by step, its gradient estimator."""

from __future__ import annotations

import math

from reparam.estimators import Estimator, GumbelSoftmax
from reparam.flows import PosteriorFlow
from reparam.models import ONE_LAYER, TWO_LAYERS, VAE, CategoricalVAE, ConvVAE, LatentModel
from reparam.train.config import TrainConfig


def build_model(config: TrainConfig, x_dim: int) -> LatentModel:
    """The architecture ``config.model`` names, for data with ``x_dim`` pixels."""
    if config.model == "cat-vae":
        return CategoricalVAE(x_dim)
    if config.model == "conv-vae":
        side = math.isqrt(x_dim)
        if side * side != x_dim:
            raise ValueError(f"conv-vae needs square images; {x_dim} pixels are not a square.")
        return ConvVAE(side)
    if config.model == "flow-vae":
        if config.layers != 1:
            raise ValueError("flow-vae has one stochastic layer; drop --layers 2.")
        hidden, z_dim = ONE_LAYER[0]
        flow = PosteriorFlow(config.flow, config.flow_length, z_dim, hidden[-1])
        return VAE(x_dim, ONE_LAYER, flow=flow)
    return VAE(x_dim, TWO_LAYERS if config.layers == 2 else ONE_LAYER)


def temperature(step: int, rate: float) -> float:
    r"""Jang et al.'s annealing :math:`\tau = \max(0.5, e^{-r t})`, updated every 500 steps."""
    return max(0.5, math.exp(-rate * (step // 500 * 500)))


def estimator_at(config: TrainConfig, step: int) -> str | Estimator:
    """The estimator of training step ``step``: Gumbel-softmax names get the annealed τ."""
    if config.estimator in ("gumbel-softmax", "st-gumbel"):
        tau = temperature(step, config.temperature_rate)
        return GumbelSoftmax(tau, hard=config.estimator == "st-gumbel")
    return config.estimator

"""From a run's config to its model and, step by step, its gradient estimator."""

from __future__ import annotations

import math

from reparam.estimators import Estimator, GumbelSoftmax, ScoreFunction
from reparam.experiments.vae_config import TrainConfig
from reparam.flows import PosteriorFlow
from reparam.models import ONE_LAYER, TWO_LAYERS, VAE, CategoricalVAE, ConvVAE, LatentModel


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


class EstimatorSchedule:
    """The estimator of each training step. ``gumbel-softmax`` and ``st-gumbel`` get the
    annealed τ; ``score+BASELINE`` (``score+leave-one-out``, ``score+optimal``,
    ``score+moving-average``) one score-function object for the whole run, so that a moving
    average carries over (and is saved in checkpoints); any other name goes to the objective
    as it is."""

    def __init__(self, name: str, temperature_rate: float) -> None:
        self.name, self.temperature_rate = name, temperature_rate
        self.fixed = (
            ScoreFunction(name.removeprefix("score+")) if name.startswith("score+") else None
        )

    def __call__(self, step: int) -> str | Estimator:
        if self.name in ("gumbel-softmax", "st-gumbel"):
            tau = temperature(step, self.temperature_rate)
            return GumbelSoftmax(tau, hard=self.name == "st-gumbel")
        return self.fixed or self.name

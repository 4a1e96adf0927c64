"""Optimal transport: the exact Kantorovich LP with its dual, the exact W1 between point
clouds, log-domain Sinkhorn (with ε-scaling and Newton steps), the Sinkhorn divergence,
closed-form 1-D Wasserstein distances, and WGAN critic losses."""

from reparam.transport.divergence import sinkhorn_divergence
from reparam.transport.exact import exact_w1
from reparam.transport.kantorovich import TransportResult, kantorovich
from reparam.transport.sinkhorn_solver import SinkhornResult, sinkhorn
from reparam.transport.wasserstein1d import wasserstein_1d
from reparam.transport.wgan import (
    CRITIC_CONSTRAINTS,
    clip_weights_,
    critic_loss,
    critic_step,
    generator_loss,
    gradient_penalty,
    lipschitz_estimate,
)

__all__ = [
    "CRITIC_CONSTRAINTS",
    "SinkhornResult",
    "TransportResult",
    "clip_weights_",
    "critic_loss",
    "critic_step",
    "exact_w1",
    "generator_loss",
    "gradient_penalty",
    "kantorovich",
    "lipschitz_estimate",
    "sinkhorn",
    "sinkhorn_divergence",
    "wasserstein_1d",
]

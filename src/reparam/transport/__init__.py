"""Optimal transport: the exact Kantorovich LP with its dual (and its gradients), the exact W1
between point clouds, log-domain Sinkhorn (with ε-scaling, Newton steps and warm starts),
unbalanced Sinkhorn, the Sinkhorn divergence, the 1-D plan, potentials and distances, the
free-support Wasserstein barycenter, and WGAN critic losses."""

from reparam.transport.barycenter import BarycenterResult, free_support_barycenter
from reparam.transport.divergence import sinkhorn_divergence
from reparam.transport.emd1d import emd_1d
from reparam.transport.exact import exact_w1
from reparam.transport.kantorovich import TransportResult, kantorovich
from reparam.transport.sinkhorn_solver import SinkhornResult, sinkhorn
from reparam.transport.unbalanced import UnbalancedResult, sinkhorn_unbalanced
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
    "BarycenterResult",
    "SinkhornResult",
    "TransportResult",
    "UnbalancedResult",
    "clip_weights_",
    "critic_loss",
    "critic_step",
    "emd_1d",
    "exact_w1",
    "free_support_barycenter",
    "generator_loss",
    "gradient_penalty",
    "kantorovich",
    "lipschitz_estimate",
    "sinkhorn",
    "sinkhorn_divergence",
    "sinkhorn_unbalanced",
    "wasserstein_1d",
]

"""Normalizing flows for variational posteriors: each flow is a plain function returning
``(z, log|det J|)`` and a ``torch.distributions`` transform built on it."""

from reparam.flows.amortized import KINDS, PosteriorFlow
from reparam.flows.base import FlowTransform
from reparam.flows.iaf import MADE, IAFTransform, MaskedLinear, iaf, iaf_inverse
from reparam.flows.planar import (
    PlanarTransform,
    planar,
    planar_inverse,
    planar_u_hat,
)
from reparam.flows.radial import RadialTransform, radial, radial_inverse, radial_parameters

__all__ = [
    "KINDS",
    "MADE",
    "FlowTransform",
    "IAFTransform",
    "MaskedLinear",
    "PlanarTransform",
    "PosteriorFlow",
    "RadialTransform",
    "iaf",
    "iaf_inverse",
    "planar",
    "planar_inverse",
    "planar_u_hat",
    "radial",
    "radial_inverse",
    "radial_parameters",
]

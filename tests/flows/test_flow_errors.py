"""Flows applied to points of the wrong dimension, and models built or called with bad sizes,
raise one line that names the argument."""

import torch

from reparam.flows import (
    MADE,
    PlanarTransform,
    PosteriorFlow,
    RadialTransform,
    iaf,
    planar,
    planar_inverse,
    radial,
    radial_inverse,
)
from reparam.models import VAE, CategoricalVAE, ConvVAE
from reparam.models.networks import mlp
from tests.error_tables import raises_test

U, W, B = torch.randn(3), torch.randn(3), torch.tensor(0.1)
Z0, A, BETA = torch.randn(3), torch.tensor(0.2), torch.tensor(-0.5)
MADE3 = MADE(3, context_dim=4, hidden=(8,))
FLOW = PosteriorFlow("planar", length=2, z_dim=3, context_dim=5)

VALUE_CASES = {
    "planar-z": (lambda: planar(torch.randn(5, 2), U, W, B), r"z must have 3 entries .*\(5, 2\)"),
    # one entry in the last dimension used to broadcast silently against d = 3
    "planar-z-broadcast": (lambda: planar(torch.randn(5, 1), U, W, B), r"z must have 3 entries"),
    "planar-u-w": (lambda: planar(torch.randn(5, 3), torch.randn(2), W, B), "u and w must be"),
    "planar-inverse-y": (lambda: planar_inverse(torch.randn(4, 2), U, W, B), "y must have 3"),
    "planar-iterations": (
        lambda: planar_inverse(torch.randn(4, 3), U, W, B, iterations=0),
        "iterations must be a positive integer, got 0",
    ),
    "radial-z": (lambda: radial(torch.randn(5, 1), Z0, A, BETA), r"z must have 3 entries"),
    "radial-inverse-y": (lambda: radial_inverse(torch.randn(5, 4), Z0, A, BETA), "y must have 3"),
    "planar-transform-z": (
        lambda: PlanarTransform(U, W, B)(torch.randn(2, 4)),
        "z must have 3 entries",
    ),
    "radial-transform-z": (
        lambda: RadialTransform(Z0, A, BETA)(torch.randn(2, 1)),
        "z must have 3 entries",
    ),
    "iaf-z": (lambda: iaf(torch.randn(2, 2), MADE3, torch.randn(2, 4)), "z must have 3 entries"),
    "iaf-context": (
        lambda: iaf(torch.randn(2, 3), MADE3, torch.randn(2, 5)),
        "context must have 4 entries in its last dimension",
    ),
    "made-z-dim": (lambda: MADE(0), "z_dim must be a positive integer, got 0"),
    "made-context": (lambda: MADE(2, context_dim=-1), "context_dim must be an integer >= 0"),
    "made-hidden": (lambda: MADE(2, hidden=(8, 0)), r"every entry of hidden \(8, 0\)"),
    "made-no-hidden": (lambda: MADE(2, hidden=()), "hidden must list at least one layer"),
    "amortized-h": (lambda: FLOW(torch.randn(4, 6)), "h must have 5 entries"),
    "amortized-length": (
        lambda: PosteriorFlow("radial", length=0, z_dim=2, context_dim=3),
        "length, z_dim and context_dim >= 1",
    ),
    "amortized-forget-bias": (
        lambda: PosteriorFlow("iaf", 2, 2, 3, forget_bias=float("nan")),
        "forget_bias must be finite",
    ),
    "vae-x-dim": (lambda: VAE(0, layers=(((8,), 2),)), "x_dim must be a positive integer"),
    "vae-latent": (lambda: VAE(4, layers=(((8,), 0),)), "every latent size of layers"),
    "vae-no-layers": (lambda: VAE(4, layers=()), "layers must list at least one"),
    "vae-flow-dim": (
        lambda: VAE(4, layers=(((8,), 2),), flow=PosteriorFlow("planar", 1, 3, 8)),
        "flow acts on points of dimension z_dim=3, but the latent size is 2",
    ),
    "vae-bound-x": (
        lambda: VAE(4, layers=(((8,), 2),)).bound(torch.rand(3, 5)),
        "x must have 4 entries in its last dimension",
    ),
    "conv-vae-side": (lambda: ConvVAE(side=0), "side must be a positive integer, got 0"),
    "conv-vae-bound-x": (
        lambda: ConvVAE(side=8, z_dim=2).bound(torch.rand(2, 128)),
        "x must have 64 entries",
    ),
    "categorical-latents": (lambda: CategoricalVAE(8, latents=0), "latents must be a positive"),
    "mlp-dropout-1": (
        lambda: mlp([2, 3, 1], dropout=1.0),
        r"dropout must be a probability in \[0, 1\), got 1.0",
    ),
    "mlp-dropout-negative": (lambda: mlp([2, 3, 1], dropout=-0.1), "dropout must be a probability"),
    "mlp-sizes": (lambda: mlp([2]), "sizes must list at least two widths"),
}

TYPE_CASES = {
    "made-float": (lambda: MADE(2.0), "z_dim must be an integer, got 2.0"),
    "amortized-float": (lambda: PosteriorFlow("planar", 2.0, 2, 3), "length must be an integer"),
    "mlp-float": (lambda: mlp([2, 3.5]), "must be an integer, got 3.5"),
}


test_bad_value_raises = raises_test(VALUE_CASES, ValueError)


test_bad_type_raises = raises_test(TYPE_CASES, TypeError)


def test_flows_of_empty_batches() -> None:
    """Zero points in, zero points and zero log-determinants out."""
    z = torch.randn(0, 3)
    for flow in (lambda x: planar(x, U, W, B), lambda x: radial(x, Z0, A, BETA)):
        y, log_det = flow(z)
        assert y.shape == (0, 3) and log_det.shape == (0,)
    transforms = FLOW(torch.randn(0, 5))
    y = torch.randn(2, 0, 3)
    for t in transforms:
        y = t(y)
    assert y.shape == (2, 0, 3)

r"""The 8-Gaussian ring: a 2-D toy target for GANs (Gulrajani et al. 2017, §5.1 and their code).

Eight equal-weight Gaussian modes with centres :math:`r(\cos θ_k, \sin θ_k)`,
:math:`θ_k = 2πk/8`, radius :math:`r = 2` and isotropic standard deviation 0.02.

References:
    Gulrajani, Ahmed, Arjovsky, Dumoulin & Courville (2017), Improved training of Wasserstein
    GANs (the ``8gaussians`` toy set of ``gan_toy.py``).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

MODES = 8
RADIUS = 2.0
STD = 0.02


def ring_centres(modes: int = MODES, radius: float = RADIUS) -> Tensor:
    """The ``[modes, 2]`` mode centres, evenly spaced on the circle of ``radius``.

    >>> ring_centres().norm(dim=1).allclose(torch.full((8,), 2.0))
    True
    """
    if modes < 1:
        raise ValueError(f"the ring needs at least one mode, got {modes}")
    if not radius > 0:
        raise ValueError(f"the radius must be positive, got {radius}")
    angles = torch.arange(modes, dtype=torch.float64) * (2 * math.pi / modes)
    return (radius * torch.stack([angles.cos(), angles.sin()], 1)).float()


def sample_ring(
    n: int,
    generator: torch.Generator | None = None,
    modes: int = MODES,
    radius: float = RADIUS,
    std: float = STD,
) -> Tensor:
    """``n`` float32 points ``[n, 2]`` from the ring: a uniform mode plus N(0, std² I) noise.

    >>> sample_ring(5, torch.Generator().manual_seed(0)).shape
    torch.Size([5, 2])
    """
    if n < 0:
        raise ValueError(f"the number of points must be non-negative, got {n}")
    if not std >= 0:
        raise ValueError(f"the standard deviation must be non-negative, got {std}")
    centres = ring_centres(modes, radius)
    which = torch.randint(modes, (n,), generator=generator)
    return centres[which] + std * torch.randn(n, 2, generator=generator)

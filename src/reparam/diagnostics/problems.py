r"""Test problems for gradient estimators, with exact gradients and variances by quadrature.

The Gaussian problems are the univariate study of Mohamed et al. (2020, §3, Fig. 2):
:math:`q = \mathcal N(\mu=1, \sigma=1)` and the costs :math:`(x-k)^2`, :math:`e^{-kx^2}`,
:math:`\cos kx`. Two more cover the other estimators: a 10-way categorical with the cost
:math:`(z - k)^2` of its class index, and a Gamma(k, 1) with the cost :math:`z^2`.

Exact values come from a quadrature of :math:`q` — Gauss–Hermite for the Normal (exact for
polynomials), Gauss–Laguerre for the Gamma, the support itself for the categorical — applied
to the per-sample gradient of the estimator: :math:`f(z)\nabla_\phi\log q(z)` for the plain
score function, :math:`\nabla_\phi f(\mu + \sigma\varepsilon)` for the Normal's pathwise
gradient, zero variance for enumeration.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from scipy.special import roots_genlaguerre
from torch import Tensor
from torch.distributions import Distribution, Gamma, Normal, OneHotCategorical

from reparam.estimators import (
    Enumerate,
    Estimator,
    GeneralizedReparam,
    GumbelSoftmax,
    Pathwise,
    ScoreFunction,
    StraightThrough,
)
from reparam.estimators.base import CostFn

QUADRATURE_NODES = 200


@dataclass(frozen=True)
class Exact:
    """Exact gradient and per-sample variance (summed over coordinates) of one parameter."""

    gradient: Tensor
    per_sample_variance: float | None


@dataclass(frozen=True)
class Problem:
    """A family of problems indexed by k: ``setup(k)`` gives the cost and the parameters of
    ``q(**params)``; ``quadrature(params)`` gives nodes and weights that integrate over q.
    ``k_above``: k must exceed it (None: any finite k) for the problem to be defined."""

    name: str
    description: str
    setup: Callable[[float], tuple[CostFn, dict[str, Tensor]]]
    q: Callable[..., Distribution]
    quadrature: Callable[[dict[str, Tensor]], tuple[Tensor, Tensor]]
    ks: tuple[float, ...]
    estimators: Callable[[int], dict[str, Estimator]]
    k_above: float | None = None

    def check_k(self, k: float) -> None:
        """A ``ValueError`` naming ``--k`` unless the problem is defined at ``k``.

        >>> PROBLEMS["gamma"].check_k(0.0)
        Traceback (most recent call last):
            ...
        ValueError: --k must be > 0 for the gamma problem; got 0.0
        """
        if isinstance(k, bool) or not isinstance(k, numbers.Real):
            raise TypeError(f"--k must be a number; got {k!r}")
        if not math.isfinite(k):
            raise ValueError(f"--k must be finite numbers; got {k}")
        if self.k_above is not None and not k > self.k_above:
            raise ValueError(f"--k must be > {self.k_above:g} for the {self.name} problem; got {k}")

    def exact(self, estimator: Estimator, k: float) -> dict[str, Exact]:
        """Exact gradient of every parameter, and the estimator's per-sample variance where known."""
        f, params = self.setup(k)
        nodes, weights = self.quadrature(params)
        score = per_node_gradients(f, self.q, params, nodes, kind="score")
        if isinstance(estimator, ScoreFunction) and estimator.baseline is None:
            per_node = score
        elif isinstance(estimator, Pathwise) and self.q is normal:
            per_node = per_node_gradients(f, self.q, params, nodes, kind="pathwise")
        else:
            per_node = None
        exact = {}
        for name, g in score.items():
            gradient = weighted_mean(g, weights)
            if isinstance(estimator, Enumerate):
                variance: float | None = 0.0
            elif per_node is None:
                variance = None
            else:
                h = per_node[name]
                centred = h - weighted_mean(h, weights)
                variance = float(weighted_mean(centred**2, weights).sum())
            exact[name] = Exact(gradient, variance)
        return exact


def weighted_mean(values: Tensor, weights: Tensor) -> Tensor:
    """Sum over the nodes (dim 0) of ``weights · values``."""
    return (weights.view(-1, *[1] * (values.dim() - 1)) * values).sum(0)


def per_node_gradients(
    f: CostFn, q: Callable[..., Distribution], params: dict[str, Tensor], nodes: Tensor, kind: str
) -> dict[str, Tensor]:
    """Per-sample gradient at each quadrature node, shape ``[nodes, *param.shape]``."""
    count = nodes.shape[0]
    reps = {
        name: p.detach().unsqueeze(0).expand(count, *p.shape).clone().requires_grad_()
        for name, p in params.items()
    }
    dist = q(**reps)
    if kind == "score":
        # f sees a leading sample dimension of 1 and a batch of one replica per node.
        cost = f(nodes.unsqueeze(0))[0].detach()
        total = (cost * dist.log_prob(nodes)).sum()
    else:
        eps = (nodes - params["loc"]) / params["scale"]
        total = f((dist.loc + dist.scale * eps).unsqueeze(0))[0].sum()
    grads = torch.autograd.grad(total, list(reps.values()))
    return dict(zip(reps, grads, strict=True))


def normal(loc: Tensor, scale: Tensor) -> Normal:
    return Normal(loc, scale)


def gamma(concentration: Tensor, rate: Tensor) -> Gamma:
    return Gamma(concentration, rate)


def one_hot_categorical(logits: Tensor) -> OneHotCategorical:
    return OneHotCategorical(logits=logits)


def hermite(params: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
    eps, w = np.polynomial.hermite_e.hermegauss(QUADRATURE_NODES)
    eps_t = torch.as_tensor(eps, dtype=torch.float64)
    nodes = params["loc"] + params["scale"] * eps_t
    return nodes, torch.as_tensor(w / math.sqrt(2 * math.pi), dtype=torch.float64)


def laguerre(params: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
    alpha, rate = float(params["concentration"]), float(params["rate"])
    x, w = roots_genlaguerre(QUADRATURE_NODES, alpha - 1)
    w = w / math.gamma(alpha)
    return torch.as_tensor(x / rate, dtype=torch.float64), torch.as_tensor(w, dtype=torch.float64)


def support(params: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
    logits = params["logits"]
    return torch.eye(logits.shape[-1], dtype=logits.dtype), logits.softmax(-1)


def class_index(z: Tensor) -> Tensor:
    """The class index of (relaxed) one-hot vectors: Σ_i i z_i."""
    return (z * torch.arange(z.shape[-1], dtype=z.dtype, device=z.device)).sum(-1)


def score_family(n: int) -> dict[str, Estimator]:
    estimators: dict[str, Estimator] = {
        "score": ScoreFunction(),
        "score+moving-average": ScoreFunction("moving-average"),
    }
    if n > 1:
        estimators["score+leave-one-out"] = ScoreFunction("leave-one-out")
        estimators["score+optimal"] = ScoreFunction("optimal")
    return estimators


def gaussian_estimators(n: int) -> dict[str, Estimator]:
    return {"pathwise": Pathwise(), **score_family(n)}


def categorical_estimators(n: int) -> dict[str, Estimator]:
    return {
        **score_family(n),
        "gumbel-softmax": GumbelSoftmax(0.5),
        "gumbel-softmax-hard": GumbelSoftmax(0.5, hard=True),
        "straight-through": StraightThrough(),
        "enumerate": Enumerate(),
    }


def gamma_estimators(n: int) -> dict[str, Estimator]:
    return {"pathwise": Pathwise(), "grep": GeneralizedReparam(), **score_family(n)}


def _f64(value: float) -> Tensor:
    return torch.tensor(value, dtype=torch.float64)


def gaussian(cost: Callable[[Tensor, float], Tensor]) -> Callable[[float], tuple[CostFn, dict]]:
    return lambda k: ((lambda x: cost(x, k)), {"loc": _f64(1.0), "scale": _f64(1.0)})


GAUSSIAN_KS = (0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0)

PROBLEMS: dict[str, Problem] = {
    "quadratic": Problem(
        "quadratic",
        "f(x) = (x - k)^2 under N(1, 1)",
        gaussian(lambda x, k: (x - k) ** 2),
        normal,
        hermite,
        GAUSSIAN_KS,
        gaussian_estimators,
    ),
    "exp": Problem(
        "exp",
        "f(x) = exp(-k x^2) under N(1, 1)",
        gaussian(lambda x, k: torch.exp(-k * x**2)),
        normal,
        hermite,
        GAUSSIAN_KS,
        gaussian_estimators,
        k_above=-0.5,  # E exp(-k x²) under N(1, 1) is infinite for k <= -1/2
    ),
    "cosine": Problem(
        "cosine",
        "f(x) = cos(k x) under N(1, 1)",
        gaussian(lambda x, k: torch.cos(k * x)),
        normal,
        hermite,
        GAUSSIAN_KS,
        gaussian_estimators,
    ),
    "categorical": Problem(
        "categorical",
        "f(z) = (index(z) - k)^2 under a uniform 10-way OneHotCategorical; Gumbel τ = 0.5",
        lambda k: (
            (lambda z: (class_index(z) - k) ** 2),
            {"logits": torch.zeros(10, dtype=torch.float64)},
        ),
        one_hot_categorical,
        support,
        (0.0, 1.5, 3.0, 4.5, 6.0, 7.5, 9.0),
        categorical_estimators,
    ),
    "gamma": Problem(
        "gamma",
        "f(z) = z^2 under Gamma(concentration=k, rate=1)",
        lambda k: ((lambda z: z**2), {"concentration": _f64(k), "rate": _f64(1.0)}),
        gamma,
        laguerre,
        (0.5, 1.0, 2.0, 4.0, 8.0),
        gamma_estimators,
        k_above=0.0,  # the concentration
    ),
}

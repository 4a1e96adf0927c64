r"""Bayesian multilayer perceptrons for regression and classification.

Regression: :math:`y \mid x, w \sim N(f_w(x), σ^2)` with the noise scale σ learned as a point
estimate (one per replica), the usual setting of the UCI benchmark of Hernández-Lobato &
Adams (2015). Classification: :math:`y \mid x, w \sim \operatorname{Categorical}
(\operatorname{softmax} f_w(x))`. The weights have the posterior of ``reparam.bayes`` layers.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from reparam.bayes.dropout import VariationalDropoutLinear
from reparam.bayes.layers import BayesLinear
from reparam.bayes.predict import TASKS
from reparam.bayes.priors import Prior
from reparam.checks import positive_int, positive_real


class BayesMLP(nn.Module):
    r"""``sizes[0] → … → sizes[-1]`` with ReLU between layers, each layer Bayesian.

    Arguments:
        sizes: the widths, inputs first.
        task: ``"regression"`` (``sizes[-1]`` must be 1; ``forward`` gives [..., M]) or
            ``"classification"`` (``forward`` gives logits [..., M, K]).
        estimator: ``"weight"``, ``"local"``, ``"flipout"`` or ``"separate"`` (see
            ``reparam.bayes.layers``), or ``"dropout-A"`` / ``"dropout-B"`` for variational
            dropout layers (Kingma et al. 2015).
        prior, init_std, batch_shape: as ``BayesLinear``.
        noise_std: the starting observation noise σ (regression).

    >>> model = BayesMLP([3, 50, 1], task="regression", batch_shape=(4,))
    >>> x, y = torch.randn(4, 10, 3), torch.randn(4, 10)
    >>> model(x).shape, model.log_likelihood(x, y).shape
    (torch.Size([4, 10]), torch.Size([4]))
    """

    def __init__(
        self,
        sizes: Sequence[int],
        *,
        task: str,
        estimator: str = "local",
        prior: Prior | None = None,
        init_std: float = 1e-2,
        batch_shape: tuple[int, ...] = (),
        noise_std: float = 1.0,
    ) -> None:
        super().__init__()
        if task not in TASKS:
            raise ValueError(f"task must be 'regression' or 'classification', got {task!r}")
        if isinstance(sizes, str) or not isinstance(sizes, Sequence) or len(sizes) < 2:
            raise ValueError(
                f"sizes must list at least two widths (inputs, outputs), got {sizes!r}"
            )
        for size in sizes:
            positive_int(f"every entry of sizes {list(sizes)}", size)
        positive_real("noise_std", noise_std)
        if not isinstance(estimator, str):
            raise TypeError(f"estimator must be a string, got {estimator!r}")
        if task == "regression" and sizes[-1] != 1:
            raise ValueError(f"a regression network has one output, got sizes {list(sizes)}")
        if estimator.startswith("dropout-") and batch_shape:
            raise ValueError("variational dropout layers have no batch_shape")
        self.task = task
        layers: list[nn.Module] = []
        for a, b in itertools.pairwise(sizes):
            if estimator.startswith("dropout-"):
                layers.append(
                    VariationalDropoutLinear(a, b, kind=estimator.removeprefix("dropout-"))
                )
            else:
                layers.append(
                    BayesLinear(
                        a,
                        b,
                        estimator=estimator,
                        prior=prior,
                        init_std=init_std,
                        batch_shape=batch_shape,
                    )
                )
            layers.append(nn.ReLU())
        self.layers = nn.Sequential(*layers[:-1])
        if task == "regression":
            self.log_noise_std = nn.Parameter(torch.full(batch_shape, math.log(noise_std)))

    @property
    def noise_variance(self) -> Tensor | None:
        """σ² of the observation noise (regression), else ``None``."""
        if self.task != "regression":
            return None
        return torch.exp(2 * self.log_noise_std)

    def set_estimator(self, estimator: str) -> None:
        """Switch every ``BayesLinear`` layer to ``estimator``."""
        for layer in self.layers:
            if isinstance(layer, BayesLinear):
                layer.estimator = estimator

    def forward(self, x: Tensor) -> Tensor:
        out = self.layers(x)
        return out.squeeze(-1) if self.task == "regression" else out

    def log_likelihood(self, x: Tensor, y: Tensor) -> Tensor:
        """log p(y | x, w) for one draw of the weights, summed over the examples (the
        minibatch's term of the ELBO): one value per replica."""
        out = self(x)
        expected = out.shape if self.task == "regression" else out.shape[:-1]
        try:
            broadcast = torch.broadcast_shapes(y.shape, expected)
        except RuntimeError:
            broadcast = None
        if broadcast != expected:
            raise ValueError(
                f"y must have the shape {tuple(expected)} of the network's "
                f"{'outputs' if self.task == 'regression' else 'outputs without the class dimension'}"
                f" (or broadcast to it), got {tuple(y.shape)}"
            )
        if self.task == "regression":
            noise = self.log_noise_std.unsqueeze(-1)
            log_density = (
                -0.5 * ((y - out) / noise.exp()) ** 2 - noise - 0.5 * math.log(2 * math.pi)
            )
            return log_density.sum(-1)
        y = y.expand(expected)
        return (
            -F.cross_entropy(out.flatten(0, -2), y.flatten(), reduction="none")
            .view(expected)
            .sum(-1)
        )

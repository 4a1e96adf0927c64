"""What every deep latent-variable model offers the objectives and the training loop."""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.distributions import Distribution

from reparam.checks import last_dim
from reparam.estimators import BoundEstimator, Estimator
from reparam.objectives import elbo, iwae

OBJECTIVES = ("elbo", "iwae")


class LatentModel(nn.Module, ABC):
    r"""A model :math:`p(x, z) = p(z)\,p(x \mid z)` with Bernoulli pixels and an amortized
    posterior :math:`q(z \mid x)`.

    Subclasses give the posterior, the prior and the decoder's logits; the bounds follow:
    :meth:`bound` is the ELBO or the IWAE bound per data point, with any estimator of
    :mod:`reparam.estimators`.
    """

    @abstractmethod
    def posterior(self, x: Tensor) -> Distribution:
        """:math:`q(z \\mid x)`, batch shape ``[B]``."""

    @abstractmethod
    def prior(self) -> Distribution:
        """:math:`p(z)`, batch shape ``[]``."""

    @abstractmethod
    def decoder_logits(self, z: Tensor) -> Tensor:
        """Bernoulli logits of :math:`p(x \\mid z)`, ``z [*, *event]`` to ``[*, x_dim]``."""

    def log_likelihood(self, x: Tensor, z: Tensor) -> Tensor:
        """:math:`\\log p(x \\mid z)` summed over pixels: ``z [k, B, *event]`` to ``[k, B]``."""
        logits = self.decoder_logits(z)
        return -F.binary_cross_entropy_with_logits(
            logits, x.expand_as(logits), reduction="none"
        ).sum(-1)

    def log_joint(self, x: Tensor, z: Tensor) -> Tensor:
        """:math:`\\log p(x, z)`, ``[k, B]``."""
        return self.log_likelihood(x, z) + self.prior().log_prob(z)

    def forward(self, x: Tensor, **options: object) -> Tensor:
        """:meth:`bound`; the forward pass that DistributedDataParallel wraps."""
        return self.bound(x, **options)  # type: ignore[arg-type]

    def bound(
        self,
        x: Tensor,
        *,
        objective: str = "iwae",
        k: int = 1,
        estimator: str | Estimator | BoundEstimator = "auto",
        beta: float = 1.0,
    ) -> Tensor:
        """The ELBO (with KL weight β) or the IWAE bound :math:`\\mathcal L_k` of each row of x.

        ``estimator`` is an object — an :class:`~reparam.estimators.Estimator` for the ELBO, a
        :class:`~reparam.estimators.BoundEstimator` for the IWAE bound — or a spec of
        ``reparam.estimators.names(objective)``, parsed anew on each call (so stateless: for
        ``"score+moving-average"`` create the object once with
        ``reparam.estimators.parse`` and keep it, e.g. as a submodule of the model, whose
        ``state_dict`` then carries its baseline).
        """
        x_dim = getattr(self, "x_dim", None)
        if x_dim is not None:
            last_dim("x", x, x_dim, "the model's x_dim")
        q = self.posterior(x)
        if objective == "iwae":
            return iwae(lambda z: self.log_joint(x, z), q, k, estimator)
        if objective == "elbo":
            likelihood = lambda z: self.log_likelihood(x, z)  # noqa: E731
            prior = at_batch_shape(self.prior(), q.batch_shape)
            return elbo(likelihood, q, prior, k=k, estimator=estimator, beta=beta)
        raise ValueError(f"unknown objective {objective!r}; choose one of {OBJECTIVES}.")


def at_batch_shape(prior: Distribution, shape: torch.Size) -> Distribution:
    """The prior expanded to q's batch shape, for the analytic KLs that do not broadcast
    (torch's KL between Bernoulli codes); a prior without ``expand`` (a mixture or a flow,
    whose KL is estimated from samples) is returned as it is."""
    if prior.batch_shape == shape:
        return prior
    try:
        return prior.expand(shape)
    except NotImplementedError:
        return prior

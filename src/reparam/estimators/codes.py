r"""Discrete codes as the Taylor, straight-through and antithetic estimators see them: a
Bernoulli latent as its 0/1 values, a Categorical or OneHotCategorical latent as one-hot
vectors, with ``Independent`` wrappers looked through.

For ``q`` of batch shape ``B`` the codes of ``n`` samples have shape ``[n, *B, *E]``, where
``E`` holds ``q``'s reinterpreted dimensions and, for the categorical families, the K classes.
Their mean :math:`\bar z = \mathbb{E}_q[z]` (the probabilities) has shape ``[*B, *E]``.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor
from torch.distributions import Bernoulli, Categorical, Distribution, OneHotCategorical

from reparam.estimators.base import log_prob, require, unwrap_independent


def code_base(q: Distribution, estimator: str) -> Distribution:
    """The Bernoulli, Categorical or OneHotCategorical inside ``q``'s ``Independent``
    wrappers, or a ``ValueError`` naming ``estimator`` and the alternatives."""
    base = unwrap_independent(q)
    require(
        isinstance(base, Bernoulli | Categorical | OneHotCategorical),
        f"{estimator} needs a Bernoulli, Categorical or OneHotCategorical q (or an "
        f"Independent of one); got {type(q).__name__}. Use 'pathwise' for continuous q with "
        f"rsample, or 'score'.",
    )
    return base


def code_mean(q: Distribution, estimator: str) -> Tensor:
    r"""The mean :math:`\mathbb{E}_q[z]` of ``q``'s codes, ``[*batch, *event]``: the
    probabilities (for categoricals, the probability vector), differentiable in ``q``'s
    parameters."""
    return code_base(q, estimator).probs


def code_event_dims(q: Distribution, estimator: str) -> tuple[int, ...]:
    """The dimensions of a code tensor ``[n, *batch, *event]`` beyond ``q``'s batch: the ones
    a cost sums over (negative indices)."""
    event = code_mean(q, estimator).dim() - len(q.batch_shape)
    return tuple(range(-event, 0))


def sample_codes(q: Distribution, n: int, estimator: str) -> tuple[Tensor, Tensor]:
    """``n`` codes of ``q`` (Bernoulli values, or one-hot vectors for a categorical ``q``, also
    a ``Categorical`` one), detached, and their log-probabilities ``[n, *batch]``."""
    base = code_base(q, estimator)
    z = q.sample((n,))
    scored = log_prob(q, z)
    if isinstance(base, Categorical):  # integer samples: OneHotCategorical is no subclass
        z = F.one_hot(z, base.probs.shape[-1]).to(base.probs.dtype)
    return z, scored

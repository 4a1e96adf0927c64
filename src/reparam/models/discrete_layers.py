r"""Layers of discrete codes, Bernoulli units or categorical one-hot groups, as distributions
the estimators accept, and the values the next layer reads.

Every estimator of the vocabulary for discrete codes takes either kind as it is; the
Gumbel-softmax ones relax a Bernoulli unit as the binary Concrete, the two-class relaxation
(:func:`reparam.estimators.relaxed.relaxed_bernoulli`).

Example:
    >>> import torch
    >>> q = code_layer(torch.zeros(2, 3, 4), "categorical")
    >>> q.batch_shape, q.event_shape, code_values(q.sample(), "categorical").shape
    (torch.Size([2]), torch.Size([3, 4]), torch.Size([2, 12]))
"""

from __future__ import annotations

from torch import Tensor
from torch.distributions import Bernoulli, Distribution, Independent

from reparam.models.categorical import one_hot_codes

KINDS = ("bernoulli", "categorical")


def check_kind(kind: str) -> str:
    """``kind`` if it is one of :data:`KINDS`, else a ValueError naming ``kind``."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}.")
    return kind


def code_layer(logits: Tensor, kind: str) -> Distribution:
    """The layer's distribution, batch shape ``logits.shape[:-1]`` (Bernoulli, logits
    ``[..., units]``) or ``logits.shape[:-2]`` (categorical, ``[..., groups, classes]``), its
    code dimensions an ``Independent`` event; unchecked, as the models build it every step."""
    if kind == "categorical":
        return one_hot_codes(logits)
    return Independent(Bernoulli(logits=logits, validate_args=False), 1, validate_args=False)


def code_values(z: Tensor, kind: str) -> Tensor:
    """A layer's samples (relaxed ones too) as the flat vector the next network reads:
    ``[..., units]`` or ``[..., groups · classes]``."""
    return z.flatten(-2) if kind == "categorical" else z

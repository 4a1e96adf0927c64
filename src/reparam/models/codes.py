r"""Layers of discrete codes: Bernoulli units or categorical one-hot groups, as distributions
the estimators accept, and the values the next layer reads.

A Bernoulli unit can also be written as a two-class one-hot categorical with logits
:math:`(0, \ell)`: the same distribution (:math:`P(z = 1) = \sigma(\ell)`), in the form the
Gumbel-softmax relaxations need (the binary Concrete of Maddison et al. 2017 is the two-class
Gumbel-softmax). ``one_hot=True`` chooses that form; :func:`code_values` maps either form,
relaxed samples included, to the unit values :math:`z \in [0, 1]`.

Example:
    >>> q = code_layer(torch.zeros(2, 3), "bernoulli", one_hot=True)
    >>> q.batch_shape, q.event_shape, code_values(q.sample(), "bernoulli", True).shape
    (torch.Size([2]), torch.Size([3, 2]), torch.Size([2, 3]))
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.distributions import Bernoulli, Distribution, Independent

from reparam.models.categorical import one_hot_codes

KINDS = ("bernoulli", "categorical")


def check_kind(kind: str) -> str:
    """``kind`` if it is one of :data:`KINDS`, else a ValueError naming ``kind``."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}.")
    return kind


def code_layer(logits: Tensor, kind: str, one_hot: bool = False) -> Distribution:
    """The layer's distribution, batch shape ``logits.shape[:-1]`` (Bernoulli, logits
    ``[..., units]``) or ``logits.shape[:-2]`` (categorical, ``[..., groups, classes]``), its
    code dimensions an ``Independent`` event; unchecked, as the models build it every step."""
    if kind == "categorical":
        return one_hot_codes(logits)
    if one_hot:
        return one_hot_codes(torch.stack([torch.zeros_like(logits), logits], -1))
    return Independent(Bernoulli(logits=logits, validate_args=False), 1, validate_args=False)


def code_values(z: Tensor, kind: str, one_hot: bool = False) -> Tensor:
    """A layer's samples as the flat vector the next network reads: ``[..., units]`` (the
    second class of a two-class code) or ``[..., groups · classes]``."""
    if kind == "categorical":
        return z.flatten(-2)
    return z[..., 1] if one_hot else z

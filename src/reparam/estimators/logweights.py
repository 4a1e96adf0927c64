r"""Arithmetic on log-weights :math:`\ell_i = \log w_i`, finite wherever the answer is.

A log-weight of :math:`-\infty` is a sample of zero weight (:math:`p(x, z_i) = 0`): it takes
no part in a sum of weights, and its gradient is 0. A row whose weights are all zero has the
bound :math:`-\infty`, and gradient 0 rather than NaN. The leave-one-out sums take O(k)
memory, not the k × k of writing out every sum of k − 1 terms.

Example:
    >>> import torch
    >>> log_mean_exp(torch.tensor([[0.0, -float("inf")], [-float("inf"), -float("inf")]]))
    tensor([-0.6931,    -inf])
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

NEG_INF = -math.inf


def log_mean_exp(log_w: Tensor, dim: int = 0) -> Tensor:
    r""":math:`\log \frac1k \sum_i e^{\ell_i}` along ``dim``, stable for any magnitudes.

    A row of all :math:`-\infty` gives :math:`-\infty` with gradient 0, where
    ``torch.logsumexp``'s gradient, :math:`e^{\ell_i - \mathrm{lse}} = e^{-\infty + \infty}`,
    is NaN; every other row has ``logsumexp``'s value and gradient (:func:`log_sum_exp`).

    Example:
        >>> log_mean_exp(torch.tensor([[-1e4], [-1e4 + 1.0]]))
        tensor([-9999.3799])
    """
    return log_sum_exp(log_w, dim) - math.log(log_w.shape[dim])


def log_sum_exp(log_w: Tensor, dim: int = 0) -> Tensor:
    r"""``torch.logsumexp(log_w, dim)``, whose gradient is 0, not NaN, on a row of all
    :math:`-\infty`: the forward pass is ``logsumexp`` itself, the backward pass torch's
    :math:`\partial/\partial\ell_i = e^{\ell_i - \mathrm{lse}}` with such a row's
    :math:`\mathrm{lse} = -\infty` taken as 0 (where torch computes
    :math:`e^{-\infty + \infty}` = NaN). A custom autograd function: masking the input of
    ``logsumexp`` instead, the double-``where``, costs two more passes over the log-weights.

    Example:
        >>> x = torch.full((3, 2), -float("inf"), requires_grad=True)
        >>> log_sum_exp(x).sum().backward()
        >>> x.grad
        tensor([[0., 0.],
                [0., 0.],
                [0., 0.]])
    """
    return _LogSumExp.apply(log_w, dim)


class _LogSumExp(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, log_w: Tensor, dim: int) -> Tensor:  # type: ignore[override]
        total = torch.logsumexp(log_w, dim)
        ctx.save_for_backward(log_w, total)
        ctx.dim = dim
        return total

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:  # type: ignore[override]
        log_w, total = ctx.saved_tensors
        shift = total.masked_fill(torch.isneginf(total), 0.0).unsqueeze(ctx.dim)
        return grad.unsqueeze(ctx.dim) * torch.exp(log_w - shift), None


def normalized_weights(log_w: Tensor, dim: int = 0) -> Tensor:
    r""":math:`\tilde w_i = w_i / \sum_j w_j` along ``dim``; 0 for a row of all-zero weights.
    Values only (detached).

    Example:
        >>> normalized_weights(torch.tensor([[0.0, -float("inf")], [-float("inf"), -float("inf")]]))
        tensor([[1., 0.],
                [0., 0.]])
    """
    log_w = log_w.detach()
    total = torch.logsumexp(log_w, dim, keepdim=True)
    return torch.exp(log_w - total.masked_fill(torch.isneginf(total), 0.0))


def log_sum_exp_but_one(log_w: Tensor) -> Tensor:
    r""":math:`\log \sum_{j \neq i} e^{\ell_j}` for every i along dim 0, in O(k) memory.

    From the sum over all, :math:`S = \log\sum_j e^{\ell_j}`:
    :math:`\log(e^S - e^{\ell_i}) = S + \log(1 - e^{\ell_i - S})`, by ``log1p``. For every i but
    the largest, :math:`e^{\ell_i - S} \le \frac12` (the largest is in the sum too), so the
    subtraction loses nothing; the largest, which may dominate the sum (where the subtraction
    would cancel), gets the ``logsumexp`` of the others computed directly. A sample of
    :math:`-\infty` leaves :math:`S`; a row whose others are all :math:`-\infty` gives
    :math:`-\infty`. Values only: not to be differentiated (VIMCO's signals are constants).

    Example:
        >>> log_sum_exp_but_one(torch.tensor([0.0, 1e3, -float("inf")]))
        tensor([1000.,    0., 1000.])
    """
    log_w = log_w.detach()
    total = torch.logsumexp(log_w, 0, keepdim=True)
    top = log_w.argmax(0, keepdim=True)
    without_top = torch.logsumexp(log_w.scatter(0, top, NEG_INF), 0, keepdim=True)
    finite_total = total.masked_fill(torch.isneginf(total), 0.0)
    others = total + torch.log1p(-torch.exp(log_w - finite_total))
    return others.scatter(0, top, without_top)


def mean_but_one(log_w: Tensor) -> Tensor:
    r""":math:`\frac{1}{k-1}\sum_{j\neq i} \ell_j` for every i along dim 0: the log of the
    other samples' geometric mean weight; :math:`-\infty` where one of the others is.

    Example:
        >>> mean_but_one(torch.tensor([1.0, 3.0, -float("inf")]))
        tensor([-inf, -inf, 2.])
    """
    dead = torch.isneginf(log_w)
    finite = log_w.masked_fill(dead, 0.0)
    others_dead = dead.sum(0, keepdim=True) > dead  # more zero weights than this one
    mean = (finite.sum(0, keepdim=True) - finite) / (log_w.shape[0] - 1)
    return mean.masked_fill(others_dead, NEG_INF)


def require_no_nan(bound: Tensor, name: str) -> Tensor:
    """``bound`` if it holds no NaN, else a ValueError naming ``name``, the argument whose
    log-weights held the NaN (a NaN log-weight makes the bound it enters NaN). One check on
    the bounds, not on the k times larger log-weights."""
    nan = torch.isnan(bound)
    if bool(nan.any()):
        raise ValueError(
            f"{name} holds NaN log-weights: {int(nan.sum())} of {bound.numel()} bounds are "
            f"NaN; a NaN log-weight has no weight to give, so find where log p(x, z) or "
            f"log q(z) became NaN."
        )
    return bound

"""The base of reparam's flows: a torch Transform that caches its last forward pass."""

from __future__ import annotations

import copy

import torch
from torch import Tensor
from torch.distributions import Transform, constraints


class FlowTransform(Transform):
    r"""A bijection of :math:`\mathbb{R}^d` (``event_dim = 1``) whose forward pass also gives
    :math:`\log|\det J|`.

    Subclasses implement ``flow(x) -> (y, log_abs_det_jacobian)`` and ``_inverse(y)``. ``x``
    may carry any leading sample and batch dimensions that broadcast against the flow's
    parameters; the log-determinant has the shape of ``y`` without its last dimension.

    With ``cache_size=1`` (the default here, 0 in torch) the transform keeps its last forward
    pass ``(x, y, log|det J|)``, keyed on the identity of the tensors, so
    ``q.rsample((k,))`` followed by ``q.log_prob(z)`` on a ``TransformedDistribution`` costs
    one forward pass and no inversion. Any other point is inverted by ``_inverse`` (in closed
    form, or numerically for planar and IAF flows), so ``log_prob`` is right everywhere and
    fast on the point just sampled.

    A pass made with gradients disabled (``q.sample()``) serves later calls only while
    gradients stay disabled: with them enabled, ``log_prob`` inverts the point afresh, so that
    :math:`\nabla_\theta \log q_\theta(z)` at fixed :math:`z` includes the dependence of
    :math:`f_\theta^{-1}(z)` on :math:`\theta` (the score-function gradient), which a cached
    input without a graph would drop. After ``rsample`` the cached path gives the total
    derivative along the sample, as the pathwise gradient needs.
    """

    domain = constraints.independent(constraints.real, 1)
    codomain = constraints.independent(constraints.real, 1)
    bijective = True

    def __init__(self, cache_size: int = 1) -> None:
        super().__init__(cache_size=cache_size)
        self._last: tuple[Tensor, Tensor, Tensor, bool] | None = None  # x, y, log-det, grad

    def flow(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(f(x), log|det ∂f/∂x|)``."""
        raise NotImplementedError

    def _usable(self, value: Tensor, slot: int) -> bool:
        """Whether the last forward pass had ``value`` as its input (slot 0) or output (1),
        and either built a graph or none is needed now."""
        last = self._last
        return last is not None and last[slot] is value and (last[3] or not torch.is_grad_enabled())

    def __call__(self, x: Tensor) -> Tensor:
        if self._usable(x, 0):
            return self._last[1]
        y, log_det = self.flow(x)
        if self._cache_size:
            self._last = (x, y, log_det, torch.is_grad_enabled())
        return y

    def _inv_call(self, y: Tensor) -> Tensor:
        return self._last[0] if self._usable(y, 1) else self._inverse(y)

    def log_abs_det_jacobian(self, x: Tensor, y: Tensor) -> Tensor:
        return self._last[2] if self._usable(x, 0) else self.flow(x)[1]

    def with_cache(self, cache_size: int = 1) -> FlowTransform:
        if self._cache_size == cache_size:
            return self
        other = copy.copy(self)
        FlowTransform.__init__(other, cache_size)
        return other

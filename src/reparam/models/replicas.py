r"""Replicas of a network trained side by side in one batched pass: every ``nn.Linear`` becomes
a :class:`StackedLinear` holding R independent copies of its weights, and the data carry a
replica dimension.

A replicated model takes inputs ``[*, R, B, D]`` (replica r's rows in slice r of the third
dimension from the end) and returns what R copies of the model would, stacked the same way;
distributions built from its outputs have batch shape ``[R, B]``, so every per-sample
estimator, bound and metric applies to all replicas at once. The replicas share no
parameter, so the gradient of :math:`\sum_r \lambda_r L_r` gives replica r the gradient of
its own loss scaled by :math:`\lambda_r`: with plain SGD (and momentum, which is linear in
the gradient) at rate 1 that is exactly SGD at rate :math:`\lambda_r` on each replica — a
learning-rate grid in one pass (Jang et al. 2017 choose theirs from six rates).

Example:
    >>> model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    >>> stacked = stack(model, 5)
    >>> x = torch.randn(5, 7, 4)
    >>> stacked(x).shape
    torch.Size([5, 7, 2])
    >>> torch.allclose(unstack(stacked, 2)(x[2]), stacked(x)[2], atol=1e-6)
    True
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import Tensor, nn

from reparam.checks import positive_int


class StackedLinear(nn.Module):
    r""":math:`y_r = x_r W_r^\top + b_r` for R replicas at once: ``weight [R, out, in]``,
    ``bias [R, out]``; ``x [*, R, B, in]`` to ``[*, R, B, out]``."""

    def __init__(self, weight: Tensor, bias: Tensor | None) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight)
        self.bias = None if bias is None else nn.Parameter(bias)

    @classmethod
    def of(cls, linear: nn.Linear, replicas: int) -> StackedLinear:
        """``replicas`` copies of ``linear``'s current weights (the same start for each)."""
        weight = linear.weight.detach().expand(replicas, -1, -1).clone()
        bias = None if linear.bias is None else linear.bias.detach().expand(replicas, -1).clone()
        return cls(weight, bias)

    @property
    def replicas(self) -> int:
        return self.weight.shape[0]

    def forward(self, x: Tensor) -> Tensor:
        replicas, width = self.replicas, self.weight.shape[-1]
        if x.dim() < 3 or x.shape[-3] != replicas or x.shape[-1] != width:
            raise ValueError(
                f"a stacked layer of {replicas} replicas takes inputs [*, {replicas}, B, "
                f"{width}] (the replica dimension third from the end); got {list(x.shape)}"
            )
        lead = x.shape[:-3]
        rows = x.movedim(-3, 0).reshape(replicas, -1, width)
        if self.bias is None:
            y = torch.bmm(rows, self.weight.transpose(1, 2))
        else:
            y = torch.baddbmm(self.bias[:, None, :], rows, self.weight.transpose(1, 2))
        y = y.view(replicas, *lead, x.shape[-2], -1)
        return y.movedim(0, -3)

    def extra_repr(self) -> str:
        out, width = self.weight.shape[1:]
        return f"replicas={self.replicas}, in_features={width}, out_features={out}"


def stack(module: nn.Module, replicas: int) -> nn.Module:
    """A copy of ``module`` whose every ``nn.Linear`` is a :class:`StackedLinear` of
    ``replicas`` copies. Raises ``ValueError`` if the module has parameters outside linear
    layers (they would be shared by the replicas)."""
    positive_int("replicas", replicas)
    outside = [
        f"{prefix}.{name}".lstrip(".")
        for prefix, child in module.named_modules()
        if not isinstance(child, nn.Linear)
        for name, _ in child.named_parameters(recurse=False)
    ]
    if outside:
        raise ValueError(
            f"only linear layers can be stacked into replicas; {', '.join(outside)} would be "
            f"shared by them"
        )
    return _swapped(module, nn.Linear, lambda linear: StackedLinear.of(linear, replicas))


def unstack(module: nn.Module, index: int) -> nn.Module:
    """Replica ``index`` of a :func:`stack` ed module as a plain module (its own copy)."""
    layers = [m for m in module.modules() if isinstance(m, StackedLinear)]
    if not layers:
        raise ValueError("the module holds no stacked layers")
    replicas = layers[0].replicas
    if not isinstance(index, int) or not 0 <= index < replicas:
        raise ValueError(f"index must be a replica, 0 to {replicas - 1}; got {index!r}")
    return _swapped(module, StackedLinear, lambda layer: _plain(layer, index))


def replica_count(module: nn.Module) -> int | None:
    """The number of replicas of a :func:`stack` ed module; ``None`` for a plain one."""
    layer = next((m for m in module.modules() if isinstance(m, StackedLinear)), None)
    return None if layer is None else layer.replicas


@torch.no_grad()
def finite_replicas(module: nn.Module) -> Tensor:
    """``[R]`` booleans: which replicas have only finite weights."""
    layers = [m for m in module.modules() if isinstance(m, StackedLinear)]
    ok = torch.ones(layers[0].replicas, dtype=torch.bool, device=layers[0].weight.device)
    for layer in layers:
        for p in layer.parameters():
            ok &= torch.isfinite(p.flatten(1)).all(1)
    return ok


def _plain(layer: StackedLinear, index: int) -> nn.Linear:
    out, width = layer.weight.shape[1:]
    linear = nn.Linear(width, out, bias=layer.bias is not None)
    linear.to(layer.weight)
    with torch.no_grad():
        linear.weight.copy_(layer.weight[index])
        if layer.bias is not None:
            linear.bias.copy_(layer.bias[index])
    return linear


def _swapped(
    module: nn.Module, kind: type[nn.Module], make: Callable[[nn.Module], nn.Module]
) -> nn.Module:
    """A copy of ``module`` with every submodule of type ``kind`` (or the module itself)
    replaced by ``make(submodule)``."""
    if isinstance(module, kind):
        return make(module)
    copied = copy.deepcopy(module)
    for name, child in list(copied.named_modules()):
        if isinstance(child, kind):
            parent_name, _, attribute = name.rpartition(".")
            parent = copied.get_submodule(parent_name) if parent_name else copied
            setattr(parent, attribute, make(child))
    return copied

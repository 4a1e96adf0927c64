"""Input checks shared by the transport solvers: each raises a one-line ``ValueError`` that
names the argument and the value received.

The mass tolerance of :func:`check_marginal` follows the dtype the caller passed: weights
normalised in float32 (``a = torch.rand(50); a /= a.sum()``) sum to 1 only within a few
float32 roundings, so they are held to :math:`\\max(10^{-9}, 4 k\\,ε_{\\text{mach}})` for
``k`` weights, not to float64's 1e-9.

>>> a = torch.rand(50, generator=torch.Generator().manual_seed(0))
>>> a /= a.sum()
>>> check_marginal(a, "a")  # float32 weights: accepted within 4 · 50 · 1.2e-7
>>> mass_tolerance(a)
2.384185791015625e-05
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Any

import numpy as np
import torch
from torch import Tensor

MASS_TOL = 1e-9


def as_tensor(x: Any, name: str, device: torch.device | None = None) -> Tensor:
    """``x`` (tensor, array or nested list) as a floating tensor; integers and booleans become
    float64, floating tensors and arrays keep their dtype."""
    try:
        t = x if isinstance(x, Tensor) else torch.as_tensor(np.asarray(x), device=device)
    except (TypeError, ValueError, RuntimeError) as e:
        raise ValueError(f"{name} must be a tensor or an array of numbers, got {x!r:.80}") from e
    if t.is_complex():
        raise ValueError(f"{name} must be real, got dtype {t.dtype}")
    if not t.is_floating_point():
        t = t.to(torch.float64)
    return t


def weights_or_uniform(w: Any, k: int, name: str, like: Tensor) -> Tensor:
    """``w`` as a tensor (see :func:`as_tensor`), or the uniform weights 1/k [k] in the dtype
    and on the device of ``like`` when ``w`` is None or empty (POT's ``a=[]``; empty for
    k = 0, which :func:`check_marginal` rejects)."""
    if w is not None:
        t = as_tensor(w, name, like.device)
        if not (t.ndim == 1 and t.shape[0] == 0):
            return t
    return torch.full((k,), 1.0 / max(k, 1), dtype=like.dtype, device=like.device)


def warm_potentials(warmstart: Any, a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """The potentials ``(f, g)`` of ``warmstart``, checked (finite, shapes [..., n] and
    [..., m] whose batch shapes broadcast to those of ``a`` and ``b``), detached and
    broadcast like ``a`` and ``b``."""
    if not isinstance(warmstart, (tuple, list)) or len(warmstart) != 2:
        raise ValueError(f"warmstart must be a pair (f, g) of potentials, got {warmstart!r:.80}")
    pair = []
    for x, like, name in zip(warmstart, (a, b), ("f", "g"), strict=True):
        t = as_tensor(x, "warmstart", a.device)
        if t.ndim == 0 or t.shape[-1] != like.shape[-1]:
            raise ValueError(
                f"warmstart {name} must have shape [..., {like.shape[-1]}], got {tuple(t.shape)}"
            )
        check_finite(t, f"warmstart {name}")
        batch = broadcast_batch({f"warmstart {name}": t.shape[:-1], "the batch": like.shape[:-1]})
        if batch != tuple(like.shape[:-1]):
            raise ValueError(
                f"warmstart {name} has batch shape {tuple(t.shape[:-1])}, larger than the "
                f"problems' {tuple(like.shape[:-1])}"
            )
        pair.append(t.detach().to(like.dtype).expand_as(like))
    return pair[0], pair[1]


def mass_tolerance(w: Tensor) -> float:
    """How far from 1 the weights ``w`` [..., k] may sum: :math:`\\max(10^{-9},
    4 k\\,ε_{\\text{mach}})` for the dtype of ``w``."""
    return max(MASS_TOL, 4 * w.shape[-1] * torch.finfo(w.dtype).eps)


def check_marginal(w: Tensor, name: str) -> None:
    """Raise ValueError unless ``w`` [..., k] is non-empty, finite, non-negative and sums to
    1 along its last axis within :func:`mass_tolerance` of its own dtype (check it before
    converting it to a wider dtype)."""
    if w.ndim == 0 or w.shape[-1] == 0:
        raise ValueError(
            f"{name} must be a non-empty vector of weights, got shape {tuple(w.shape)}"
        )
    check_finite(w, name)
    if (w < 0).any():
        raise ValueError(
            f"{name} has negative entries (min {float(w.min()):.3g}); weights must be non-negative"
        )
    tol = mass_tolerance(w)
    error = (w.detach().to(torch.float64).sum(-1) - 1).abs().max().item()
    if error > tol:
        raise ValueError(
            f"{name} must sum to 1 (probability weights, within {tol:.1e} for {w.dtype}); "
            f"it is off by {error:.3e} — normalise a and b to the same total mass 1"
        )


def check_finite(t: Tensor, name: str) -> None:
    """Raise ValueError if ``t`` holds a NaN or an infinity, saying which."""
    if not bool(torch.isfinite(t).all()):
        kind = "NaN" if bool(torch.isnan(t).any()) else "infinite"
        raise ValueError(f"{name} has non-finite entries ({kind}); it must be finite")


def positive_number(value: Any, name: str) -> float:
    """``value`` as a float if it is a finite positive real number, else ValueError."""
    if isinstance(value, Tensor) and value.numel() == 1:
        value = value.item()
    if (
        isinstance(value, bool)
        or not isinstance(value, Real)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(f"{name} must be a finite positive number, got {value!r}")
    return float(value)


def positive_int(value: Any, name: str) -> int:
    """``value`` if it is an integer ≥ 1, else ValueError."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def broadcast_batch(names: dict[str, tuple[int, ...]]) -> tuple[int, ...]:
    """The broadcast of the batch shapes ``names`` (argument → batch shape), or a ValueError
    naming them. (``torch.broadcast_shapes`` imports sympy on its first call, half a second.)"""
    shapes = list(names.values())
    ndim = max((len(shape) for shape in shapes), default=0)
    out = [1] * ndim
    for shape in shapes:
        for k, size in enumerate(shape, ndim - len(shape)):
            if size != 1:
                if out[k] not in (1, size):
                    listed = ", ".join(f"{n} {tuple(s)}" for n, s in names.items())
                    raise ValueError(f"the batch shapes do not broadcast: {listed}")
                out[k] = size
    return tuple(out)

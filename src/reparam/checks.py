"""Argument checks shared across the library (layers, priors, flows, models, diagnostics):
each raises a one-line ``TypeError`` (wrong type) or ``ValueError`` (bad value) that names the
argument and the value received. They look at Python numbers and tensor shapes only, so they
cost no device synchronisation.

>>> positive_int("in_features", 0)
Traceback (most recent call last):
    ...
ValueError: in_features must be a positive integer, got 0
"""

from __future__ import annotations

import math
import numbers

from torch import Tensor


def integer(name: str, value: object) -> int:
    """``value`` as an int, or a ``TypeError`` if it is not an integer (``bool`` included)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    return int(value)


def positive_int(name: str, value: object) -> int:
    """``value`` if it is an integer ≥ 1."""
    if integer(name, value) < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def non_negative_int(name: str, value: object) -> int:
    """``value`` if it is an integer ≥ 0."""
    if integer(name, value) < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
    return int(value)


def count(name: str, value: object, minimum: int = 1, hint: str = "") -> int:
    """``value`` as an int if it is an integer ≥ ``minimum`` (a number of samples, of steps),
    else a ``ValueError`` whatever is wrong with it, ``hint`` appended to the message.

    >>> count("k", 0, hint=": the bound needs a sample")
    Traceback (most recent call last):
        ...
    ValueError: k must be an integer >= 1, got 0: the bound needs a sample
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}{hint}")
    return int(value)


def real(name: str, value: object) -> float:
    """``value`` as a float, if it is a finite real number."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return float(value)


def positive_real(name: str, value: object) -> float:
    """``value`` as a float, if it is a finite real number > 0."""
    if not real(name, value) > 0:
        raise ValueError(f"{name} must be finite and > 0, got {value!r}")
    return float(value)


def tensor(name: str, value: object) -> Tensor:
    """``value`` if it is a floating-point tensor."""
    if not isinstance(value, Tensor):
        raise TypeError(f"{name} must be a tensor, got {type(value).__name__}")
    if not value.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got {value.dtype}")
    return value


def last_dim(name: str, x: Tensor, size: int, what: str) -> None:
    """A ``ValueError`` unless ``x`` has at least one dimension and ``size`` entries in its
    last one (``what`` says whose size that is)."""
    if x.dim() < 1 or x.shape[-1] != size:
        raise ValueError(
            f"{name} must have {size} entries in its last dimension ({what}), "
            f"got shape {tuple(x.shape)}"
        )

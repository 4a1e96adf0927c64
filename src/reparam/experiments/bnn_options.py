"""Checks and parsers the two Bayesian-network trainers share (``bnn-uci``, ``bnn-mnist``)."""

from __future__ import annotations

from reparam.train.distributed import DEVICE_PATTERN


def check_seed_and_device(seed: int, device: str) -> None:
    """``ValueError`` naming ``--seed`` or ``--device`` unless ``seed`` is a whole number >= 0
    and ``device`` is auto, cpu, cuda or cuda:N.

    >>> check_seed_and_device(0, "cuda:1")
    >>> check_seed_and_device(-1, "cpu")
    Traceback (most recent call last):
    ...
    ValueError: --seed must be a whole number >= 0; got -1
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"--seed must be a whole number >= 0; got {seed!r}")
    if not isinstance(device, str) or not DEVICE_PATTERN.fullmatch(device):
        raise ValueError(f"unknown --device {device!r}; choose auto, cpu, cuda or cuda:N")


def parse_numbers(option: str, text: str, kind: type = float) -> tuple:
    """The comma-separated numbers of ``text`` (``kind``: float or int), or a ``ValueError``
    naming ``option``.

    >>> parse_numbers("--hidden", "400, 400", int)
    (400, 400)
    >>> parse_numbers("--prior-sigmas", "0.1,x")
    Traceback (most recent call last):
    ...
    ValueError: --prior-sigmas must be comma-separated numbers; got '0.1,x'
    """
    try:
        values = tuple(kind(part) for part in text.split(","))
    except ValueError:
        what = "whole numbers" if kind is int else "numbers"
        raise ValueError(f"{option} must be comma-separated {what}; got {text!r}") from None
    return values

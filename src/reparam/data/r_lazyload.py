"""Objects of an R lazy-load database (``Rdata.rdx`` + ``Rdata.rdb``), read without R.

R installs a package's data sets as a lazy-load database: the index ``.rdx`` is a (gzip-)
compressed serialized list whose ``variables`` entry maps each object's name to its
``(offset, length)`` in the ``.rdb``; there each object is a 4-byte big-endian size followed by
its serialization compressed by zlib (R's default, ``compressed = TRUE``). The serializations
are parsed by the PyPI package ``rdata`` (imported when needed: ``pip install rdata``).
"""

from __future__ import annotations

import gzip
import importlib
import warnings
import zlib
from types import ModuleType
from typing import Any

INSTALL = 'pip install "reparam[text]" (or pip install rdata)'


def rdata_package(what: str) -> ModuleType:
    """The ``rdata`` package, or a ``ModuleNotFoundError`` saying that ``what`` needs it."""
    try:
        return importlib.import_module("rdata")
    except ModuleNotFoundError as error:
        raise ModuleNotFoundError(f"{what} needs the package rdata: {INSTALL}") from error


def parse(serialized: bytes, label: str) -> Any:
    """The R object of the serialization ``serialized``, as ``rdata`` converts it (character
    vectors become NumPy string arrays, named lists dicts)."""
    rdata = rdata_package(label)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # rdata warns that it guessed the (RDS) format
            return rdata.conversion.convert(rdata.parser.parse_data(serialized, extension=".rds"))
    except Exception as error:  # rdata raises bare ValueErrors, KeyErrors, … on bad data
        raise ValueError(f"{label} is corrupt: {type(error).__name__}: {error}") from error


def read_lazyload(index: bytes, database: bytes, label: str) -> dict[str, Any]:
    """Every object of the lazy-load database whose ``.rdx`` bytes are ``index`` and ``.rdb``
    bytes are ``database``, by name; ``label`` names the database in errors."""
    try:
        table = parse(gzip.decompress(index) if index[:2] == b"\x1f\x8b" else index, label)
        variables, compressed = table["variables"], table["compressed"]
    except (OSError, EOFError, KeyError, TypeError) as error:
        raise ValueError(f"{label} is corrupt: its index does not read ({error})") from error
    if list(compressed) != [True]:
        raise ValueError(f"{label}: only zlib-compressed databases are read, got {compressed}")
    objects = {}
    for name, (offset, length) in variables.items():
        chunk = database[int(offset) : int(offset) + int(length)]
        try:
            serialized = zlib.decompress(chunk[4:])
        except zlib.error as error:
            raise ValueError(f"{label} is corrupt: object {name!s}: {error}") from error
        if len(chunk) < length or len(serialized) != int.from_bytes(chunk[:4], "big"):
            raise ValueError(f"{label} is corrupt: object {name!s} is truncated")
        objects[str(name)] = parse(serialized, label)
    return objects

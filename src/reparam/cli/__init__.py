"""The ``reparam`` command line: one module a command (``train`` has one a model)."""

from reparam.cli import commands  # noqa: F401  (registers every command on `app`)
from reparam.cli.app import app, main

__all__ = ["app", "main"]

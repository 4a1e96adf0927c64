"""The ``reparam`` command line: one module a command (``train`` has one a model)."""

from reparam.cli.app import app, main
from reparam.cli import commands  # noqa: F401, I001  (registers every command on `app`)

__all__ = ["app", "main"]

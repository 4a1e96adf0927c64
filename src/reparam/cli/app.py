"""The ``reparam`` application, its console, and the one place user errors become one line."""

from __future__ import annotations

import os
import sys
import warnings
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated

import typer
from rich.console import Console

# Typer may vendor its own click: take its exception classes from typer itself.
UsageError = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")
ClickException = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")

CONTEXT = {"help_option_names": ["-h", "--help"]}

app = typer.Typer(
    rich_markup_mode=None,
    help="reparam: gradients of expectations, and the models built on them.",
    no_args_is_help=True,
    add_completion=False,
    context_settings=CONTEXT,
    pretty_exceptions_enable=False,
)
console = Console(width=None if sys.stdout.isatty() else 150)
errors = Console(stderr=True, width=None if sys.stderr.isatty() else 400, highlight=False)

# What a user can get wrong: each becomes `error: …` and exit status 2, never a traceback.
USER_ERRORS: tuple[type[BaseException], ...] = (
    ValueError,
    FileNotFoundError,
    FileExistsError,
    PermissionError,
    NotADirectoryError,
    IsADirectoryError,
    ImportError,
)


def package_version() -> str:
    try:
        return version("reparam")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


def show_version(value: bool) -> None:
    if value:
        console.print(f"reparam {package_version()}")
        raise typer.Exit()


@app.callback()
def main_callback(
    _version: Annotated[
        bool,
        typer.Option(
            "--version", callback=show_version, is_eager=True, help="print the version and exit"
        ),
    ] = False,
) -> None:
    """reparam: gradients of expectations, and the models built on them."""


def fail(message: str, status: int = 2) -> None:
    """Print ``error: message`` on one line and exit with ``status``."""
    line = " ".join(str(message).split())
    errors.print(f"error: {line}", markup=False, soft_wrap=True)
    sys.exit(status)


def show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: object = None,
    line: str | None = None,
) -> None:
    """``warnings.showwarning`` for the console script: a reparam warning (a solver stopped
    before its tolerance, …) is one ``warning: …`` line on stderr, with no source location;
    others keep Python's format."""
    from reparam.convergence import ConvergenceWarning

    if issubclass(category, ConvergenceWarning):
        errors.print(f"warning: {' '.join(str(message).split())}", markup=False, soft_wrap=True)
    else:
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


def main(argv: list[str] | None = None) -> None:
    """The console script: run the app, turning user errors into one ``error:`` line.

    ``REPARAM_DEBUG=1`` lets the traceback through instead.
    """
    import reparam.cli.commands  # noqa: F401  (registers every command on `app`)
    from reparam.train import Interrupted

    debug = os.environ.get("REPARAM_DEBUG") == "1"
    warnings.showwarning = show_warning
    try:
        status = app(args=argv, standalone_mode=False, prog_name="reparam")
        if status == 130:  # typer turned a KeyboardInterrupt into this exit status
            fail("interrupted", 130)
        if isinstance(status, int) and status:
            sys.exit(status)
    except Interrupted as stop:
        errors.print(
            f"interrupted at {stop.where}; checkpoint saved. Resume with: reparam "
            f"{stop.command} --out {stop.folder} --resume",
            markup=False,
            soft_wrap=True,
        )
        sys.exit(130)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except typer.Abort:
        fail("aborted", 130)
    except UsageError as error:
        if debug:
            raise
        hint = ""
        if error.ctx is not None and "--help" not in error.format_message():
            hint = f" (see `{error.ctx.command_path} --help`)"
        fail(error.format_message() + hint)
    except ClickException as error:
        if debug:
            raise
        fail(error.format_message())
    except USER_ERRORS as error:
        if debug:
            raise
        fail(str(error) or type(error).__name__)
    except KeyboardInterrupt:
        fail("interrupted", 130)

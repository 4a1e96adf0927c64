"""The CLI reference page names every command the application has."""

from pathlib import Path

import typer

import reparam.cli.commands  # noqa: F401  (registers every command on `app`)
from reparam.cli.app import app

PAGE = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def command_paths(command, prefix: str = "") -> list[str]:
    """Every leaf command as ``"train iwae"``, ``"data list"``, ``"eval"`` ..."""
    children = getattr(command, "commands", None)
    if not children:
        return [prefix]
    paths = []
    for name, child in children.items():
        if not getattr(child, "hidden", False):
            paths += command_paths(child, f"{prefix} {name}".strip())
    return paths


def test_every_command_is_in_the_cli_reference() -> None:
    text = PAGE.read_text()
    paths = command_paths(typer.main.get_command(app))
    assert "train iwae" in paths and "data list" in paths
    missing = [p for p in paths if f"`reparam {p}`" not in text and f"`reparam {p} " not in text]
    assert not missing, f"docs/cli.md does not name: {', '.join(missing)}"

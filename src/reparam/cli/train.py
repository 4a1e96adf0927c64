"""``reparam train MODEL``: one sub-command a trainer, each showing only its own options."""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup

from reparam.cli.app import CONTEXT, UsageError, app


class ModelGroup(TyperGroup):
    """A group whose unknown sub-command error lists every model."""

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        name = args[0] if args else None
        if name is not None and not name.startswith("-") and self.get_command(ctx, name) is None:
            raise UsageError(
                f"unknown model {name!r}; choose one of: {', '.join(self.list_commands(ctx))}"
            )
        return super().resolve_command(ctx, args)

    def list_commands(self, ctx: Any) -> list[str]:
        return list(self.commands)  # in the order they were registered


train_app = typer.Typer(
    rich_markup_mode=None,
    cls=ModelGroup,
    help="Train a model and write its run folder (reparam train MODEL --help for its options).",
    no_args_is_help=True,
    context_settings=CONTEXT,
)
app.add_typer(train_app, name="train")

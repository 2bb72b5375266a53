"""Click's lazy-loading group: a command's module is imported only when that command is looked up.

A one-shot ``xmppext send`` then pays for importing the send command alone,
not for run-pair's subprocess machinery or the local servers.
"""

from __future__ import annotations

import importlib
from typing import Any

import click


class LazyGroup(click.Group):
    """A group whose commands are ``{name: "package.module"}``, each module holding a ``command``."""

    def __init__(self, *args: Any, lazy_commands: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands = dict(lazy_commands or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy_commands:
            return self._load(cmd_name)
        return super().get_command(ctx, cmd_name)

    def _load(self, name: str) -> click.Command:
        module = importlib.import_module(self.lazy_commands[name])
        command = getattr(module, "command", None)
        if not isinstance(command, click.Command):
            raise TypeError(f"{self.lazy_commands[name]}.command is not a click command")
        return command

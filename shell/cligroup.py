"""The top-level command group: Ctrl-C handling, and commands registered on first use.

`cogw --help` and `cogw --version` should cost little more than the interpreter, so the
modules that define commands outside shell/cli.py are imported only when one of their
commands, or a command they extend, is looked up; the top-level help lists every command
from its one-line summary without importing any of them. This module imports click only.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

import click


class CogwGroup(click.Group):
    """Ctrl-C anywhere (a prompt, a read, a transfer) prints one `interrupted:` line and
    exits 130, instead of click's "Aborted!" and exit 1.

    ``lazy`` maps a command name to what registers or extends it: "module:name" of a
    command (added) or of a function of the group (called), each once, in the order given.
    ``summaries`` are the one-line helps the top-level help lists."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy: Mapping[str, tuple[str, ...]] = {}
        self.summaries: Mapping[str, str] = {}
        self.registered: set[str] = set()

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (KeyboardInterrupt, click.exceptions.Abort):
            from cogw.shell.output import interrupted

            interrupted()

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        for spec in self.lazy.get(cmd_name, ()):
            if spec not in self.registered:
                self.registered.add(spec)
                module, _, name = spec.partition(":")
                found = getattr(importlib.import_module(module), name)
                self.add_command(found) if isinstance(found, click.Command) else found(self)
        return super().get_command(ctx, cmd_name)

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        super().add_command(cmd, name)
        if (name or cmd.name) in self.summaries:
            cmd.short_help = self.summaries[name or cmd.name or ""]

    def configure(self, lazy: Mapping[str, tuple[str, ...]], summaries: Mapping[str, str]) -> None:
        self.lazy, self.summaries = lazy, summaries
        for name, command in self.commands.items():
            command.short_help = summaries.get(name, command.short_help)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """As click lists them, but a command with a summary is listed without loading it."""
        rows = []
        for name in self.list_commands(ctx):
            if name in self.summaries:
                rows.append((name, self.summaries[name]))
            elif (command := self.get_command(ctx, name)) and not command.hidden:
                rows.append((name, command.get_short_help_str(formatter.width - 6 - len(name))))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

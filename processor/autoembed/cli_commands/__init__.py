"""The CLI's table: every ``autoembed`` command by name, in the order ``--help`` lists them."""

from __future__ import annotations

from autoembed.cli_commands import batches, http, operate, queue, search
from autoembed.cli_commands.base import Command, Needs

__all__ = ["COMMANDS", "Command", "Needs"]

COMMANDS: dict[str, Command] = {c.name: c for c in (*queue.COMMANDS, *batches.COMMANDS,
                                                    *operate.COMMANDS, *http.COMMANDS,
                                                    *search.COMMANDS)}

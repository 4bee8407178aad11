"""What every ``autoembed`` command is made of: its table entry, what it needs, how it fails."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from autoembed.config import Settings, database_url
from autoembed.db import Database
from autoembed.errors import ConfigError

T = TypeVar("T")

Run = Callable[[argparse.Namespace, "Needs"], int]
Arguments = Callable[[argparse.ArgumentParser], None]


@dataclass(frozen=True)
class Command:
    """One row of the CLI's table: a name, its help, its arguments and the function that runs it."""

    name: str
    help: str
    run: Run
    arguments: Arguments | None = None


def command(name: str, help: str, arguments: Arguments | None = None) -> Callable[[Run], Command]:
    """Make the function below a command; its arguments are added by the function above it."""
    def make(run: Run) -> Command:
        return Command(name, help, run, arguments)
    return make


class Needs:
    """What a command asks of the environment, read only when it asks.

    A command that embeds nothing asks only for ``database()``: DATABASE_URL
    is all it needs. ``connected`` is set once a connection opened, so a
    database that goes away later is a fault to retry, not a wrong URL.
    """

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.connected = False

    def settings(self, *, embeds: bool = True) -> Settings:
        """Every setting, checked; ``embeds`` requires what asking the provider needs."""
        return Settings.from_env(self.environ, embeds=embeds)

    def database(self) -> Database:
        """A connection to DATABASE_URL (its shape checked before libpq sees it)."""
        db = Database(database_url(self.environ))
        self.connected = True
        return db


def fail(code: int, message: str) -> int:
    """Print one line naming what to fix; return the exit code."""
    print(f"autoembed: {message}", file=sys.stderr)
    return code


def positive(value: str) -> int:
    """An argument that is a whole number of at least 1 (a page, a limit)."""
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, not {value!r}")
    return int(value)


def checked(read: Callable[[str, str], T], name: str) -> Callable[[str], T]:
    """An argument read as its environment variable is (config's bounds), refused by argparse."""
    def parse(raw: str) -> T:
        try:
            return read(name, raw)
        except ConfigError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return parse

"""autoembed: automatic OpenAI or local embeddings of public.jobs, or any table, in Supabase.

Every error a person can cause is one line on stderr naming what to fix:
exit 2 for configuration (settings, database URL, model), 1 for a run that
failed (the provider refused the setup, the database went away: retry).
-v adds the traceback. Settings come from the environment; commands that
embed nothing need only DATABASE_URL (see the README).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import traceback
from collections.abc import Sequence
from typing import Any

import psycopg

from autoembed import redact, status_view
from autoembed.cli_commands import COMMANDS, Needs
from autoembed.config import environment_secrets
from autoembed.errors import ConfigError

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
# A connection that opened and then failed for one of these: the database restarts or is busy.
TRANSIENT = (psycopg.errors.AdminShutdown, psycopg.errors.CrashShutdown, psycopg.errors.CannotConnectNow)


def build_parser() -> argparse.ArgumentParser:
    """The parser: global options, then one subparser per row of the command table."""
    parser = argparse.ArgumentParser(
        prog="autoembed", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=status_view.version())
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="log at INFO and show tracebacks (or set AUTOEMBED_LOG_LEVEL)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS.values():
        sub_parser = sub.add_parser(command.name, help=command.help)
        if command.arguments:
            command.arguments(sub_parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command by name; every failure is one line and an exit code."""
    # Before anything reads the environment: a mistyped secret is still a secret.
    redact.install(environment_secrets())
    args = build_parser().parse_args(argv)
    needs = Needs(os.environ)
    try:
        configure_logging(args.verbose)
        code = COMMANDS[args.command].run(args, needs)
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        # The reader (`| head`) has what it wanted; nothing is left to say, not even at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except ConfigError as exc:
        return _failed(2, str(exc), args.verbose)
    except psycopg.Error as exc:
        return _failed(*database_fault(exc, connected=needs.connected), verbose=args.verbose)


def database_fault(exc: psycopg.Error, *, connected: bool) -> tuple[int, str]:
    """The exit code and line for a database error: configuration (2) or a fault to retry (1)."""
    said = redact.error(exc, with_type=False)
    if isinstance(exc, psycopg.errors.InsufficientPrivilege):
        return 2, (f"the DATABASE_URL role may not do this: {said}; "
                   "use the postgres or service_role connection string")
    missing = isinstance(exc, psycopg.errors.UndefinedFunction | psycopg.errors.UndefinedTable)
    if said.startswith("autoembed: "):  # autoembed's SQL said what is wrong and what to do
        # A name, a key, an expression or a source to declare again (SQLSTATE classes 22 and 42)
        # is a person's to fix, as configuration is; anything else, the run's.
        person = missing or (exc.sqlstate or "")[:2] in ("22", "42")
        return 2 if person else 1, said.removeprefix("autoembed: ")
    if missing:
        # Missing altogether, or older than this processor (deployed before its `db push`).
        return 2, (f"the database at DATABASE_URL has no autoembed schema, or one older than this "
                   f"processor: {said}; run `supabase db push` first")
    if isinstance(exc, TRANSIENT) or (connected and isinstance(exc, psycopg.OperationalError)):
        return 1, f"the database went away: {said}; retry when it is back (claims it held expire)"
    if not connected:
        return 2, (f"cannot use the database at DATABASE_URL: {said}; "
                   "check the URL, that the server runs, and the password")
    return 1, f"database error: {said}"


def _failed(code: int, message: str, verbose: bool) -> int:
    """One line naming what to fix; with -v the traceback first, redacted like every log line."""
    if verbose:
        print(redact.text(traceback.format_exc()).rstrip(), file=sys.stderr)
    print(f"autoembed: {message}", file=sys.stderr)
    return code


class JsonLines(logging.Formatter):
    """One JSON object a line: time, level, logger, message (already redacted)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {"time": self.formatTime(record), "level": record.levelname,
                                 "logger": record.name, "message": record.getMessage()}
        if record.exc_info:
            entry["exception"] = record.exc_text or self.formatException(record.exc_info)
        return json.dumps(entry)


def configure_logging(verbose: bool) -> None:
    """AUTOEMBED_LOG_LEVEL (WARNING by default, INFO with -v) and AUTOEMBED_LOG_FORMAT (text, json)."""
    level = (os.environ.get("AUTOEMBED_LOG_LEVEL") or ("INFO" if verbose else "WARNING")).strip().upper()
    if level not in LOG_LEVELS:
        raise ConfigError(f"AUTOEMBED_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, not {level!r}")
    shape = (os.environ.get("AUTOEMBED_LOG_FORMAT") or "text").strip().lower()
    if shape not in ("text", "json"):
        raise ConfigError(f"AUTOEMBED_LOG_FORMAT must be text or json, not {shape!r}")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLines() if shape == "json" else
                         logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler], force=True)


if __name__ == "__main__":
    raise SystemExit(main())

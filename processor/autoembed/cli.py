"""autoembed: automatic OpenAI or local embeddings for public.jobs in Supabase.

Every error a person can cause is one line on stderr naming what to fix:
exit 2 for configuration (settings, database URL, model), 1 for a run that
failed (the provider refused the setup, the database went away). -v adds the
traceback. Settings come from the environment (DATABASE_URL, OPENAI_API_KEY,
CRON_SECRET and/or EMBEDDING_SIGNING_SECRET, EMBEDDING_*); see the README.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

import psycopg

from autoembed import commands, redact
from autoembed.commands import fail
from autoembed.config import Settings
from autoembed.db import Database
from autoembed.errors import ConfigError
from autoembed.schema import expected_schema_version, mismatch, package_version

# A finite default: a provider that asks to wait an hour must not hold leases that long.
DEFAULT_CLI_BUDGET_SECONDS = 900.0
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="autoembed", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version",
                        version=f"autoembed {package_version()} (schema {expected_schema_version()})")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="log at INFO and show tracebacks (or set AUTOEMBED_LOG_LEVEL)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    status = sub.add_parser("status", help="the queue's health and counts, as a table")
    status.add_argument("--json", action="store_true", help="print the status RPC's JSON as it is")
    process = sub.add_parser("process", help="embed what is due now, once, with a progress bar")
    process.add_argument("--budget", type=float, default=DEFAULT_CLI_BUDGET_SECONDS, metavar="SECONDS",
                         help=f"start no request after this long (default {DEFAULT_CLI_BUDGET_SECONDS:g})")
    process.add_argument("--no-progress", action="store_true",
                         help="no progress bar (for logs and cron); the summary line stays")
    backfill = sub.add_parser("backfill", help="queue every active job whose embedding is missing or stale")
    backfill.add_argument("--include-failed", action="store_true",
                          help="also reopen jobs that failed for good (left alone by default)")
    backfill.add_argument("--batch-api", action="store_true",
                          help="send what is due as OpenAI Batch API batches (half the price, within 24 h) "
                               "and return at once; the scheduled runs write the results")
    batches = sub.add_parser("batches", help="the Batch API batches in flight; `batches cancel ID`")
    batches.add_argument("action", nargs="?", choices=["list", "cancel"], default="list")
    batches.add_argument("batch_id", nargs="?", type=int, help="the batch to cancel")
    estimate = sub.add_parser("estimate", help="tokens and cost of the backlog, spending nothing")
    estimate.add_argument("--model", default=None,
                          help="estimate re-embedding every active job with this model instead")
    estimate.add_argument("--batch-api", action="store_true",
                          help="also give the price through the Batch API")
    retry = sub.add_parser("retry-failed", help="make jobs that failed for good pending again")
    retry.add_argument("job_ids", nargs="*", type=int, metavar="JOB_ID", help="only these jobs")
    failed = sub.add_parser("failures", help="list the jobs that failed for good, with the reason")
    failed.add_argument("--reason", default=None, help="only reasons containing this text")
    failed.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")
    failed.add_argument("--json", action="store_true", help="print JSON")
    switch = sub.add_parser("switch-model", help="make another model the active one, on purpose")
    switch.add_argument("model", help="the model to switch to (checked with the provider first)")
    switch.add_argument("--dimensions", type=int, default=None,
                        help="shorten a text-embedding-3 model, or give an unknown model's size")
    sub.add_parser("pause", help="pause the pg_cron job that dispatches runs")
    sub.add_parser("resume", help="resume the pg_cron job that dispatches runs")
    sched = sub.add_parser("schedule", help="change how often pg_cron dispatches runs")
    sched.add_argument("cron", help="a pg_cron schedule, e.g. '*/10 * * * *'")
    secrets = sub.add_parser("secrets", help="set the Vault secrets the dispatch reads (idempotent)")
    secrets.add_argument("action", choices=["set"])
    secrets.add_argument("--url", help="the processor's URL, e.g. https://app.example/api/process-embedding-queue")
    secrets.add_argument("--signing-secret", help="the signing secret (also set on the processor)")
    secrets.add_argument("--generate-signing-secret", action="store_true",
                         help="make a new random signing secret, store it and print it once")
    trig = sub.add_parser("trigger", help="POST a signed request to a processor, as an external cron")
    trig.add_argument("url", help="the processor's URL")
    trig.add_argument("--body", default='{"source": "autoembed trigger"}', help="the JSON body to sign")
    trig.add_argument("--bearer", action="store_true",
                      help="authenticate with Bearer CRON_SECRET instead of EMBEDDING_SIGNING_SECRET")
    serve = sub.add_parser("serve", help="run the HTTP processor that pg_net calls")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        configure_logging(args.verbose)
    except ConfigError as exc:
        return fail(2, str(exc))
    try:
        if args.command == "trigger":  # runs where only the secret is, no database needed
            return commands.trigger(args.url, args.body, args.bearer)
        return _run(args)
    except ConfigError as exc:
        return fail(2, str(exc), args.verbose)
    except psycopg.OperationalError as exc:
        return fail(2, f"cannot use the database at DATABASE_URL: {redact.error(exc, with_type=False)}; "
                       "check the URL, that the server runs, and the password", args.verbose)
    except psycopg.errors.InsufficientPrivilege as exc:
        return fail(2, f"the DATABASE_URL role may not do this: {redact.error(exc, with_type=False)}; "
                       "use the postgres or service_role connection string", args.verbose)
    except (psycopg.errors.UndefinedFunction, psycopg.errors.UndefinedTable) as exc:
        return fail(2, f"the database has no autoembed schema: {redact.error(exc, with_type=False)}; "
                       "run `supabase db push` first", args.verbose)
    except psycopg.Error as exc:
        return fail(1, f"database error: {redact.error(exc, with_type=False)}", args.verbose)


def _run(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    redact.install(settings.secrets())
    command: str = args.command
    if command == "serve":
        return commands.serve(settings, args.host, args.port)
    with Database(settings.database_url) as db:
        return _with_database(args, settings, db)


def _with_database(args: argparse.Namespace, settings: Settings, db: Database) -> int:
    command: str = args.command
    if command == "status":
        data = db.status()
        data["processor_version"] = package_version()
        print(json.dumps(data, indent=2, default=str) if args.json else commands.format_status(data))
        if warning := mismatch(data.get("schema_version")):
            print(f"autoembed: warning: {warning}", file=sys.stderr)
    elif command == "process":
        report = commands.process(db, settings, args.budget, show_progress=not args.no_progress)
        print(commands.format_report(report))
        if report.model_mismatch:
            return fail(2, f"nothing done: {report.model_mismatch}")
        if report.setup_error:
            return fail(1, f"stopped, nothing charged, {report.released} entries released: "
                           f"{report.setup_error}")
    elif command == "estimate":
        from autoembed.estimate import estimate

        result = estimate(db, settings, args.model)
        print(f"{result.model}: {result.jobs} jobs, {result.tokens} tokens "
              f"({result.truncated} truncated), estimated ${result.cost_usd:.6f}"
              + (f" online, ${result.batch_cost_usd:.6f} through the Batch API" if args.batch_api else ""))
    elif command == "backfill":
        print(f"{db.enqueue_missing(args.include_failed)} jobs enqueued")
        if args.batch_api:
            return commands.backfill_batches(db, settings)
    elif command == "batches":
        return commands.batches(db, settings, args.action, args.batch_id)
    elif command == "retry-failed":
        print(f"{db.retry_failed(args.job_ids)} failed entries pending again")
    elif command == "failures":
        return commands.failures(db, args.reason, args.limit, args.json)
    elif command == "switch-model":
        return commands.switch_model(db, settings, args.model, args.dimensions)
    elif command in ("pause", "resume"):
        return commands.schedule(db, command == "resume", None)
    elif command == "schedule":
        return commands.schedule(db, None, args.cron)
    elif command == "secrets":
        return commands.secrets_set(db, args.url, args.signing_secret, args.generate_signing_secret)
    return 0


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

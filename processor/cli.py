"""The ``autoembed`` command: status, process, estimate, backfill, retry-failed,
switch-model, serve.

Every error a person can cause is one line on stderr that names what to fix:
exit 2 for configuration (settings, database URL, model), 1 for a run that
failed (the provider refused the setup, the database went away). ``-v``
adds the traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from typing import Any

import psycopg

from processor.accounting import RunReport
from processor.config import Settings
from processor.db import Database
from processor.embedders import create_embedder
from processor.errors import ConfigError
from processor.service import run_drain

# A finite default: a provider that asks to wait an hour must not hold leases that long.
DEFAULT_CLI_BUDGET_SECONDS = 900.0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="autoembed", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", required=True)
    status = sub.add_parser("status", help="show the queue's status")
    status.add_argument("--json", action="store_true", help="print the raw JSON")
    process = sub.add_parser("process", help="drain the queue once, with a progress bar")
    process.add_argument("--budget", type=float, default=DEFAULT_CLI_BUDGET_SECONDS,
                         help="start no request after this many seconds "
                              f"(default {DEFAULT_CLI_BUDGET_SECONDS:g})")
    process.add_argument("--no-progress", action="store_true")
    backfill = sub.add_parser("backfill",
                              help="enqueue every active job whose embedding is missing or stale")
    backfill.add_argument("--include-failed", action="store_true",
                          help="also reopen jobs that failed for good (left alone by default)")
    switch = sub.add_parser("switch-model", help="make another model the active one, on purpose")
    switch.add_argument("model", help="the model to switch to (checked with the provider first)")
    switch.add_argument("--dimensions", type=int, default=None,
                        help="shorten a text-embedding-3 model, or the size of an unknown one")
    estimate_cmd = sub.add_parser("estimate", help="tokens and cost of the backlog, spending nothing")
    estimate_cmd.add_argument("--model", default=None,
                          help="estimate re-embedding every active job with this model")
    retry = sub.add_parser("retry-failed", help="make failed entries pending again")
    retry.add_argument("job_ids", nargs="*", type=int, help="only these jobs")
    serve = sub.add_parser("serve", help="run the HTTP processor (for pg_net)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return _run(args)
    except ConfigError as exc:
        return _fail(2, str(exc), args.verbose)
    except psycopg.OperationalError as exc:
        return _fail(2, f"cannot use the database at DATABASE_URL: {_first_line(exc)}; "
                        "check the URL, that the server runs, and the password", args.verbose)
    except psycopg.errors.InsufficientPrivilege as exc:
        return _fail(2, f"the DATABASE_URL role may not do this: {_first_line(exc)}; "
                        "use the postgres or service_role connection string", args.verbose)
    except psycopg.errors.UndefinedFunction as exc:
        return _fail(2, f"the database has no autoembed schema: {_first_line(exc)}; "
                        "run `supabase db push` first", args.verbose)
    except psycopg.Error as exc:
        return _fail(1, f"database error: {_first_line(exc)}", args.verbose)


def _run(args: argparse.Namespace) -> int:
    from processor import redact

    settings = Settings.from_env()
    redact.install(settings.secrets())
    command: str = args.command
    if command == "serve":
        return _serve(settings, args.host, args.port)
    with Database(settings.database_url) as db:
        if command == "status":
            data = db.status()
            print(json.dumps(data, indent=2) if args.json else format_status(data))
        elif command == "process":
            report = _process(db, settings, args.budget, show_progress=not args.no_progress)
            print(format_report(report))
            if report.model_mismatch:
                return _fail(2, f"nothing done: {report.model_mismatch}", False)
            if report.setup_error:
                return _fail(1, f"stopped, nothing charged, {report.released} entries released: "
                                f"{report.setup_error}", False)
        elif command == "estimate":
            from processor.estimate import estimate

            result = estimate(db, settings, args.model)
            print(f"{result.model}: {result.jobs} jobs, {result.tokens} tokens "
                  f"({result.truncated} truncated), estimated ${result.cost_usd:.6f}")
        elif command == "backfill":
            print(f"{db.enqueue_missing(args.include_failed)} jobs enqueued")
        elif command == "retry-failed":
            print(f"{db.retry_failed(args.job_ids)} failed entries pending again")
        elif command == "switch-model":
            return _switch_model(db, settings, args.model, args.dimensions)
    return 0


def _switch_model(db: Database, settings: Settings, model: str, dimensions: int | None) -> int:
    """Check the model with the provider (one tiny request), then make it active."""
    from dataclasses import replace

    from processor.errors import EmbeddingError

    embedder = create_embedder(replace(settings, model=model, dimensions=dimensions))
    try:
        embedder.embed(["autoembed model check"])
    except EmbeddingError as exc:
        return _fail(2, f"{model} was not switched to; the provider did not answer for it: {exc}",
                     False)
    if db.activate_model(embedder.model, embedder.dimensions):
        print(f"active model is now {embedder.model} ({embedder.dimensions} dimensions); "
              f"{db.remaining()} jobs queued; set EMBEDDING_MODEL={model} for the processor")
    else:
        print(f"{embedder.model} was already the active model")
    return 0


def _fail(code: int, message: str, verbose: bool) -> int:
    print(f"autoembed: {message}", file=sys.stderr)
    if verbose:
        import traceback

        traceback.print_exc()
    return code


def _first_line(exc: BaseException) -> str:
    from processor import redact

    return redact.text(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)


def _process(db: Database, settings: Settings, budget: float | None, *,
             show_progress: bool) -> RunReport:
    import signal
    import threading

    from tqdm import tqdm

    stop = threading.Event()
    # SIGTERM stops claiming; what is out finishes and is written, the rest released.
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    embedder = create_embedder(settings)
    total = int(db.status()["pending"])
    with tqdm(total=total, unit="job", desc="embedding", disable=not show_progress,
              file=sys.stderr) as bar:
        def progress(report: RunReport) -> None:
            done = report.embedded + report.failed + report.retried + report.stale
            bar.total = max(bar.total or 0, done)
            bar.update(done - bar.n)
            bar.set_postfix(tokens=report.tokens, failed=report.failed)

        return run_drain(settings, embedder, budget_seconds=budget, on_progress=progress, stop=stop)


def _serve(settings: Settings, host: str, port: int) -> int:
    """Serve until SIGTERM or SIGINT, then stop the drain gracefully and exit 0."""
    import signal
    import threading

    from processor.handler import Processor
    from processor.server import make_server

    try:
        settings.require_secret()
    except ConfigError as exc:
        print(f"autoembed: {exc}", file=sys.stderr)
        return 2
    processor = Processor(settings, background=True)
    server = make_server(processor, host, port)
    print(f"autoembed processor on http://{host}:{server.server_port}/api/process-embedding-queue",
          file=sys.stderr)
    logging.getLogger(__name__).info("settings: %s", settings.describe())
    stopping = threading.Event()

    def stop(signum: int, frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    thread = threading.Thread(target=server.serve_forever, name="http", daemon=True)
    thread.start()
    while not stopping.wait(0.5):
        if not thread.is_alive():
            return 1
    # Stop claiming; requests already out finish (one request timeout at most) and
    # are written, what was claimed but not sent is released, the run is recorded.
    print("autoembed: stopping; finishing the running drain", file=sys.stderr)
    assert processor.background is not None
    finished = processor.background.stop(timeout=settings.request_timeout_seconds + 10)
    server.shutdown()
    if not finished:
        print("autoembed: the drain did not end in time; its leases expire on their own",
              file=sys.stderr)
    return 0


STATUS_ROWS = ("health", "health_reason", "blocked_since",
               "pending", "processing", "retries", "failed", "due", "oldest_pending_seconds",
               "model", "tokens_24h", "cost_24h_usd", "embedded_24h", "jobs_per_second")
LAST_RUN_ROWS = ("finished_at", "seconds", "claimed", "embedded", "failed", "retried", "released",
                 "tokens", "estimated_cost_usd", "truncated_job_ids")


def format_status(data: dict[str, Any]) -> str:
    """The status JSON as a readable two-column table."""
    rows = [(k, data.get(k)) for k in STATUS_ROWS if k in data]
    last = data.get("last_run") or {}
    rows += [(f"last run {k}", last.get(k)) for k in LAST_RUN_ROWS if k in last]
    width = max(len(k) for k, _ in rows)
    lines = [f"  {k.replace('_', ' '):<{width}}  {v if v is not None else '-'}" for k, v in rows]
    return "\n".join([str(data.get("message", "")), *lines])


def format_report(report: RunReport) -> str:
    """One line summing up a run."""
    return (f"claimed {report.claimed}, embedded {report.embedded}, failed {report.failed}, "
            f"retrying {report.retried}, released {report.released}, stale {report.stale}, "
            f"skipped {report.skipped_current} (already current), lost {report.lost}, "
            f"tokens {report.tokens} (${report.estimated_cost_usd:.6f}), "
            f"requests {report.requests}, truncated {report.truncated}, "
            f"{report.seconds:.1f}s, {report.remaining} pending")


if __name__ == "__main__":
    raise SystemExit(main())

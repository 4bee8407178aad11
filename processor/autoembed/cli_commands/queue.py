"""Commands about the queue: status, process, estimate, backfill, retry-failed, failures."""

from __future__ import annotations

import argparse
import json
import sys

from autoembed import status_view
from autoembed.accounting import RunReport
from autoembed.cli_commands.base import Needs, checked, command, fail, positive
from autoembed.config import Settings, read_seconds
from autoembed.status_view import plural

# A finite default: a provider that asks to wait an hour must not hold leases that long.
DEFAULT_CLI_BUDGET_SECONDS = 900.0


def _source_argument(parser: argparse.ArgumentParser, help: str) -> None:
    parser.add_argument("--source", default=None, metavar="NAME", help=help)


def _status_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true",
                        help="print the status JSON, as GET /api/process-embedding-queue answers it")
    _source_argument(parser, "one source's health and counts (embedding_source_status) instead of the total")


@command("status", "the queue's health and counts, in total and per source, as a table", _status_arguments)
def status(args: argparse.Namespace, needs: Needs) -> int:
    from autoembed.source_store import SourceStore

    with needs.database() as db:
        data = status_view.read(db)
        if args.source is not None:
            store = SourceStore(db)
            data = {**store.status(store.check(args.source) or ""),
                    "schema_warning": data["schema_warning"]}
    if args.json:
        print(json.dumps(data, indent=2, default=str))
    else:
        print(status_view.source_table(data) if args.source else status_view.table(data))
    if data["schema_warning"]:
        print(f"autoembed: warning: {data['schema_warning']}", file=sys.stderr)
    return 0


def _process_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--budget", type=checked(read_seconds, "--budget"),
                        default=DEFAULT_CLI_BUDGET_SECONDS, metavar="SECONDS",
                        help=f"start no request after this long (default {DEFAULT_CLI_BUDGET_SECONDS:g})")
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress bar (for logs and cron); the summary line stays")


@command("process", "embed what is due now, once, with a progress bar", _process_arguments)
def process(args: argparse.Namespace, needs: Needs) -> int:
    settings = needs.settings()
    with needs.database() as db:
        total = db.remaining()
    report = _drain_with_progress(settings, total, args.budget, show=not args.no_progress)
    print(report.summary())
    if report.model_mismatch:
        return fail(2, f"nothing done: {report.model_mismatch}")
    if report.setup_error:
        return fail(1, f"stopped, nothing charged, {plural(report.released, 'entry', 'entries')} "
                       f"released: {report.setup_error}")
    return 0


def _drain_with_progress(settings: Settings, total: int, budget: float, *, show: bool) -> RunReport:
    """One run with a bar over the jobs it settles; SIGTERM stops claiming, what is out is written."""
    import signal
    import threading

    from tqdm import tqdm

    from autoembed.service import run_drain

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())

    def settled(report: RunReport) -> int:
        return (report.embedded + report.failed + report.retried + report.stale + report.released
                + report.skipped_current)

    with tqdm(total=total, unit="job", desc="embedding", disable=not show, file=sys.stderr) as bar:
        def progress(report: RunReport) -> None:
            done = settled(report)
            bar.total = max(bar.total or 0, done)
            bar.update(done - bar.n)
            bar.set_postfix(tokens=report.tokens, failed=report.failed)

        report = run_drain(settings, budget_seconds=budget, on_progress=progress, stop=stop,
                           index_upkeep="here")
        # The last batches are written after the last progress call: end at 100 %.
        bar.total = bar.n = settled(report)
        bar.set_postfix(tokens=report.tokens, failed=report.failed)
        bar.refresh()
        return report


def _estimate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=None,
                        help="estimate re-embedding every live row with this model instead")
    parser.add_argument("--batch-api", action="store_true", help="also give the price through the Batch API")
    _source_argument(parser, "only this source (default: every source, each on its line)")
    change = parser.add_argument_group(
        "a text change, priced before it is made (needs --source; nothing is declared or queued)")
    text = change.add_mutually_exclusive_group()
    text.add_argument("--text-expression", metavar="SQL", help="the text as a SQL expression over the row")
    text.add_argument("--text-columns", metavar="JSON", type=_json,
                      help='the text as labelled columns: \'["title", {"column": "body", "label": "Body"}]\'')
    change.add_argument("--live-when", metavar="SQL", help="when a row is live ('true': every row)")


def _json(value: str) -> object:
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc}") from None


@command("estimate", "tokens and cost of the backlog, or of a source's text change, spending nothing",
         _estimate_arguments)
def estimate(args: argparse.Namespace, needs: Needs) -> int:
    from autoembed.estimate import estimate, estimate_change

    settings, batch = needs.settings(embeds=False), args.batch_api  # counts tokens; asks the provider nothing
    if args.text_expression is not None or args.text_columns is not None or args.live_when is not None:
        if args.source is None or args.model is not None:
            return fail(2, "a text change is priced for one source (--source NAME), with the active model")
        with needs.database() as db:
            change = estimate_change(db, settings, args.source, text_columns=args.text_columns,
                                     text_expression=args.text_expression, live_when=args.live_when)
        why = ", ".join(f"{n} {r}" for r, n in sorted(change.reasons.items()))
        print(f"{change.model}: declaring this would queue {plural(change.rows, 'row', 'rows')} of "
              f"{change.source}" + (f" ({why})" if why else "") + f", {change.tokens} tokens "
              f"({change.truncated} truncated), estimated ${change.cost_usd:.6f}"
              + (f" online, ${change.batch_cost_usd:.6f} through the Batch API" if batch else "")
              + "; nothing was declared or queued" + (f"\n{change.note}" if change.note else ""))
        return 0
    with needs.database() as db:
        result = estimate(db, settings, args.model, args.source)
    noun = ("job", "jobs") if set(result.sources) <= {"jobs"} else ("row", "rows")
    print(f"{result.model}: {plural(result.jobs, *noun)}, {result.tokens} tokens "
          f"({result.truncated} truncated), estimated ${result.cost_usd:.6f}"
          + (f" online, ${result.batch_cost_usd:.6f} through the Batch API" if batch else "")
          + (f"\n{result.note}" if result.note else ""))
    if len(result.sources) > 1:
        for name, counted in result.sources.items():
            raising = f", {counted.failing} whose text raises" if counted.failing else ""
            print(f"  {name}: {plural(counted.rows, 'row', 'rows')}, {counted.tokens} tokens "
                  f"({counted.truncated} truncated){raising}")
    if result.failing:  # the status counts them pending until a claim fails them
        print(f"{plural(result.failing, 'row', 'rows')} more whose text raises: not sent, failed by a run")
    for reason in result.blocked.values():  # as the backfill says it: one line each, exit 2
        fail(2, reason)
    return 2 if result.blocked else 0


def _backfill_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--include-failed", action="store_true",
                        help="also reopen rows that failed for good (left alone by default)")
    _source_argument(parser, "only this source (default: every source, each on its line)")
    parser.add_argument("--batch-api", action="store_true",
                        help="send what is due (of --source only, if given) as OpenAI Batch API batches "
                             "(half the price, within 24 h) and return at once; the scheduled runs "
                             "write the results")


@command("backfill", "queue every live row (job) whose embedding is missing or stale", _backfill_arguments)
def backfill(args: argparse.Namespace, needs: Needs) -> int:
    import psycopg

    from autoembed.source_store import SourceStore

    settings = needs.settings() if args.batch_api else None
    blocked = 0
    with needs.database() as db:
        store = SourceStore(db)
        names = [store.check(args.source) or ""] if args.source else store.names()
        for name in names:
            try:
                queued = store.enqueue(name, args.include_failed)
            except psycopg.errors.ObjectNotInPrerequisiteState as exc:
                # A source that cannot build its text (its table or a column gone): said in
                # one line with the way out; the other sources are backfilled all the same.
                blocked += 1
                fail(2, str(exc.diag.message_primary).removeprefix("autoembed: "))
                continue
            noun = ("job", "jobs") if name == "jobs" else (f"{name} row", f"{name} rows")
            print(f"{plural(queued, *noun)} enqueued")
        if settings is not None:
            from autoembed.cli_commands.batches import send_backlog

            sent = send_backlog(db, settings, names[0] if args.source else None)
            return sent or (2 if blocked else 0)
    return 2 if blocked else 0


def _retry_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("keys", nargs="*", metavar="KEY",
                        help="only these jobs (ids), or these rows of --source (keys)")
    _source_argument(parser, "only this source's failures (default: every source's, or the jobs given)")


@command("retry-failed", "make rows that failed for good pending again", _retry_arguments)
def retry_failed(args: argparse.Namespace, needs: Needs) -> int:
    from autoembed.source_store import SourceStore

    if args.source is None and not all(k.isdigit() for k in args.keys):
        return fail(2, "job ids are numbers; give --source NAME for the keys of another source")
    with needs.database() as db:
        if args.source is None:
            reopened = db.retry_failed([int(k) for k in args.keys])
        else:
            store = SourceStore(db)
            reopened = store.retry_failed(store.check(args.source) or "", args.keys)
    print(f"{plural(reopened, 'failed entry', 'failed entries')} pending again")
    return 0


def _failures_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reason", default=None, help="only reasons containing this text")
    parser.add_argument("--limit", type=positive, default=100, help="at most this many (default 100)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    _source_argument(parser, "only this source's rows (default: every source)")


@command("failures", "list the rows that failed for good, with the reason", _failures_arguments)
def failures(args: argparse.Namespace, needs: Needs) -> int:
    from autoembed.source_store import SourceStore

    with needs.database() as db:
        store = SourceStore(db)
        rows = store.failures(store.check(args.source), args.reason, args.limit)
    what = "row" if args.source is None else "job" if args.source == "jobs" else f"{args.source} row"
    if args.json:
        print(json.dumps(rows, default=str, indent=2))
        return 0
    if not rows:
        print(f"no {what} has failed for good"
              + (f" with a reason containing {args.reason!r}" if args.reason else ""))
    for row in rows:
        print(status_view.failure_line(row))
    return 0


COMMANDS = (status, process, estimate, backfill, retry_failed, failures)

"""What each ``autoembed`` command does; ``autoembed.cli`` parses and dispatches."""

from __future__ import annotations

import json
import logging
import os
import sys
from typing import Any

import psycopg

from autoembed.accounting import RunReport
from autoembed.config import Settings
from autoembed.db import Database
from autoembed.embedders import create_embedder
from autoembed.errors import ConfigError, EmbeddingError
from autoembed.service import run_drain


def switch_model(db: Database, settings: Settings, model: str, dimensions: int | None) -> int:
    """Check the model with the provider (one tiny request), then make it active."""
    from dataclasses import replace

    from autoembed.errors import EmbeddingError

    embedder = create_embedder(replace(settings, model=model, dimensions=dimensions))
    try:
        embedder.embed(["autoembed model check"])
    except EmbeddingError as exc:
        return fail(2, f"{model} was not switched to; the provider did not answer for it: {exc}")
    if db.activate_model(embedder.model, embedder.dimensions):
        print(f"active model is now {embedder.model} ({embedder.dimensions} dimensions); "
              f"{db.remaining()} jobs queued; set EMBEDDING_MODEL={model} for the processor")
    else:
        print(f"{embedder.model} was already the active model")
    return 0


def process(db: Database, settings: Settings, budget: float | None, *,
             show_progress: bool) -> RunReport:
    import signal
    import threading

    from tqdm import tqdm

    stop = threading.Event()
    # SIGTERM stops claiming; what is out finishes and is written, the rest released.
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    total = db.remaining()
    def settled(report: RunReport) -> int:
        return (report.embedded + report.failed + report.retried + report.stale + report.released
                + report.skipped_current)

    with tqdm(total=total, unit="job", desc="embedding", disable=not show_progress,
              file=sys.stderr) as bar:
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


def serve(settings: Settings, host: str, port: int) -> int:
    """Serve until SIGTERM or SIGINT, then stop the drain gracefully and exit 0."""
    import signal
    import threading

    from autoembed.handler import Processor
    from autoembed.server import make_server

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
    from autoembed.schema import mismatch as schema_mismatch

    try:
        with Database(settings.database_url) as db:
            if warning := schema_mismatch(db.status().get("schema_version")):
                logging.getLogger(__name__).warning("%s", warning)
    except psycopg.Error as exc:  # the database may come later; serve anyway
        logging.getLogger(__name__).warning("cannot read the schema version yet: %s",
                                            type(exc).__name__)
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



def secrets_set(db: Database, url: str | None, signing_secret: str | None, generate: bool) -> int:
    """Create or update the Vault secrets the dispatch function reads (idempotent)."""
    import secrets as random_secrets

    if generate:
        signing_secret = random_secrets.token_hex(32)
    if not url and not signing_secret:
        return fail(2, "nothing to set: give --url, --signing-secret or --generate-signing-secret")
    if url:
        db.set_secret("autoembed_processor_url", url)
        print("Vault secret autoembed_processor_url set")
    if signing_secret:
        db.set_secret("autoembed_signing_secret", signing_secret)
        print("Vault secret autoembed_signing_secret set")
        if generate:
            print(f"EMBEDDING_SIGNING_SECRET={signing_secret}")
            print("set it on the processor now (keep the old one as EMBEDDING_SIGNING_SECRET_PREVIOUS "
                  "until the next tick has passed)", file=sys.stderr)
    return 0


def failures(db: Database, reason: str | None, limit: int, as_json: bool) -> int:
    """The jobs that failed for good, newest first, with their reasons."""
    rows = db.failures(reason, limit)
    if as_json:
        print(json.dumps([dict(r) for r in rows], default=str, indent=2))
        return 0
    if not rows:
        print("no job has failed for good" + (f" with a reason containing {reason!r}" if reason else ""))
        return 0
    for row in rows:
        print(f"job {row['job_id']:<8} {str(row['failed_at'])[:19]}  attempts {row['attempts']}  "
              f"{row['title']!s:.40}: {row['error_message']}")
    return 0


def schedule(db: Database, active: bool | None, cron: str | None) -> int:
    """Pause, resume or reschedule the pg_cron job process-embedding-queue."""
    job = db.set_schedule(active, cron)
    state = "active" if job["active"] else "paused"
    print(f"pg_cron job {job['job']}: {state}, schedule {job['schedule']}")
    return 0


def trigger(url: str, body: str, bearer: bool) -> int:
    """POST a signed request to a processor, as an external cron would."""
    import urllib.error
    import urllib.parse
    import urllib.request

    from autoembed.auth import sign

    payload = body.encode()
    if bearer:
        token = (os.environ.get("CRON_SECRET") or "").strip()
        if not token:
            return fail(2, "--bearer needs CRON_SECRET in the environment")
        headers = {"Authorization": f"Bearer {token}"}
    else:
        secret = (os.environ.get("EMBEDDING_SIGNING_SECRET") or "").strip()
        if not secret:
            return fail(2, "EMBEDDING_SIGNING_SECRET is not set (or use --bearer with CRON_SECRET)")
        parts = urllib.parse.urlsplit(url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        headers = sign(payload, secret, method="POST", target=target)
    request = urllib.request.Request(url, data=payload, method="POST",
                                     headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=90) as resp:
            status, answer = resp.status, resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        status, answer = exc.code, exc.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError) as exc:
        return fail(1, f"could not reach {url}: {getattr(exc, 'reason', exc)}")
    print(f"HTTP {status} {answer}")
    return 0 if 200 <= status < 300 else 1


def fail(code: int, message: str, verbose: bool = False) -> int:
    """Print one line naming what to fix (and the traceback with -v); return the exit code."""
    print(f"autoembed: {message}", file=sys.stderr)
    if verbose:
        import traceback

        traceback.print_exc()
    return code


STATUS_ROWS = ("health", "health_reason", "blocked_since", "schema_version", "processor_version",
               "pending", "processing", "retries", "failed", "due", "oldest_pending_seconds",
               "model", "tokens_24h", "cost_24h_usd", "embedded_24h", "jobs_per_second")
LAST_RUN_ROWS = ("finished_at", "seconds", "claimed", "embedded", "failed", "retried", "released",
                 "tokens", "estimated_cost_usd", "truncated_job_ids")


def format_status(data: dict[str, Any]) -> str:
    """The status JSON as a readable two-column table."""
    rows = [(k, data.get(k)) for k in STATUS_ROWS if k in data]
    last = data.get("last_run") or {}
    rows += [(f"last run {k}", last.get(k)) for k in LAST_RUN_ROWS if k in last]
    rows += [(f"batch {b.get('id')}", f"{b.get('state')} ({b.get('provider_status') or '-'}), "
              f"{b.get('entries')} entries, {b.get('age_seconds')} s old, "
              f"estimated ${float(b.get('estimated_cost_usd') or 0):.6f}")
             for b in data.get("batches") or []]
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
            f"{report.seconds:.1f}s, {report.remaining} pending"
            + (f"; {report.search_index}" if report.search_index else "")
            + (f"; {report.batches}" if report.batches else ""))


def backfill_batches(db: Database, settings: Settings) -> int:
    """Send the due backlog as Batch API batches; print each one's id, entries and cost."""
    from autoembed.batch_api import submit
    from autoembed.embedders import create_embedder, model_mismatch
    from autoembed.embedders.openai import OpenAIEmbedder

    embedder = create_embedder(settings)
    if not isinstance(embedder, OpenAIEmbedder):
        return fail(2, "the Batch API is OpenAI's: set EMBEDDING_PROVIDER=openai")
    if mismatch := model_mismatch(db.active_model(), embedder):
        return fail(2, f"nothing sent: {mismatch}")
    try:
        sent = submit(db, settings, embedder)
    except EmbeddingError as exc:  # the batch being prepared was given back
        return fail(1, f"nothing sent: {exc}")
    for s in sent:
        print(f"batch {s.batch} ({s.provider_batch_id}): {s.entries} entries in {s.requests} requests, "
              f"~{s.tokens} tokens, estimated ${s.batch_cost_usd:.6f} "
              f"(online ${s.online_cost_usd:.6f})")
    if not sent:
        print("nothing due to send")
    return 0


def batches(db: Database, settings: Settings, action: str, batch_id: int | None) -> int:
    """List the batches in flight, or cancel one and give its entries back."""
    open_batches = db.open_batches()
    if action == "list":
        for b in open_batches:
            print(f"batch {b['id']} ({b['provider_batch_id'] or '-'}): {b['state']}, provider "
                  f"{b['provider_status'] or '-'}, {b['entries']} entries, {b['requests']} requests, "
                  f"{b['age_seconds']} s old, estimated ${float(b['estimated_cost_usd'] or 0):.6f}")
        if not open_batches:
            print("no batches in flight")
        return 0
    chosen = next((b for b in open_batches if b["id"] == batch_id), None)
    if chosen is None:
        return fail(2, f"no batch {batch_id} in flight: see `autoembed batches`")
    if chosen["provider_batch_id"]:
        from autoembed.batch_api import cancel
        from autoembed.embedders import create_embedder
        from autoembed.embedders.openai import OpenAIEmbedder

        embedder = create_embedder(settings)
        if isinstance(embedder, OpenAIEmbedder) and (why := cancel(embedder, chosen["provider_batch_id"])):
            # The entries go back to work all the same; the provider may still
            # run (and bill) the batch, whose answers nothing will read.
            print(f"autoembed: the provider did not confirm the cancel ({why})", file=sys.stderr)
    back = db.finish_batch(int(chosen["id"]), None, "cancelled", None, None, "cancelled by the operator")
    print(f"batch {chosen['id']} cancelled; {back} entries are due again")
    return 0

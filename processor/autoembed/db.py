"""All of the processor's SQL, in one place (the Batch API's: provider_batches/store.py).

Each call runs in its own short transaction with a local statement timeout,
sent as one pipeline (one round trip), so no claim is held open across an API
call and a dead database answers with an error instead of a hang. Prepared
statements are off (``prepare_threshold=None``) so this works through
Supabase's transaction pooler.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg.types import TypeInfo

from autoembed import redact, vector_array
from autoembed.claimed import ClaimedItem, claimed_items
from autoembed.vector_array import VectorArray

if TYPE_CHECKING:
    from autoembed.vectors import Vectors

log = logging.getLogger(__name__)

REGISTER_MODEL = "select public.register_embedding_model(%s, %s)"
# Every column the claim returns, in ClaimedItem's order: a 0.6.0 schema's claim has no source
# and source_key (a processor is deployed before `supabase db push`), and ClaimedItem's defaults fill them.
CLAIM = "select * from public.claim_embedding_batch(%s, make_interval(secs => %s))"
CLAIM_AFTER = "select * from public.claim_embedding_batch(%s, make_interval(secs => %s), %s)"
COMPLETE = ("select queue_id, outcome from public.complete_embedding_batch("
            "%b::bigint[], %b::uuid[], %b::bytea[], %b::extensions.vector[], %b)")
FAIL = ("select queue_id, outcome from public.fail_embedding_batch("
        "%s::bigint[], %s::uuid[], %s::text[], %s::boolean[], %s)")
RELEASE = "select public.release_embedding_batch(%s::bigint[], %s::uuid[])"
FORGET = "select public.forget_embeddings_without_text(%s::bigint[], %s::uuid[])"
STATUS = "select public.embedding_queue_status()"
RETRY_FAILED = "select public.retry_failed_embeddings(%s::bigint[])"
ENQUEUE_MISSING = "select public.enqueue_missing_embeddings(%s)"
ACTIVATE_MODEL = "select public.activate_embedding_model(%s, %s)"
ACTIVE_MODEL = "select model, dimensions from public.embedding_models where is_active"
REMAINING = "select count(*) from public.embedding_queue where processed_at is null"
HAS_DUE = "select exists (select from public.embedding_entries_due)"
DUE_COUNT = "select count(*) from public.embedding_entries_due"
# Keys inserted into declared sources since the last claim (embedding_intake) are open and due.
_PLUS_INTAKE = "select (%s) + (select coalesce(sum(pending), 0) from public.embedding_intake_pending())"
INTAKE = {REMAINING: _PLUS_INTAKE, DUE_COUNT: _PLUS_INTAKE,
          HAS_DUE: "select public.require_embedding_row_access() and ((%s) "  # a role RLS hides all from
                   "or exists (select from public.embedding_intake))"}
SET_SECRET = "select public.set_embedding_secret(%s, %s)"  # noqa: S105 (SQL, not a secret)
SET_SCHEDULE = "select public.set_embedding_schedule(%s, %s)"
RECORD_RUN = """
insert into public.embedding_runs (started_at, model, claimed, embedded, failed, retried, released,
  stale, tokens, requests, provider_retries, truncated_job_ids, estimated_cost_usd, skipped_current,
  lost, setup_error)
values (%(started_at)s, %(model)s, %(claimed)s, %(embedded)s, %(failed)s, %(retried)s, %(released)s,
  %(stale)s, %(tokens)s, %(requests)s, %(provider_retries)s, %(truncated_job_ids)s,
  %(estimated_cost_usd)s, %(skipped_current)s, %(lost)s, %(setup_error)s)
"""

# Deadlocks and serialization failures are safe to repeat: every call is one
# idempotent, state-checked transaction.
_TRANSIENT = (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure)


class Database:
    """One connection; calls are short, committed transactions."""

    def __init__(self, url: str, *, statement_timeout_ms: int = 30_000,
                 connect_timeout: int = 10) -> None:
        # Keepalives notice a database that vanished without closing the socket.
        self._conn: psycopg.Connection[Any] = psycopg.connect(
            url, autocommit=True, prepare_threshold=None, connect_timeout=connect_timeout,
            keepalives=1, keepalives_idle=30, keepalives_interval=10, keepalives_count=3,
        )
        self._timeout = str(statement_timeout_ms)
        self._vector_type = False
        self._claims_after = True
        self._intake = True

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = (), *,
              binary: bool = False, flush: bool = True) -> list[Any]:
        """Run ``sql`` in a transaction of its own, in one round trip.

        The timeout and the statement go out together as one pipeline, one transaction
        committed at its sync or rolled back on an error (which comes back with its own type):
        a processor far from its database waits for one round trip per call instead of four
        (BEGIN, the timeout, the statement, COMMIT). ``flush=False``: no wait for the disk.
        """
        for attempt in range(3):
            try:
                with self._conn.pipeline():
                    self._conn.execute("select set_config('statement_timeout', %s, true)", (self._timeout,))
                    if not flush:
                        self._conn.execute("select set_config('synchronous_commit', 'off', true)")
                    cur = self._conn.cursor(binary=binary)
                    cur.execute(sql, params)
                return cur.fetchall() if cur.description else []
            except _TRANSIENT as exc:
                if attempt == 2:
                    raise
                log.info("retrying after %s", type(exc).__name__)
        raise AssertionError("unreachable")

    def register_model(self, model: str, dimensions: int) -> bool:
        """Record a model the provider answered for; True when it is the active one
        (the first model of a database becomes active; a later one does not)."""
        return bool(self._call(REGISTER_MODEL, (model, dimensions))[0][0])

    def activate_model(self, model: str, dimensions: int) -> bool:
        """Switch the active model on purpose; True when that changed anything."""
        return bool(self._call(ACTIVATE_MODEL, (model, dimensions))[0][0])

    def active_model(self) -> tuple[str, int] | None:
        """The active model and its dimensions, or None on a database with none yet."""
        rows = self._call(ACTIVE_MODEL)
        return (str(rows[0][0]), int(rows[0][1])) if rows else None

    def claim(self, batch_size: int, lease_seconds: float,
              after: int | None = None) -> list[ClaimedItem]:
        """Lease up to ``batch_size`` due entries, oldest first.

        ``after``, the largest queue id of this caller's previous claim, starts
        the scan after that entry, past the ones this caller already leased. A
        schema before 0.6.0 has no such argument: the claim scans from the
        oldest due entry, as it did there.
        """
        # Leases only: the commit need not wait for the disk (4-10 ms a claim on the bench's). A
        # crash loses at most the last moments' leases: claimable again, their completes `lost`.
        if after is not None and self._claims_after:
            try:
                rows = self._call(CLAIM_AFTER, (batch_size, lease_seconds, after), flush=False)
                return claimed_items(rows)
            except psycopg.errors.UndefinedFunction:
                self._claims_after = False
        rows = self._call(CLAIM, (batch_size, lease_seconds), flush=False)
        return claimed_items(rows)

    def complete(self, items: Sequence[ClaimedItem], vectors: Vectors,
                 model: str) -> dict[int, str]:
        """Write vectors (row i for items[i]) in binary, one statement; each entry's outcome
        (embedded; stale: released for its new text or its writer's commit; failed; lost)."""
        if not self._vector_type:
            # The `vector` type is looked up with the first vector a
            # connection writes: a run with nothing due never needs it.
            info = TypeInfo.fetch(self._conn, "vector")
            if info is None:
                raise psycopg.errors.UndefinedObject("type vector does not exist: is pgvector installed?")
            vector_array.register(self._conn, info.oid, info.array_oid)
            self._vector_type = True
        rows = self._call(COMPLETE, (
            [i.queue_id for i in items],
            [i.lease_token for i in items],
            [i.content_hash for i in items],
            VectorArray(vectors),  # one binary vector[], laid out in one pass
            model,
        ), binary=True)
        outcomes = {int(qid): str(outcome) for qid, outcome in rows}
        if busy := [i for i in items if outcomes.get(i.queue_id) == "busy"]:
            # Rows (and entries) a writer held: the complete gave way rather than wait in a
            # possible deadlock with it. Released now, in a transaction holding nothing else (it
            # may wait for the writer, never deadlock with it), for a claim of what it commits.
            released = self.release(busy)
            for n, item in enumerate(busy):
                outcomes[item.queue_id] = "stale" if n < released else "lost"
        return outcomes

    def fail(self, items: Sequence[ClaimedItem], errors: Sequence[str],
             permanent: Sequence[bool], max_attempts: int) -> dict[int, str]:
        rows = self._call(FAIL, (
            [i.queue_id for i in items], [i.lease_token for i in items],
            [redact.text(e) for e in errors], list(permanent), max_attempts,
        ))
        return {int(qid): str(outcome) for qid, outcome in rows}

    def forget_without_text(self, items: Sequence[ClaimedItem]) -> int:
        """Drop the vectors of these entries' rows, whose text shows nothing (none before 0.7.0)."""
        try:
            rows = self._call(FORGET, ([i.queue_id for i in items], [i.lease_token for i in items]))
            return int(rows[0][0])
        except psycopg.errors.UndefinedFunction:
            return 0

    def release(self, items: Sequence[ClaimedItem]) -> int:
        rows = self._call(RELEASE, ([i.queue_id for i in items], [i.lease_token for i in items]))
        return int(rows[0][0])

    def status(self) -> dict[str, Any]:
        return dict(self._call(STATUS)[0][0])

    def retry_failed(self, job_ids: Sequence[int] | None = None) -> int:
        return int(self._call(RETRY_FAILED, (list(job_ids) if job_ids else None,))[0][0])

    def record_run(self, started_at: datetime, model: str, report: Mapping[str, Any]) -> None:
        """Keep one row of accounting for a run that claimed anything."""
        texts = {k: redact.text(str(report[k])) for k in ("setup_error",) if report.get(k)}
        self._call(RECORD_RUN, {**report, **texts, "started_at": started_at, "model": model})

    def stream(self, sql: str, params: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
        """Stream a long answer (a backlog's texts) through a server-side cursor."""
        with self._conn.transaction(), self._conn.cursor(name="autoembed_stream") as cur:
            # A whole backlog may take a while to stream, but never forever.
            self._conn.execute("select set_config('statement_timeout', %s, true)",
                               (str(int(self._timeout) * 10),))
            cur.itersize = 2000
            cur.execute(sql, params)
            yield from cur

    def set_secret(self, name: str, value: str) -> None:
        """Create or update one of autoembed's Vault secrets."""
        self._call(SET_SECRET, (name, value))

    def set_schedule(self, active: bool | None, schedule: str | None) -> dict[str, Any]:
        """Pause, resume or reschedule the dispatch's pg_cron job; the job as it is now."""
        return dict(self._call(SET_SCHEDULE, (active, schedule))[0][0])

    def _queue_count(self, sql: str) -> Any:
        """``sql`` over the queue, with the intake's keys where the schema has an intake."""
        if self._intake:
            try:
                return self._call(INTAKE[sql] % sql)[0][0]
            except (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedFunction):
                self._intake = False  # a schema before 0.7.0
        return self._call(sql)[0][0]

    def has_due(self) -> bool:
        """Whether any entry is due now (one index probe)."""
        return bool(self._queue_count(HAS_DUE))

    def due_count(self) -> int:
        return int(self._queue_count(DUE_COUNT))

    def remaining(self) -> int:
        """Open entries left: a cheap count for the end of a run."""
        return int(self._queue_count(REMAINING))

    def enqueue_missing(self, include_failed: bool = False) -> int:
        return int(self._call(ENQUEUE_MISSING, (include_failed,))[0][0])

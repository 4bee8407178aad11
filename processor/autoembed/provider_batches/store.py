"""The SQL of Batch API jobs ("provider batches"), on a ``db.Database``'s connection.

A provider batch is a file of requests the provider runs within 24 hours;
its entries are queue entries leased for that window (``reserve``), each
placed at a request (its ``custom_id``) and a position. Online claims and
requests are db.py's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from autoembed import redact
from autoembed.claimed import ClaimedItem
from autoembed.db import Database

RESERVE = ("select batch_id, queue_id, job_id, lease_token, content, content_hash "
           "from public.reserve_embedding_batch(%s::integer, %s)")
RESERVE_SOURCE = RESERVE.replace("%s)", "%s, %s)")  # one source's entries alone (from 0.7.0)
# Each entry's source and key (they never change) name it in logs: `postings 3f2a...`.
# Read after the reserve, in a transaction of its own: the reserve's claim turns the keys
# inserted into a source since the last claim into entries, which a join in the reserve's
# own statement cannot see (its snapshot is older). Joined there, every such entry was
# reserved into the batch, sent in no request, and held for 25 hours.
SOURCES = "select id, source, source_key from public.embedding_queue where id = any(%s::bigint[])"
PLACE = "select public.place_embedding_batch(%s::bigint, %s::bigint[], %s::integer[], %s::integer[])"
SUBMIT = ("select public.submit_embedding_batch(%s::bigint, %s, %s, %s::integer[], %s::bigint, "
          "%s::numeric)")
LEAVE = "select public.leave_embedding_batch(%s::bigint, %s::bigint[])"
TAKE = """
select id, provider_batch_id, check_token, model, entries, request_sizes, input_file_id, tokens is not null
from public.take_embedding_batches(make_interval(secs => %s))
"""
ENTRIES = """
select queue_id, lease_token, content_hash, request, request_position
from public.embedding_batch_entries(%s::bigint)
"""
TEXTS = """
select t.queue_id, t.job_id, t.content, q.source, q.source_key
from public.embedding_batch_texts(%s::bigint, %s::bigint[]) as t
join public.embedding_queue as q on q.id = t.queue_id
"""
NOTE = "select public.note_embedding_batch(%s::bigint, %s::uuid, %s)"
HELD = "select queue_id, reason from public.embedding_batch_held_entries(%s::bigint)"
NOTE_UNREADABLE = "select public.note_unreadable_embedding_batch(%s::bigint, %s::uuid, %s)"
FINISH = "select public.finish_embedding_batch(%s::bigint, %s::uuid, %s, %s::bigint, %s::integer, %s)"
COUNT_PART = "select * from public.count_embedding_batch_part(%s::bigint, %s::uuid, %s::bigint, %s, %s)"
OPEN = """
select id, provider_batch_id, state, provider_status, entries, requests, estimated_cost_usd,
  extract(epoch from now() - created_at)::integer
from public.embedding_batches where state in ('preparing', 'submitted') order by id
"""
# A batch left preparing this long may be at the provider unrecorded (recover.py looks).
STRANDED_AFTER = "30 minutes"
# Batches to carry forward: at the provider, left preparing (perhaps at the provider), or
# abandoned while being prepared (take_embedding_batches gives their entries back).
HAS_SUBMITTED = f"""
select exists (
  select from public.embedding_batches
  where state = 'submitted' or (state = 'preparing' and created_at < now() - interval '{STRANDED_AFTER}')
)
"""


@dataclass(frozen=True)
class BatchEntry:
    """An open entry of a provider batch, and where its text went in the input file."""

    queue_id: int
    lease_token: Any
    content_hash: bytes
    request: int
    position: int

    def as_claimed(self, job_id: int | None = 0, content: str = "", source: str = "jobs",
                   source_key: str | None = None, *, resent: bool = False) -> ClaimedItem:
        """The entry as an online claim's item: its lease and hash are what writes check. Sent
        again online (``resent``), its hash is the text's it is sent with, which a declaration
        since may have changed (found by a probe: the old hash made its vector stale)."""
        digest = hashlib.sha256(content.encode()).digest() if resent else self.content_hash
        return ClaimedItem(self.queue_id, job_id, self.lease_token, 0, content, digest,
                           source=source, source_key=source_key)


@dataclass(frozen=True)
class TakenBatch:
    """A submitted provider batch this process checks now (``check_token`` proves it)."""

    id: int
    provider_batch_id: str
    check_token: Any
    model: str
    entries: int
    request_sizes: list[int]
    input_file_id: str | None = None
    counted: bool = False  # a part written before counted every request's tokens


class ProviderBatchStore:
    """Provider batches' rows and entries; each call is one short transaction of ``db``'s."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def _call(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return self.db._call(sql, params)  # db.py's one-round-trip transaction

    def reserve(self, max_entries: int, model: str,
                source: str | None = None) -> tuple[int | None, list[ClaimedItem]]:
        """A new batch of up to ``max_entries`` due entries (of ``source`` only, if given), leased
        for its 24-hour window."""
        rows = (self._call(RESERVE_SOURCE, (max_entries, model, source)) if source is not None
                else self._call(RESERVE, (max_entries, model)))
        if not rows:
            return None, []
        named = {int(qid): (str(source), key) for qid, source, key
                 in self._call(SOURCES, ([row[1] for row in rows],))}
        # An entry gone meanwhile (its row deleted) keeps its job's name; its write finds it lost.
        return int(rows[0][0]), [ClaimedItem(qid, job, token, 0, content, digest, False,
                                             *named.get(qid, ("jobs", None)))
                                 for _, qid, job, token, content, digest in rows]

    def place(self, batch: int, placements: Sequence[tuple[int, int, int]]) -> int:
        """Record (queue_id, request, position) of each entry's text in the input file."""
        ids, requests, positions = (list(col) for col in zip(*placements, strict=True))
        return int(self._call(PLACE, (batch, ids, requests, positions))[0][0])

    def leave(self, batch: int, queue_ids: Sequence[int]) -> int:
        """Take entries out of a batch being prepared: due again at once."""
        return int(self._call(LEAVE, (batch, list(queue_ids)))[0][0])

    def submit(self, batch: int, provider_batch_id: str, input_file_id: str,
               request_sizes: Sequence[int], tokens: int, cost: float) -> bool:
        """The batch is at the provider; False when it was given back meanwhile."""
        rows = self._call(SUBMIT, (batch, provider_batch_id, input_file_id, list(request_sizes),
                                   tokens, cost))
        return bool(rows and rows[0][0])

    def take(self, lease_seconds: float) -> list[TakenBatch]:
        """Lease every submitted batch nobody is checking, for ``lease_seconds``."""
        return [TakenBatch(*row) for row in self._call(TAKE, (lease_seconds,))]

    def entries(self, batch: int) -> list[BatchEntry]:
        """The entries still in the batch, by request and position."""
        return [BatchEntry(*row) for row in self._call(ENTRIES, (batch,))]

    def texts(self, batch: int, queue_ids: Sequence[int]
              ) -> dict[int, tuple[int | None, str, str, str | None]]:
        """(job_id, text, source, key) of entries of any source still in the batch, to send again online."""
        return {int(q): (job, str(text), str(source), key)
                for q, job, text, source, key in self._call(TEXTS, (batch, list(queue_ids)))}

    def held(self, batch: int) -> dict[int, str]:
        """The batch's entries whose source cannot take vectors now (it is blocked), each with why."""
        return {int(queue_id): str(reason) for queue_id, reason in self._call(HELD, (batch,))}

    def note(self, batch: TakenBatch, status: str | None) -> None:
        """Still running (or not reached): note the provider's status, end the check."""
        self._call(NOTE, (batch.id, batch.check_token, status))

    def count_part(self, batch: int, token: Any, tokens: int, embedded: int,
                   failed: int) -> tuple[int, int] | None:
        """Add one written part's tokens, embedded and failed rows to the batch's row; its tokens and
        embedded so far (None: not held by this check, or a schema before 0.7.0)."""
        try:
            rows = self._call(COUNT_PART, (batch, token, tokens, embedded, failed))
        except psycopg.errors.UndefinedFunction:
            return None
        return (int(rows[0][0]), int(rows[0][1])) if rows else None

    def note_unreadable(self, batch: TakenBatch, why: str) -> int:
        """Count one unreadable read of the batch's results (the check goes on); the count."""
        rows = self._call(NOTE_UNREADABLE, (batch.id, batch.check_token, redact.text(why)))
        return int(rows[0][0] or 0) if rows else 0

    def finish(self, batch: int, token: Any, status: str | None, tokens: int | None,
               embedded: int | None, why: str | None) -> int:
        """Close a batch; its unfinished entries go back with no attempt. Returns how many.
        No counts given (cancelled, ended unread): the parts written before keep theirs."""
        if tokens is None and embedded is None:
            tokens, embedded = self.count_part(batch, token, 0, 0, 0) or (None, None)
        return int(self._call(FINISH, (batch, token, status, tokens, embedded,
                                       redact.text(why) if why else None))[0][0])

    def open_batches(self) -> list[dict[str, Any]]:
        """The batches preparing or at the provider, oldest first."""
        keys = ("id", "provider_batch_id", "state", "provider_status", "entries", "requests",
                "estimated_cost_usd", "age_seconds")
        return [dict(zip(keys, row, strict=True)) for row in self._call(OPEN)]

    def has_submitted(self) -> bool:
        """Batches at the provider (False on a schema from before the Batch API).

        One query: every run asks this first, a cron tick on an empty queue too."""
        import psycopg

        try:
            return bool(self._call(HAS_SUBMITTED)[0][0])
        except psycopg.errors.UndefinedTable:  # its transaction is rolled back; the connection is fine
            return False

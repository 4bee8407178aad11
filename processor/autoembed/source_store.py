"""The SQL of the CLI's per-source commands: the declared sources, each one's status, failures,
retries and backlog, and the rows a text change would queue.

Beside ``db`` (the queue's calls): every call goes through its one-round-trip
transaction, or its server-side cursor for a backlog's texts.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

import psycopg

from autoembed.db import Database
from autoembed.errors import ConfigError

SOURCES = "select name from public.embedding_sources order by name"
SOURCE_STATUS = "select to_jsonb(s) from public.embedding_source_status() as s where s.source = %s"
BACKLOG = "select source_key, content, error from public.embedding_source_backlog(%s, %s)"
CHANGE_ROWS = """
select source_key, content, error, reason
from public.embedding_source_change_rows(%s, %s::jsonb, %s, %s)
"""
FAILURES = """
select source, source_key, title, error_message, attempts, failed_at
from public.embedding_source_failures(%s, %s, %s)
"""
RETRY_FAILED = "select public.retry_failed_source_embeddings(%s, %s::text[])"
# The table's columns, those the text and live_when read first, each group in the table's order.
COLUMNS = """
select coalesce(pg_catalog.array_agg(a.attname::text order by not a.attname = any(s.read_columns), a.attnum),
  '{}')
from public.embedding_sources as s
join pg_catalog.pg_attribute as a on a.attrelid = s.relid and a.attnum > 0 and not a.attisdropped
where s.name = %s
"""
ENQUEUE = "select public.enqueue_embedding_source(%s, %s)"
KEPT_MODEL = "select public.register_kept_embedding_model(%s, %s)"


def register_kept_model(db: Database, model: str, dimensions: int) -> bool:
    """Register ``model`` where none is active and a source keeps vectors of it (through a
    reinstall, or a table adopted with its vectors): the claims then close the rows whose
    vector is current, unsent. Whether it is the active model now (a schema before 0.7.0: no)."""
    try:
        return bool(db._call(KEPT_MODEL, (model, dimensions))[0][0])
    except (psycopg.errors.UndefinedFunction, psycopg.errors.QueryCanceled):
        return False  # never a reason not to claim: the first answer registers the model as before


class SourceStore:
    """The per-source calls, each in ``db``'s short transaction."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def names(self) -> list[str]:
        """The declared sources, by name (``jobs`` among them)."""
        return [str(row[0]) for row in self.db._call(SOURCES)]

    def check(self, source: str | None) -> str | None:
        """``source`` if declared (None: every source); else a one-line error naming the declared ones."""
        if source is None:
            return None
        names = self.names()
        if source not in names:
            raise ConfigError(f"no source {source!r}; the declared sources are {', '.join(names)}")
        return source

    def columns(self, source: str) -> list[str]:
        """The source's table's columns as a person reads its rows: what its text reads first."""
        rows = self.db._call(COLUMNS, (source,))
        return list(rows[0][0]) if rows else []

    def status(self, source: str) -> dict[str, Any]:
        """One source's row of embedding_source_status (health, pending, processing, failed, embedded)."""
        rows = self.db._call(SOURCE_STATUS, (source,))
        return dict(rows[0][0]) if rows else {}

    def backlog(self, source: str, for_model: str | None = None) -> Iterator[tuple[Any, ...]]:
        """Stream (key, text, error) of a source's waiting rows, or of those ``for_model`` would embed
        (error: its text raises, and it is failed, never sent)."""
        return self.db.stream(BACKLOG, (source, for_model))

    def change_rows(self, source: str, *, text_columns: Any = None, text_expression: str | None = None,
                    live_when: str | None = None) -> Iterator[tuple[Any, ...]]:
        """Stream (key, new text, error, reason) of the rows declaring this change would queue."""
        columns = json.dumps(text_columns) if text_columns is not None else None
        return self.db.stream(CHANGE_ROWS, (source, columns, text_expression, live_when))

    def failures(self, source: str | None, reason: str | None, limit: int) -> list[dict[str, Any]]:
        """Rows (of one source, or all) whose latest entry failed for good, newest first."""
        keys = ("source", "source_key", "title", "error_message", "attempts", "failed_at")
        rows = [dict(zip(keys, row, strict=True)) for row in self.db._call(FAILURES, (source, reason, limit))]
        for row in rows:  # a job is still named by its job_id, as before sources
            row["job_id"] = int(row["source_key"]) if row["source"] == "jobs" else None
        return rows

    def retry_failed(self, source: str, keys: Sequence[str] | None = None) -> int:
        """Reopen one source's failed-for-good entries (all, or those of ``keys``); how many."""
        return int(self.db._call(RETRY_FAILED, (source, list(keys) if keys else None))[0][0])

    def enqueue(self, source: str, include_failed: bool = False) -> int:
        """Backfill one source: queue its live rows without a current vector of the active model."""
        return int(self.db._call(ENQUEUE, (source, include_failed))[0][0])

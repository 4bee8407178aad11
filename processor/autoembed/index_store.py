"""The search index's SQL: its state, its DDL, and a connection for DDL that refuses transactions.

Beside ``db`` (the queue's SQL) and ``provider_batches.store`` (the Batch API's):
search_index.py decides when to drop and build the index; this module only asks.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
from psycopg import sql

from autoembed import redact
from autoembed.db import Database

log = logging.getLogger(__name__)

INDEX_STATE = "select public.embedding_index_state(%s)"
INDEX_DDL = "select public.embedding_index_ddl(%s, %s, true)"
COUNT_EMBEDDED = "select count(*) from public.jobs where embedding_model = %s"


class IndexStore:
    """The index calls, each in ``db``'s one-round-trip transaction."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def state(self, model: str) -> dict[str, Any] | None:
        """The model's HNSW index and the entries due (public.embedding_index_state)."""
        state = self.db._call(INDEX_STATE, (model,))[0][0]
        return dict(state) if state else None

    def count_embedded(self, model: str) -> int:
        """Jobs holding a vector of ``model`` (one scan of jobs)."""
        return int(self.db._call(COUNT_EMBEDDED, (model,))[0][0])

    def ddl(self, model: str, dimensions: int) -> str | None:
        """CREATE INDEX CONCURRENTLY for the model's index (embedding_index_ddl)."""
        ddl = self.db._call(INDEX_DDL, (model, dimensions))[0][0]
        return str(ddl) if ddl else None


def run_ddl(url: str, statements: Sequence[sql.SQL | sql.Composed],
            settings: Mapping[str, str]) -> None:
    """Statements that refuse a transaction block (``... CONCURRENTLY``), on a connection
    of their own whose ``settings`` are startup options: they end with it and never
    reach a pooled connection another client uses next. Through a transaction
    pooler that ignores startup options the server's defaults apply instead."""
    options = " ".join(f"-c {name}={value}" for name, value in settings.items())
    try:
        conn = psycopg.connect(url, autocommit=True, prepare_threshold=None, connect_timeout=10,
                               options=options)
    except psycopg.OperationalError as exc:  # a pooler that refuses startup options
        log.info("connecting without %s (%s); the server's defaults apply", options, redact.error(exc))
        conn = psycopg.connect(url, autocommit=True, prepare_threshold=None, connect_timeout=10)
    with conn:
        for statement in statements:
            conn.execute(statement)

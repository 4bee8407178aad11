"""The search indexes' SQL: their state, their DDL, and a connection for DDL that refuses transactions.

Beside ``db`` (the queue's SQL) and ``provider_batches.store`` (the Batch API's):
search_index.py decides when to drop and build an index; this module only asks.
Every source has its own HNSW index of a model, where its vectors are
(20261204001250_source_indexes.sql names and defines it; jobs' is 0.3.0's).
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

INDEX_STATES = "select public.embedding_index_states(%s)"
INDEX_DDL = "select public.embedding_source_index_ddl(%s, %s, %s, true)"
COUNT_EMBEDDED = "select public.embedding_source_vector_count(%s, %s)"


class IndexStore:
    """The index calls, each in ``db``'s one-round-trip transaction."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def states(self, model: str) -> list[dict[str, Any]]:
        """Each source's HNSW index of ``model`` and that source's entries
        (public.embedding_source_index_state), jobs included."""
        states = self.db._call(INDEX_STATES, (model,))[0][0]
        return [dict(state) for state in states or ()]

    def count_embedded(self, source: str, model: str) -> int:
        """Rows of ``source`` holding a vector of ``model`` (one scan of where its vectors are)."""
        return int(self.db._call(COUNT_EMBEDDED, (source, model))[0][0] or 0)

    def ddl(self, source: str, model: str, dimensions: int) -> str | None:
        """CREATE INDEX CONCURRENTLY for the source's index (embedding_source_index_ddl)."""
        ddl = self.db._call(INDEX_DDL, (source, model, dimensions))[0][0]
        return str(ddl) if ddl else None


def drop_statement(state: Mapping[str, Any]) -> sql.Composed:
    """DROP INDEX CONCURRENTLY of the index a state names, in its table's schema."""
    return sql.SQL("drop index concurrently if exists {}").format(
        sql.Identifier(str(state["schema"]), str(state["index"])))


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

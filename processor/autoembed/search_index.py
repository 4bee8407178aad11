"""Index-aware backfills: a large backlog is written without the model's HNSW
index, which is then built once, concurrently, when the backlog is done.

Inserting a vector into an HNSW graph costs a search of the graph, and the
graph grows as the backlog is written: 20,000 rows inserted one by one took
several times longer than building the index over the same rows at the end
(docs/benchmarks.md). So before a backlog at least as large as what the model
has already embedded (and at least ``DEFER_MIN_BACKLOG``), the run drops the
index with DROP INDEX CONCURRENTLY, and a run that finds nothing due and
nothing leased, and the index missing, builds it with CREATE INDEX
CONCURRENTLY: writers of jobs are never blocked. Meanwhile ``match_jobs``
answers from an exact scan: slower, never wrong. Only runs that may take
minutes do this (``autoembed process``; ``autoembed serve`` builds in a thread
of its own, so drains go on meanwhile), only with the table owner's rights,
and never at the cost of a run: whatever goes wrong here is logged and the
next run tries again. ``EMBEDDING_DEFER_INDEX=false`` turns it off.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql

from autoembed import redact
from autoembed.config import Settings
from autoembed.db import Database
from autoembed.index_store import IndexStore, run_ddl

log = logging.getLogger(__name__)

# Below this many open entries the index is kept: inserting them costs less
# than dropping and building it again.
DEFER_MIN_BACKLOG = 2_000
# After a failed build, runs of this process leave the index alone this long.
BUILD_BACKOFF_SECONDS = 600.0

_building = threading.Lock()
_failed_at: float | None = None


def defer_for_backlog(db: Database, settings: Settings, model: str) -> str | None:
    """Drop the model's index before a large backlog; what was done, or None."""
    if not settings.defer_index:
        return None
    try:
        state = IndexStore(db).state(model)
        if (state is None or not state["is_active"] or state["state"] != "present"
                or not state["can_build"] or state["open"] < DEFER_MIN_BACKLOG):
            return None
        embedded = IndexStore(db).count_embedded(model)
        if state["open"] < embedded:
            return None
        run_ddl(settings.database_url, [_drop(state["index"])],
                {"lock_timeout": "10s", "statement_timeout": "120s"})
    except psycopg.Error as exc:  # keep the index, insert row by row
        log.warning("kept the search index: %s", redact.error(exc))
        return None
    note = (f"search index {state['index']} dropped for a backlog of {state['open']} "
            f"({embedded} embedded); it is built again once the backlog is done")
    log.info(note)
    return note


def build_when_drained(db: Database, settings: Settings, model: str, *,
                       background: bool = False,
                       clock: Callable[[], float] = time.monotonic) -> str | None:
    """Build the model's missing (or invalid) index once nothing is due or leased;
    what was done, or None. ``background``: in a thread of its own."""
    if not settings.defer_index or not _building.acquire(blocking=False):
        return None
    started_thread = False
    try:
        if _failed_at is not None and clock() - _failed_at < BUILD_BACKOFF_SECONDS:
            return None
        state = IndexStore(db).state(model)
        if (state is None or not state["is_active"] or state["state"] not in ("absent", "invalid")
                or state["due"] > 0 or state["leased"] > 0):
            return None
        if not state["can_build"]:
            note = (f"search index {state['index']} is {state['state']}: build it as the owner of "
                    "public.jobs (`autoembed process` with that role's DATABASE_URL)")
            log.warning(note)
            return note
        ddl = IndexStore(db).ddl(model, int(state["dimensions"]))
        if ddl is None:
            return None
        if background:
            threading.Thread(target=_build, args=(settings, state, ddl, clock),
                             name="search-index", daemon=True).start()
            started_thread = True
            return f"search index {state['index']} is being built in the background"
        return _build(settings, state, ddl, clock, locked=True)
    except psycopg.Error as exc:
        log.warning("search index not checked: %s", redact.error(exc))
        return None
    finally:
        if not started_thread:
            _building.release()


def _build(settings: Settings, state: dict[str, Any], ddl: str, clock: Callable[[], float],
           *, locked: bool = False) -> str:
    """CREATE INDEX CONCURRENTLY (an invalid leftover dropped first); releases the build lock."""
    global _failed_at
    statements: list[sql.SQL | sql.Composed] = []
    if state["state"] == "invalid":  # a build that was cut off
        statements.append(_drop(state["index"]))
    statements.append(sql.SQL(ddl))  # built by embedding_index_ddl with %I and %L
    log.info("building search index %s concurrently (maintenance_work_mem %s MB)",
             state["index"], settings.index_build_memory_mb)
    started = clock()
    try:
        run_ddl(settings.database_url, statements,
                {"maintenance_work_mem": f"{settings.index_build_memory_mb}MB",
                 "statement_timeout": "0"})
    except psycopg.Error as exc:  # another run's build won the race, or it was cut off
        _failed_at = clock()
        note = f"search index {state['index']} not built: {redact.error(exc)}; a later run tries again"
        log.warning(note)
        return note
    finally:
        if not locked:
            _building.release()
    note = f"search index {state['index']} built in {clock() - started:.1f}s"
    log.info(note)
    return note


def _drop(name: str) -> sql.Composed:
    return sql.SQL("drop index concurrently if exists public.{}").format(sql.Identifier(name))

"""Index-aware backfills: a large backlog of a source is written without that
source's HNSW index of the model, which is then built once, concurrently, when
that source's backlog is done.

Inserting a vector into an HNSW graph costs a search of the graph, and the
graph grows as the backlog is written: 20,000 rows inserted one by one took
several times longer than building the index over the same rows at the end
(docs/benchmarks.md). So before a backlog of a source at least as large as what
the model has already embedded of that source (and at least
``DEFER_MIN_BACKLOG``), the run drops that source's index with DROP INDEX
CONCURRENTLY, and a run that finds nothing of that source due and nothing
leased, and its index missing (or invalid), builds it with CREATE INDEX
CONCURRENTLY: writers of the table are never blocked. Each source is weighed
on its own entries, so one source's backfill leaves the others' indexes
alone. Meanwhile its search (``match_jobs``, ``match_embedding_source``)
answers from an exact scan: slower, never wrong. Only runs that may take
minutes do this (``autoembed process`` and ``autoembed serve``, each building in
a thread of its own so drains go on meanwhile), only with the table owner's rights,
and never at the cost of a run: whatever goes wrong here is logged and the
next run tries again. ``EMBEDDING_DEFER_INDEX=false`` turns it off for every
source.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from psycopg import sql

from autoembed import redact
from autoembed.accounting import joined_notes
from autoembed.config import Settings
from autoembed.db import Database
from autoembed.index_store import IndexStore, drop_statement, run_ddl

log = logging.getLogger(__name__)

# Below this many open entries the index is kept: inserting them costs less
# than dropping and building it again.
DEFER_MIN_BACKLOG = 2_000
# After a failed build, runs of this process leave that index alone this long.
BUILD_BACKOFF_SECONDS = 600.0

_building = threading.Lock()
_failed_at: dict[str, float] = {}  # by index name


def defer_for_backlog(db: Database, settings: Settings, model: str) -> str | None:
    """Drop the index of each source with a large backlog; what was done, or None."""
    if not settings.defer_index:
        return None
    try:
        states = IndexStore(db).states(model)
    except psycopg.Error as exc:  # keep the indexes, insert row by row
        log.warning("kept the search indexes: %s", redact.error(exc))
        return None
    return joined_notes(_defer_one(db, settings, state) for state in states)


def _defer_one(db: Database, settings: Settings, state: dict[str, Any]) -> str | None:
    if (not state["is_active"] or state["state"] != "present" or not state["can_build"]
            or state["open"] < DEFER_MIN_BACKLOG):
        return None
    try:
        embedded = IndexStore(db).count_embedded(state["source"], state["model"])
        if state["open"] < embedded:
            return None
        run_ddl(settings.database_url, [drop_statement(state)],
                {"lock_timeout": "10s", "statement_timeout": "120s"})
    except psycopg.Error as exc:  # keep the index, insert row by row
        log.warning("kept the search index %s: %s", state["index"], redact.error(exc))
        return None
    note = (f"search index {state['index']} dropped for a backlog of {state['open']} "
            f"({embedded} embedded); it is built again once the backlog is done")
    log.info(note)
    return note


def build_when_drained(db: Database, settings: Settings, model: str, *,
                       background: bool = False,
                       on_built: Callable[[str], None] | None = None,
                       clock: Callable[[], float] = time.monotonic) -> str | None:
    """Build each source's missing (or invalid) index once nothing of that source
    is due or leased; what was done, or None.

    ``background``: in a thread of its own (``wait_for_builds`` waits for it),
    each build's outcome logged and handed to ``on_built``. Without ``on_built``
    the note says which builds started; with it, the caller reports them."""
    if not settings.defer_index or not _building.acquire(blocking=False):
        return None
    started_thread = False
    try:
        notes: list[str | None] = []
        builds: list[tuple[dict[str, Any], str]] = []
        for state in IndexStore(db).states(model):
            if (not state["is_active"] or state["state"] not in ("absent", "invalid")
                    or state["due"] > 0 or state["leased"] > 0 or _backing_off(state, clock)):
                continue
            if not state["can_build"]:
                notes.append(f"search index {state['index']} is {state['state']}: build it as the "
                             f"owner of {state['table']} (`autoembed process` with that role's "
                             "DATABASE_URL)")
                log.warning(notes[-1])
                continue
            ddl = IndexStore(db).ddl(state["source"], state["model"], int(state["dimensions"]))
            if ddl is not None:
                builds.append((state, ddl))
        if builds and background:
            threading.Thread(target=_build_all, args=(settings, builds, clock, on_built),
                             name="search-index", daemon=True).start()
            started_thread = True
            if on_built is None:
                notes += [f"search index {state['index']} is being built in the background"
                          for state, _ in builds]
        else:
            notes += [_build(settings, state, ddl, clock) for state, ddl in builds]
        return joined_notes(notes)
    except psycopg.Error as exc:
        log.warning("search indexes not checked: %s", redact.error(exc))
        return None
    finally:
        if not started_thread:
            _building.release()


def wait_for_builds(timeout: float) -> bool:
    """Whether no build of this process runs, waiting up to ``timeout`` seconds for one to end."""
    if not _building.acquire(timeout=timeout):
        return False
    _building.release()
    return True


def _build_all(settings: Settings, builds: Sequence[tuple[dict[str, Any], str]],
               clock: Callable[[], float], on_built: Callable[[str], None] | None) -> None:
    """The background thread: each build in turn, then the build lock released."""
    try:
        for state, ddl in builds:
            note = _build(settings, state, ddl, clock)
            if on_built is not None:
                on_built(note)
    finally:
        _building.release()


def _build(settings: Settings, state: dict[str, Any], ddl: str, clock: Callable[[], float]) -> str:
    """CREATE INDEX CONCURRENTLY (an invalid leftover dropped first)."""
    statements: list[sql.SQL | sql.Composed] = []
    if state["state"] == "invalid":  # a build that was cut off
        statements.append(drop_statement(state))
    if state.get("before_build"):  # parallel workers for a vector table (embedding_source_index_state)
        statements.append(sql.SQL(state["before_build"]))
    statements.append(sql.SQL(ddl))  # built by embedding_source_index_ddl with %I and %L
    log.info("building search index %s concurrently (maintenance_work_mem %s MB)",
             state["index"], settings.index_build_memory_mb)
    started = clock()
    try:
        run_ddl(settings.database_url, statements,
                {"maintenance_work_mem": f"{settings.index_build_memory_mb}MB",
                 "statement_timeout": "0"})
    except psycopg.Error as exc:  # another run's build won the race, or it was cut off
        _failed_at[state["index"]] = clock()
        note = f"search index {state['index']} not built: {redact.error(exc)}; a later run tries again"
        log.warning(note)
        return note
    _failed_at.pop(state["index"], None)
    note = f"search index {state['index']} built in {clock() - started:.1f}s"
    log.info(note)
    return note


def _backing_off(state: dict[str, Any], clock: Callable[[], float]) -> bool:
    failed = _failed_at.get(state["index"])
    return failed is not None and clock() - failed < BUILD_BACKOFF_SECONDS

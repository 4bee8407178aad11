"""Index-aware backfills: a large backlog is written without the model's HNSW
index, which is then built once, concurrently, when nothing is due any more.

Inserting a vector into an HNSW graph costs a search of the graph, and the
graph grows as the backlog is written: 20,000 rows inserted one by one took
several times longer than building the index over the same rows at the end
(docs/benchmarks.md). So before a backlog at least as large as what the model
has already embedded (and at least ``DEFER_MIN_BACKLOG``), the run drops the
index with DROP INDEX CONCURRENTLY, and a run that finds nothing due and the
index missing builds it with CREATE INDEX CONCURRENTLY: writers of jobs are
never blocked. Meanwhile ``match_jobs`` answers from an exact scan: slower,
never wrong. Only runs that may take minutes do this (``autoembed process``
and ``autoembed serve``'s background drain), and only with the table owner's
rights; ``EMBEDDING_DEFER_INDEX=false`` turns it off.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import psycopg

from autoembed import redact
from autoembed.config import Settings
from autoembed.db import Database

log = logging.getLogger(__name__)

# Below this many open entries the index is kept: inserting them costs less
# than dropping and building it again.
DEFER_MIN_BACKLOG = 2_000


def defer_for_backlog(db: Database, settings: Settings, model: str) -> str | None:
    """Drop the model's index before a large backlog; what was done, or None."""
    state = db.index_state(model)
    if (not settings.defer_index or state is None or not state["is_active"]
            or state["state"] != "present" or not state["can_build"]
            or state["open"] < DEFER_MIN_BACKLOG):
        return None
    embedded = db.count_embedded(model)
    if state["open"] < embedded:
        return None
    try:
        db.drop_index(state["index"])
    except psycopg.Error as exc:  # a lock it could not get: keep the index, insert row by row
        log.warning("kept search index %s: %s", state["index"], redact.error(exc))
        return None
    note = (f"search index {state['index']} dropped for a backlog of {state['open']} "
            f"({embedded} embedded); it is built again once nothing is due")
    log.info(note)
    return note


def build_when_drained(db: Database, settings: Settings, model: str,
                       clock: Callable[[], float] = time.monotonic) -> str | None:
    """Build the model's missing (or invalid) index once nothing is due; what was done, or None."""
    state = db.index_state(model)
    if (not settings.defer_index or state is None or not state["is_active"]
            or state["state"] not in ("absent", "invalid") or state["due"] > 0):
        return None
    if not state["can_build"]:
        note = (f"search index {state['index']} is {state['state']}: build it as the owner of "
                "public.jobs (`autoembed process` with that role's DATABASE_URL)")
        log.warning(note)
        return note
    log.info("building search index %s concurrently (maintenance_work_mem %s MB)",
             state["index"], settings.index_build_memory_mb)
    started = clock()
    try:
        db.build_index(model, int(state["dimensions"]), settings.index_build_memory_mb,
                       replace_invalid=state["index"] if state["state"] == "invalid" else None)
    except psycopg.Error as exc:  # another run's build won the race, or it was cut off
        note = f"search index {state['index']} not built: {redact.error(exc)}; the next run tries again"
        log.warning(note)
        return note
    note = f"search index {state['index']} built in {clock() - started:.1f}s"
    log.info(note)
    return note

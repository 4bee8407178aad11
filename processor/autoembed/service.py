"""One place that wires a run: its connections, the embedder and the drain.

The CLI, the HTTP handler, estimates and the tests all run drains through
here, so opening a run is written once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import replace
from datetime import UTC, datetime
from typing import Literal

from autoembed import redact
from autoembed.accounting import RunReport, joined_notes
from autoembed.config import Settings
from autoembed.db import Database
from autoembed.drain import drain
from autoembed.embedders import Embedder, check_model, create_embedder
from autoembed.errors import SetupError
from autoembed.provider_batches import before_online, has_open_batches
from autoembed.search_index import build_when_drained, defer_for_backlog, wait_for_builds

log = logging.getLogger(__name__)

IndexUpkeep = Literal["none", "here", "background"]
EmbedderSource = Embedder | Callable[[], Embedder] | None

# While `autoembed process` waits for a search index build, it looks at the
# queue this often and drains what is due, each drain given the rest of the
# run's budget, and at least FOLLOW_UP_SECONDS once that is spent.
WATCH_SECONDS = 0.5
FOLLOW_UP_SECONDS = 5.0


def run_drain(settings: Settings, embedder: EmbedderSource = None, *,
              budget_seconds: float | None = None, stop: threading.Event | None = None,
              on_progress: Callable[[RunReport], None] | None = None,
              index_upkeep: IndexUpkeep = "none") -> RunReport:
    """Drain once: one connection claims, others write (the writer threads').

    With nothing due, no embedder is built (the provider's SDK and tokenizer
    cost most of a cold start) and the run ends at once: a cron tick or a
    serverless cold start on an empty queue costs one query. ``embedder`` may
    be a ready embedder, a function that makes (or returns a cached) one, or None.

    ``index_upkeep``: a run that may take minutes drops the search index
    before a large backlog, and a run that finds the backlog done builds it
    (processor/autoembed/search_index.py) in a thread of its own: ``here``
    (the CLI waits for the build, and drains what arrives meanwhile, so rows
    committed during a build of minutes do not wait for the next run) or
    ``background`` (``serve`` returns, and its next drains go on meanwhile).
    The synchronous paths leave the index alone (``none``).
    """
    if embedder is None:
        check_model(settings)
    budget = budget_seconds or settings.time_budget_seconds
    deadline = time.monotonic() + budget
    if index_upkeep != "here":
        return _run(settings, embedder, budget, stop, on_progress, index_upkeep)
    made: list[Embedder] = []

    def once() -> Embedder:  # one embedder for every drain of this run, made when first due
        if not made:
            made.append(embedder if isinstance(embedder, Embedder)
                        else embedder() if embedder is not None else create_embedder(settings))
        return made[0]

    built: list[str] = []
    first = embedder if isinstance(embedder, Embedder) else once
    report = _run(settings, first, budget, stop, on_progress, "here", on_built=built.append)
    if not wait_for_builds(0):
        _drain_while_building(settings, once, deadline, stop, on_progress, report)
    report.search_index = joined_notes((report.search_index, *built))
    return report


def _drain_while_building(settings: Settings, embedder: Callable[[], Embedder], deadline: float,
                          stop: threading.Event | None,
                          on_progress: Callable[[RunReport], None] | None,
                          report: RunReport) -> None:
    """Until this process's index builds end, drain what is due (another source's
    new rows, edits), then look once more; each drain is added to ``report``, and
    leaves Batch API batches to the next run (the first drain carried them). A
    stop, a drain the provider stopped, or an error ends the draining, never the
    wait: the build is what the CLI waits for, and a build cut off by the process
    exiting would leave an invalid index."""
    def progress(later: RunReport) -> None:
        so_far = replace(report)
        so_far.add(later)
        if on_progress is not None:
            on_progress(so_far)

    def draining() -> bool:
        return not ((stop and stop.is_set()) or report.setup_error or report.model_mismatch
                    or report.stopped_while_building)

    try:
        with Database(settings.database_url) as watch:
            while True:
                ended = wait_for_builds(WATCH_SECONDS)
                if draining() and watch.has_due():
                    budget = max(deadline - time.monotonic(), FOLLOW_UP_SECONDS)
                    report.add(_run(settings, embedder, budget, stop, progress, "none",
                                    carry_batches=False))
                if ended:
                    report.remaining = watch.remaining()
                    return
    except Exception as exc:  # the build goes on whatever a follow-up drain raised
        report.stopped_while_building = redact.error(exc)
        log.warning("draining during the index build stopped: %s", report.stopped_while_building)
    while not wait_for_builds(WATCH_SECONDS):
        pass


def _run(settings: Settings, embedder: EmbedderSource, budget_seconds: float,
         stop: threading.Event | None, on_progress: Callable[[RunReport], None] | None,
         index_upkeep: IndexUpkeep, on_built: Callable[[str], None] | None = None,
         carry_batches: bool = True) -> RunReport:
    """One drain within ``budget_seconds``; a build it starts hands its outcome
    to ``on_built``. Without ``carry_batches`` open Batch API batches are left alone."""
    def build(db: Database, model: str) -> str | None:
        return build_when_drained(db, settings, model, background=True, on_built=on_built)

    with Database(settings.database_url) as db:
        batches = carry_batches and has_open_batches(db, settings)
        if not isinstance(embedder, Embedder) and not batches and not db.has_due():
            report = RunReport(remaining=db.remaining())
            if index_upkeep != "none" and settings.defer_index:
                # A run cut off before its build leaves the index to the next one.
                model = db.active_model()
                report.search_index = build(db, model[0]) if model else None
            return report
        if embedder is None:
            ready = create_embedder(settings)
        elif isinstance(embedder, Embedder):
            ready = embedder
        else:
            ready = embedder()
        # Something is due: the provider's SDK (0.6 s of CPU for OpenAI's) loads
        # while the run opens its connections and makes its first claims.
        ready.warm_up()
        deadline = time.monotonic() + budget_seconds
        try:
            # The run's budget covers carrying batches forward and the online drain.
            batch_note = before_online(db, settings, ready, open_batches=batches,
                                       long_run=index_upkeep != "none", deadline=deadline)
        except SetupError as exc:
            # As online: nothing charged, the run stops, status says blocked.
            report = RunReport(setup_error=str(exc))
            db.record_run(datetime.now(UTC), ready.model, report.as_dict())
            report.remaining = db.remaining()
            return report
        with ExitStack() as stack:
            writes = [stack.enter_context(Database(settings.database_url))
                      for _ in range(settings.writers)]
            left = max(deadline - time.monotonic(), 0.001)
            report = drain(db, writes, ready, settings, budget_seconds=left, stop=stop,
                           on_progress=on_progress,
                           before_first_write=(lambda conn: defer_for_backlog(conn, settings, ready.model))
                           if index_upkeep != "none" else None)
        if (index_upkeep != "none" and not report.setup_error and not report.model_mismatch
                and not (stop and stop.is_set())):
            report.search_index = joined_notes((report.search_index, build(db, ready.model)))
        report.batches = batch_note
        return report

"""One place that wires a run: its connections, the embedder and the drain.

The CLI, the HTTP handler, estimates and the tests all run drains through
here, so opening a run is written once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime
from typing import Literal

from autoembed.accounting import RunReport
from autoembed.config import Settings
from autoembed.db import Database
from autoembed.drain import drain
from autoembed.embedders import Embedder, check_model, create_embedder
from autoembed.errors import SetupError
from autoembed.provider_batches import before_online, has_open_batches
from autoembed.search_index import build_when_drained, defer_for_backlog

IndexUpkeep = Literal["none", "here", "background"]


def run_drain(settings: Settings, embedder: Embedder | Callable[[], Embedder] | None = None, *,
              budget_seconds: float | None = None, stop: threading.Event | None = None,
              on_progress: Callable[[RunReport], None] | None = None,
              index_upkeep: IndexUpkeep = "none") -> RunReport:
    """Drain once: one connection claims, another writes (the writer thread's).

    With nothing due, no embedder is built (the provider's SDK and tokenizer
    cost most of a cold start) and the run ends at once: a cron tick or a
    serverless cold start on an empty queue costs one query. ``embedder`` may
    be a ready embedder, a function that makes (or returns a cached) one, or None.

    ``index_upkeep``: a run that may take minutes drops the search index
    before a large backlog, and a run that finds the backlog done builds it
    (processor/autoembed/search_index.py): ``here`` (the CLI waits for the
    build) or ``background`` (``serve`` builds in a thread of its own, so its
    drains go on). The synchronous paths leave the index alone (``none``).
    """
    if embedder is None:
        check_model(settings)
    with Database(settings.database_url) as db:
        batches = has_open_batches(db, settings)
        if not isinstance(embedder, Embedder) and not batches and not db.has_due():
            report = RunReport(remaining=db.remaining())
            if index_upkeep != "none" and settings.defer_index:
                # A run cut off before its build leaves the index to the next one.
                model = db.active_model()
                report.search_index = build_when_drained(
                    db, settings, model[0], background=index_upkeep == "background") if model else None
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
        # The run's budget covers carrying batches forward and the online drain.
        deadline = time.monotonic() + (budget_seconds or settings.time_budget_seconds)
        try:
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
            built = build_when_drained(db, settings, ready.model,
                                       background=index_upkeep == "background")
            report.search_index = "; ".join(n for n in (report.search_index, built) if n) or None
        report.batches = batch_note
        return report

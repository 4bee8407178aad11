"""One place that wires a run: its two connections, the embedder and the drain.

The CLI, the HTTP handler, estimates and the tests all run drains through
here, so opening a run is written once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from autoembed.accounting import RunReport
from autoembed.config import Settings
from autoembed.db import Database
from autoembed.drain import drain
from autoembed.embedders import Embedder, check_model, create_embedder


def run_drain(settings: Settings, embedder: Embedder | Callable[[], Embedder] | None = None, *,
              budget_seconds: float | None = None, stop: threading.Event | None = None,
              on_progress: Callable[[RunReport], None] | None = None) -> RunReport:
    """Drain once: one connection claims, another writes (the writer thread's).

    With nothing due, no embedder is built (the provider's SDK and tokenizer
    cost most of a cold start) and the run ends at once: a cron tick or a
    serverless cold start on an empty queue costs one query. ``embedder`` may
    be a ready embedder, a function that makes (or returns a cached) one, or None.
    """
    if embedder is None:
        check_model(settings)
    with Database(settings.database_url) as db:
        if not isinstance(embedder, Embedder) and not db.has_due():
            return RunReport(remaining=db.remaining())
        if embedder is None:
            ready = create_embedder(settings)
        elif isinstance(embedder, Embedder):
            ready = embedder
        else:
            ready = embedder()
        with Database(settings.database_url) as writes:
            return drain(db, writes, ready, settings, budget_seconds=budget_seconds, stop=stop,
                         on_progress=on_progress)

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
from autoembed.embedders import Embedder, create_embedder


def run_drain(settings: Settings, embedder: Embedder | None = None, *,
              budget_seconds: float | None = None, stop: threading.Event | None = None,
              on_progress: Callable[[RunReport], None] | None = None) -> RunReport:
    """Drain once: one connection claims, another writes (the writer thread's)."""
    embedder = embedder or create_embedder(settings)
    with Database(settings.database_url) as db, Database(settings.database_url) as writes:
        return drain(db, writes, embedder, settings, budget_seconds=budget_seconds, stop=stop,
                     on_progress=on_progress)

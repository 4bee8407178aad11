"""Drains that run after the answer: at most one per process, requests coalesce.

pg_net has one worker per database cluster, and it waits for the slowest
request of its batch. So ``autoembed serve`` answers a dispatched POST at
once (202) and drains afterwards, in a thread of its own. A request that
arrives while a drain runs starts nothing: the running drain claims until
nothing is due, so the work that request announced is already its work.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class BackgroundDrains:
    """Starts ``run`` in a thread unless one is running; ``stop()`` asks it to end."""

    def __init__(self, run: Callable[[threading.Event], dict[str, Any]]) -> None:
        self._run = run
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._started_at = 0.0
        self._stopping = threading.Event()
        self.last: dict[str, Any] | None = None

    def request(self) -> dict[str, Any]:
        """Start a drain if none runs; say which happened."""
        with self._lock:
            if self._stopping.is_set():
                return {"started": False, "reason": "the processor is shutting down"}
            if self._thread is not None and self._thread.is_alive():
                return {"started": False, "reason": "a drain is already running",
                        "running_seconds": round(time.monotonic() - self._started_at, 1)}
            self._thread = threading.Thread(target=self._guarded, name="drain", daemon=True)
            self._started_at = time.monotonic()
            self._thread.start()
            return {"started": True}

    @property
    def running(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    def stop(self, timeout: float) -> bool:
        """Refuse new drains, ask the running one to stop, wait; whether it ended."""
        with self._lock:
            self._stopping.set()
            thread = self._thread
        if thread is None:
            return True
        thread.join(timeout)
        return not thread.is_alive()

    def _guarded(self) -> None:
        try:
            self.last = self._run(self._stopping)
        except Exception as exc:  # a background thread has nobody to raise to
            log.error("background drain failed: %s", type(exc).__name__)
            log.debug("background drain failure", exc_info=True)

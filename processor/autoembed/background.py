"""Drains that run after the answer: at most one per process, requests coalesce.

pg_net has one worker per database cluster, and it waits for the slowest
request of its batch. So ``autoembed serve`` answers a dispatched POST at
once (202) and drains afterwards, in a thread of its own. A request that
arrives while a drain runs starts no second drain: it asks the running one
to look again when it ends (a row committed after its last claim would
otherwise wait for the next tick). A wake after commit also names its
debounce window: writers that committed within it sent no wake of their own,
so the drain looks once more when the window has passed.
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
        self._again = False
        self._poke = threading.Event()
        self._look_again_at = 0.0
        self._run_started = 0.0
        self.last: dict[str, Any] | None = None
        self.runs = 0

    def request(self, settle_seconds: float = 0.0) -> dict[str, Any]:
        """Start a drain if none runs, else have the running one look again when it ends
        (and not before ``settle_seconds`` from now); say which happened."""
        with self._lock:
            if self._stopping.is_set():
                return {"started": False, "reason": "the processor is shutting down"}
            now = time.monotonic()
            self._look_again_at = max(self._look_again_at, now + max(settle_seconds, 0.0))
            if self._thread is not None and self._thread.is_alive():
                self._again = True
                self._poke.set()
                return {"started": False, "reason": "a drain is already running",
                        "looks_again": True, "running_seconds": round(now - self._started_at, 1)}
            self._again = False
            self._thread = threading.Thread(target=self._guarded, name="drain", daemon=True)
            self._started_at = now
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
            self._poke.set()
            thread = self._thread
        if thread is None:
            return True
        thread.join(timeout)
        return not thread.is_alive()

    def _guarded(self) -> None:
        while True:
            self.runs += 1
            self._run_started = time.monotonic()
            try:
                self.last = self._run(self._stopping)
            except Exception as exc:  # a background thread has nobody to raise to
                log.error("background drain failed: %s", type(exc).__name__)
                log.debug("background drain failure", exc_info=True)
            if not self._next_look():
                return

    def _next_look(self) -> bool:
        """Whether to drain again: at once if a request came during the run or the wait, or
        when a wake's window ends if the last run began before that. Decided under the lock,
        so a request either finds this thread still taking requests or starts a new one."""
        while True:
            with self._lock:
                if self._stopping.is_set() or (
                        not self._again and self._look_again_at <= self._run_started):
                    self._thread = None
                    return False
                wait = self._look_again_at - time.monotonic()
                if self._again or wait <= 0:
                    self._again = False
                    return True
                self._poke.clear()
            self._poke.wait(wait)

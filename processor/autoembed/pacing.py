"""Pace requests from the provider's rate-limit headers, before it says 429."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def parse_duration(text: str) -> float | None:
    """Seconds in OpenAI's reset format (``1s``, ``6m0s``, ``20ms``, ``1h2m3.5s``)."""
    text = text.strip()
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        try:
            return max(0.0, float(text))
        except ValueError:
            return None
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)


class TokenPacer:
    """Remembers ``x-ratelimit-remaining-tokens`` and when that budget resets.

    ``wait(tokens)`` is how long to hold a request of ``tokens`` so it does
    not overrun the provider's per-minute token budget. Thread-safe.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._remaining: int | None = None
        self._reset_at = 0.0

    def update(self, headers: Mapping[str, str]) -> None:
        remaining = headers.get("x-ratelimit-remaining-tokens")
        reset = parse_duration(headers.get("x-ratelimit-reset-tokens") or "")
        if remaining is None or reset is None:
            return
        try:
            count = int(float(remaining))
        except ValueError:
            return
        with self._lock:
            self._remaining = count
            self._reset_at = self._clock() + reset

    def wait(self, tokens: int) -> float:
        with self._lock:
            now = self._clock()
            if self._remaining is None or now >= self._reset_at:
                return 0.0
            if tokens <= self._remaining:
                self._remaining -= tokens
                return 0.0
            return self._reset_at - now

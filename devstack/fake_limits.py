"""The fake API's rate limits: per-minute token and request buckets, as OpenAI enforces them."""

from __future__ import annotations

import time
from collections.abc import Callable


class RateLimits:
    """Per-minute token and request budgets, as OpenAI enforces them.

    Each budget is a bucket that holds a minute's limit and refills
    continuously at limit / 60 per second; it starts full. A request that
    does not fit either bucket is answered 429, with the time until it would
    fit; every answer carries OpenAI's ``x-ratelimit-*`` headers.
    """

    def __init__(self, tokens_per_minute: int, requests_per_minute: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = {"tokens": tokens_per_minute, "requests": requests_per_minute}
        self._clock = clock
        self._level = {k: float(v) for k, v in self.limits.items()}
        self._at = clock()
        self.accepted_tokens = 0
        self.limited = 0

    def _refill(self) -> None:
        now = self._clock()
        for kind, limit in self.limits.items():
            self._level[kind] = min(float(limit), self._level[kind] + (now - self._at) * limit / 60)
        self._at = now

    def take(self, tokens: int) -> tuple[bool, dict[str, str], float]:
        """Spend ``tokens`` and one request if both fit: (fits, headers, seconds until it would)."""
        self._refill()
        need = {"tokens": tokens, "requests": 1}
        fits = all(need[k] <= self._level[k] for k in need)
        if fits:
            for kind in need:
                self._level[kind] -= need[kind]
            self.accepted_tokens += tokens
        else:
            self.limited += 1
        wait = max((need[k] - self._level[k]) * 60 / self.limits[k] for k in need)
        headers = {}
        for kind, limit in self.limits.items():
            reset = (limit - self._level[kind]) * 60 / limit
            headers[f"x-ratelimit-limit-{kind}"] = str(limit)
            headers[f"x-ratelimit-remaining-{kind}"] = str(int(self._level[kind]))
            headers[f"x-ratelimit-reset-{kind}"] = f"{max(reset, 0.0):.3f}s"
        if not fits:
            headers["retry-after-ms"] = str(int(wait * 1000) + 1)
        return fits, headers, max(wait, 0.0)

"""How long to wait before repeating a request the provider refused for now."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter that honours the provider's advice.

    Retry number ``n`` (0-based) waits a random time up to ``base * 2**n``,
    capped at ``cap``; a Retry-After from the provider replaces that guess.
    """

    max_retries: int = 4
    base_seconds: float = 0.5
    cap_seconds: float = 30.0

    def delay(self, retry: int, retry_after: float | None = None,
              rng: random.Random | None = None) -> float | None:
        """Seconds to wait before retry ``retry``, or None when retries are spent."""
        if retry >= self.max_retries:
            return None
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.cap_seconds * 4)
        ceiling = min(self.cap_seconds, self.base_seconds * 2 ** retry)
        return (rng or random).uniform(ceiling / 2, ceiling)

"""Retries, in one place: within a run, and how many attempts an entry gets.

- Within a run, a request the provider refused for now (its moment: 429, 5xx,
  a malformed answer) is repeated up to ``PROVIDER_RETRIES`` times after
  ``RetryPolicy.delay``; what each failure means is processor.failures'.
- Across runs, an entry that still failed counts one attempt and backs off
  (SQL ``public.embedding_retry_delay``: 300 s x 6^(attempts-1), capped at an
  hour, +/- 20 %); after ``MAX_ATTEMPTS`` it is failed for good. The processor
  passes MAX_ATTEMPTS to ``fail_embedding_batch``; nothing else holds it.
- So an outage shorter than ``outage_survived_seconds()`` (about 28 minutes)
  never fails an entry for good; tests check the README says so.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

MAX_ATTEMPTS = 3
PROVIDER_RETRIES = 4
# Between-run backoff, as embedding_retry_delay computes it (the SQL is the
# mechanism; tests/integration check these agree with it).
BACKOFF_BASE_SECONDS = 300
BACKOFF_FACTOR = 6
BACKOFF_JITTER = 0.2


def outage_survived_seconds(max_attempts: int = MAX_ATTEMPTS) -> float:
    """The longest provider outage that fails no entry for good, at the least jitter."""
    return float(sum((1 - BACKOFF_JITTER) * min(3600, BACKOFF_BASE_SECONDS * BACKOFF_FACTOR ** (n - 1))
                     for n in range(1, max_attempts)))


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with "equal jitter" that honours the provider's advice.

    Retry number ``n`` (0-based) waits a random time between half of and all of
    ``base * 2**n``, capped at ``cap``; a Retry-After from the provider
    replaces that guess.
    """

    max_retries: int = PROVIDER_RETRIES
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

"""Pace requests from the provider's rate-limit headers, before it says 429."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

# A request goes only while a tenth of the budget would be left after it:
# another processor on the same account may have spent that much since the
# provider's last answer to us. It costs a tenth of one minute's budget once
# per run, never the steady rate.
HEADROOM = 0.1


@dataclass
class _Budget:
    """One per-minute budget: what was left at ``at``, refilling at ``limit`` per minute."""

    limit: float
    left: float
    at: float

    def available(self, now: float) -> float:
        return min(self.limit, self.left + (now - self.at) * self.limit / 60)

    def wait(self, amount: float, now: float) -> float:
        """Seconds until ``amount`` fits with the headroom left (a request over the
        whole limit waits for a full budget)."""
        missing = min(amount + HEADROOM * self.limit, self.limit) - self.available(now)
        return 0.0 if missing <= 1e-6 else missing * 60 / self.limit

    def spend(self, amount: float, now: float) -> None:
        self.left, self.at = self.available(now) - amount, now


class TokenPacer:
    """Keeps requests inside the provider's tokens- and requests-per-minute limits.

    OpenAI answers every request with ``x-ratelimit-limit-*``,
    ``x-ratelimit-remaining-*`` and ``x-ratelimit-reset-*`` for tokens and
    requests; a budget refills continuously at its limit per minute. The
    pacer keeps each budget as the lower of what the provider last said and
    what this process has spent since, so processors sharing one account
    each see the others' use in the provider's answers, and it keeps
    ``HEADROOM`` of each budget for what they spent since. ``wait(tokens)``
    is 0.0 when a request fits now (and spends it), or the seconds to hold it
    before asking again. Thread-safe.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._budgets: dict[str, _Budget] = {}

    def update(self, headers: Mapping[str, str]) -> None:
        now = self._clock()
        with self._lock:
            for kind in ("tokens", "requests"):
                said = _said(headers, kind)
                if said is None:
                    continue
                limit, remaining = said
                known = self._budgets.get(kind)
                if known is None or known.limit != limit:
                    self._budgets[kind] = _Budget(limit, remaining, now)
                else:
                    known.left, known.at = min(known.available(now), remaining), now

    def wait(self, tokens: int) -> float:
        now = self._clock()
        need = {"tokens": float(tokens), "requests": 1.0}
        with self._lock:
            hold = max((b.wait(need[k], now) for k, b in self._budgets.items()), default=0.0)
            if hold == 0.0:
                for kind, budget in self._budgets.items():
                    budget.spend(need[kind], now)
            return hold


def _said(headers: Mapping[str, str], kind: str) -> tuple[float, float] | None:
    """(limit, remaining) for ``kind``, or None when the answer does not say both."""
    try:
        limit = float(headers[f"x-ratelimit-limit-{kind}"])
        remaining = float(headers[f"x-ratelimit-remaining-{kind}"])
    except (KeyError, ValueError):
        return None
    return (limit, max(remaining, 0.0)) if limit > 0 else None

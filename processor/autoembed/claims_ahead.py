"""How far a run's claims may run ahead of its provider.

Until the provider's first answer a run claims up to ``START_AHEAD`` batches
per unit: a cold start loads the provider's SDK meanwhile, while the database
has a core to spare (processor.drain). Against a provider slower than the
database (a local model on a CPU, a rate limit) those claims would wait longer
than their leases, and a later run would take them and pay for them again;
and every other source's new rows would wait behind them. So from the second
answer on, the rate answers come at says how long the claims still waiting
would wait, behind those being answered: those beyond ``AHEAD_SECONDS`` (a
quarter of the lease if that is shorter) go back to the queue at once, to be
claimed again in their turn.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from autoembed.claimed import ClaimedItem

# Claims made per unit at most before the provider's first answer.
START_AHEAD = 16
# How long a claim made ahead may wait to be sent, at the rate answers come.
AHEAD_SECONDS = 10.0


class Pace:
    """When a run's answers came, and how many waiting claims the provider reaches in time."""

    def __init__(self, lease_seconds: float) -> None:
        self.horizon = min(AHEAD_SECONDS, lease_seconds / 4)
        self.first_at: float | None = None
        self.last_at = 0.0
        self.since_first = 0

    def answered(self, count: int, at: float) -> None:
        """``count`` claims were answered at ``at`` (monotonic seconds)."""
        if self.first_at is None:
            self.first_at = at  # the cold start's answer: where the rate is measured from
            return
        self.since_first += count
        self.last_at = at

    def claims_to_keep(self, in_flight: int) -> int | None:
        """How many claims may wait to be sent behind the ``in_flight`` ones being answered;
        None before a rate is known."""
        if self.first_at is None or self.since_first == 0 or self.last_at <= self.first_at:
            return None
        per_second = self.since_first / (self.last_at - self.first_at)
        return max(0, int(self.horizon * per_second) - in_flight)


def give_back(waiting: deque[list[ClaimedItem]], keep: int | None,
              release: Callable[[list[ClaimedItem]], int]) -> int:
    """Release the claims waiting beyond the first ``keep`` (None: keep all); how many
    entries went back. What holds no lease (already current, or failed for good by the
    claim) stays waiting, to be counted when sent."""
    counted: list[ClaimedItem] = []
    given_back = 0
    while keep is not None and len(waiting) > keep:
        items = waiting.pop()
        held = [i for i in items if i.lease_token is not None]
        given_back += release(held) if held else 0
        counted += [i for i in items if i.lease_token is None]
    if counted:
        waiting.append(counted)
    return given_back

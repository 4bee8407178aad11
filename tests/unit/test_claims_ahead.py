"""How many claims made ahead a run keeps waiting, and which it gives back."""

from __future__ import annotations

from collections import deque
from uuid import uuid4

from autoembed.claimed import ClaimedItem
from autoembed.claims_ahead import AHEAD_SECONDS, Pace, give_back


def claim(first_id: int, size: int = 2, *, unleased: int = 0) -> list[ClaimedItem]:
    """A claim of ``size`` leased items, then ``unleased`` already current ones."""
    leased = [ClaimedItem(first_id + n, first_id + n, uuid4(), 0, "text", b"h") for n in range(size)]
    current = [ClaimedItem(first_id + size + n, first_id + size + n, None, 0, "", b"", True)
               for n in range(unleased)]
    return leased + current


def test_no_rate_is_known_before_a_second_answer() -> None:
    """The first answer carries a cold start (the SDK or the model loading): the rate is
    measured from it, never with it."""
    pace = Pace(lease_seconds=300)
    assert pace.claims_to_keep(in_flight=0) is None
    pace.answered(3, at=100.0)
    assert pace.claims_to_keep(in_flight=0) is None
    pace.answered(1, at=100.0)  # answered with the first: no time passed to measure a rate in
    assert pace.claims_to_keep(in_flight=0) is None


def test_the_claims_kept_are_those_answered_within_the_horizon() -> None:
    """At one answer a second, AHEAD_SECONDS worth of claims are answered, those in flight
    first; a short lease shortens the horizon to a quarter of it; a provider slower than the
    claims in flight keeps none waiting."""
    pace = Pace(lease_seconds=300)
    pace.answered(1, at=10.0)
    pace.answered(1, at=11.0)
    pace.answered(1, at=12.0)
    assert pace.horizon == AHEAD_SECONDS
    assert pace.claims_to_keep(in_flight=0) == int(AHEAD_SECONDS)
    assert pace.claims_to_keep(in_flight=4) == int(AHEAD_SECONDS) - 4
    short = Pace(lease_seconds=20)
    short.answered(1, at=0.0)
    short.answered(4, at=2.0)  # two answers a second
    assert short.horizon == 5.0 and short.claims_to_keep(in_flight=3) == 7
    slow = Pace(lease_seconds=300)
    slow.answered(1, at=0.0)
    slow.answered(1, at=60.0)
    assert slow.claims_to_keep(in_flight=3) == 0


def test_give_back_releases_the_newest_claims_beyond_those_kept() -> None:
    """The oldest claims stay in order; the newest go back, only their leased items asked to
    be released; what holds no lease stays waiting, to be counted when sent."""
    waiting = deque([claim(1), claim(10), claim(20, unleased=1), claim(30)])
    asked: list[list[int]] = []

    def release(items: list[ClaimedItem]) -> int:
        asked.append([i.queue_id for i in items])
        return len(items) - 1  # one of them another run had taken meanwhile

    assert give_back(waiting, 2, release) == 2
    assert asked == [[30, 31], [20, 21]]
    assert [[i.queue_id for i in c] for c in waiting] == [[1, 2], [10, 11], [22]]


def test_give_back_keeps_everything_while_no_rate_is_known() -> None:
    waiting = deque([claim(1), claim(10)])
    assert give_back(waiting, None, lambda items: len(items)) == 0
    assert len(waiting) == 2
    assert give_back(waiting, 2, lambda items: len(items)) == 0

"""A claim's result split into writes: every vector with its entry, everything else once."""

from __future__ import annotations

import numpy as np
from autoembed.claimed import ClaimedItem
from autoembed.results import ClaimResult, Failure


def _item(n: int) -> ClaimedItem:
    return ClaimedItem(queue_id=n, job_id=n, lease_token=None, attempts=0, content=f"t{n}",
                       content_hash=b"h")


def test_slices_keep_each_vector_with_its_entry_and_the_rest_on_the_first() -> None:
    """Five answers in two vector blocks, sliced by two: three writes, rows in order, the
    failure, release and counts on the first write alone."""
    rows = np.arange(5 * 3, dtype=np.float32).reshape(5, 3)
    whole = ClaimResult(embedded=[_item(n) for n in range(5)], vectors=[rows[:2], rows[2:]],
                        failures=[Failure(_item(9), "bad", True)], released=[_item(8)],
                        tokens=70, requests=2, truncated=2, truncated_job_ids=[3])
    parts = whole.in_slices(2)
    assert [[i.queue_id for i in p.embedded] for p in parts] == [[0, 1], [2, 3], [4]]
    assert np.array_equal(np.concatenate([p.vectors[0] for p in parts]), rows)
    assert [len(p.failures) for p in parts] == [1, 0, 0]
    assert [len(p.released) for p in parts] == [1, 0, 0]
    assert [p.tokens for p in parts] == [70, 0, 0] and [p.requests for p in parts] == [2, 0, 0]
    assert [p.truncated_job_ids for p in parts] == [[3], [], []]
    assert [p.truncated for p in parts] == [2, 0, 0]


def test_a_result_within_the_size_is_written_as_it_is() -> None:
    """No copy and no split when the answers fit one write."""
    whole = ClaimResult(embedded=[_item(1)], vectors=[np.zeros((1, 3), dtype=np.float32)])
    assert whole.in_slices(250) == [whole] and whole.in_slices(250)[0] is whole

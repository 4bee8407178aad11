"""Packing inputs into requests under both limits, by table."""

from __future__ import annotations

import pytest

from processor.batching import pack


@pytest.mark.parametrize(
    ("counts", "max_inputs", "max_tokens", "expected"),
    [
        ([], 3, 10, []),
        ([1, 1, 1], 3, 10, [(0, 3)]),
        ([1, 1, 1, 1], 3, 10, [(0, 3), (3, 4)]),
        ([6, 4, 1], 10, 10, [(0, 2), (2, 3)]),
        ([10], 10, 10, [(0, 1)]),  # one input exactly at the request limit
        ([10, 10, 10], 10, 10, [(0, 1), (1, 2), (2, 3)]),
        ([5, 6, 5], 10, 10, [(0, 1), (1, 2), (2, 3)]),
        ([1] * 2049, 2048, 300_000, [(0, 2048), (2048, 2049)]),
        ([8192] * 37, 2048, 300_000, [(0, 36), (36, 37)]),
    ],
)
def test_pack(counts: list[int], max_inputs: int, max_tokens: int,
              expected: list[tuple[int, int]]) -> None:
    """Ranges are contiguous, in order, and never exceed either limit."""
    ranges = pack(counts, max_inputs=max_inputs, max_tokens=max_tokens)
    assert [(r.start, r.stop) for r in ranges] == expected
    for r in ranges:
        assert len(r) <= max_inputs and sum(counts[i] for i in r) <= max_tokens


def test_input_over_request_limit_is_refused() -> None:
    """An input that cannot fit any request raises instead of making a bad request."""
    with pytest.raises(ValueError, match="input 1 has 11 tokens"):
        pack([1, 11], max_inputs=5, max_tokens=10)

"""Packing inputs into requests under both limits, by table."""

from __future__ import annotations

import pytest
from autoembed.request_packing import pack


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


def test_limits_of_one_are_valid() -> None:
    """A limit of one input or one token is a valid limit."""
    assert pack([1, 1], max_inputs=1, max_tokens=10) == [range(0, 1), range(1, 2)]
    assert pack([1, 1], max_inputs=5, max_tokens=1) == [range(0, 1), range(1, 2)]


@pytest.mark.parametrize(("mi", "mt"), [(0, 10), (10, 0)])
def test_each_non_positive_limit_is_refused(mi: int, mt: int) -> None:
    """Either limit at zero is refused with a clear message."""
    with pytest.raises(ValueError, match=r"^limits must be positive$"):
        pack([1], max_inputs=mi, max_tokens=mt)


def test_oversized_input_message_exact() -> None:
    """An input over the request limit is named with its size."""
    with pytest.raises(ValueError, match=r"^input 1 has 11 tokens, over the 10 request limit$"):
        pack([1, 11], max_inputs=5, max_tokens=10)


def test_token_budget_restarts_at_zero_after_a_split() -> None:
    """After a split the next request starts with an empty token budget."""
    assert pack([5, 6, 4], max_inputs=10, max_tokens=10) == [range(0, 1), range(1, 3)]

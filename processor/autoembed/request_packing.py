"""Pack inputs into API requests under both per-request limits at once."""

from __future__ import annotations

from collections.abc import Sequence


def pack(token_counts: Sequence[int], *, max_inputs: int, max_tokens: int) -> list[range]:
    """Split inputs, in order, into contiguous ranges for one request each.

    Every range holds at most ``max_inputs`` inputs whose token counts sum to
    at most ``max_tokens``. Each input must fit alone (callers truncate first);
    one that does not raises ValueError rather than producing a request the
    API would refuse.
    """
    if max_inputs < 1 or max_tokens < 1:
        raise ValueError("limits must be positive")
    ranges: list[range] = []
    start, used = 0, 0
    for i, tokens in enumerate(token_counts):
        if tokens > max_tokens:
            raise ValueError(f"input {i} has {tokens} tokens, over the {max_tokens} request limit")
        if i > start and (i - start >= max_inputs or used + tokens > max_tokens):
            ranges.append(range(start, i))
            start, used = i, 0
        used += tokens
    if start < len(token_counts):
        ranges.append(range(start, len(token_counts)))
    return ranges

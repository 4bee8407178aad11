"""Entries of any source are named by their source and key in logs and counts, never as "job None"."""

from __future__ import annotations

import logging

import pytest
from autoembed.claim_embedder import ClaimEmbedder
from autoembed.claimed import ClaimedItem
from autoembed.retry import RetryPolicy
from autoembed.tokens import Prepared

from tests.unit.test_claim_embedder import Clock, Scripted

KEY = "3f2a9c1e-0b7d-4e55-9a62-2d8f7c3b1a40"


class Truncating(Scripted):
    """Cuts every text to its first three words."""

    def prepare(self, text: str) -> Prepared:
        words = text.split()
        return Prepared(" ".join(words[:3]), min(3, len(words)), len(words))


def test_row_names_a_job_by_id_and_another_source_by_its_key() -> None:
    """A jobs entry reads `job 42`; a postings entry reads `postings <uuid>`."""
    assert ClaimedItem(1, 42, None, 0, "t", b"h", source="jobs", source_key="42").row == "job 42"
    posting = ClaimedItem(2, None, None, 0, "t", b"h", source="postings", source_key=KEY)
    assert posting.row == f"postings {KEY}"


def test_a_truncated_entry_of_any_source_is_logged_by_its_row_and_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A source's truncated input is logged as `postings <key>`, counted, and kept out of the job ids."""
    items = [ClaimedItem(1, 7, "l1", 0, "one two three four five", b"h", source="jobs", source_key="7"),
             ClaimedItem(2, None, "l2", 0, "a b c d e f", b"h", source="postings", source_key=KEY),
             ClaimedItem(3, None, "l3", 0, "short", b"h", source="postings", source_key="k3")]
    clock = Clock()
    embedder = ClaimEmbedder(Truncating(), RetryPolicy(max_retries=1), clock() + 60, max_requests=1,
                             sleep=clock.sleep, clock=clock)
    with caplog.at_level(logging.WARNING, logger="autoembed.claim_embedder"):
        result = embedder.run(items)
    assert [i.queue_id for i in result.embedded] == [1, 2, 3] and result.failures == []
    assert result.truncated == 2 and result.truncated_job_ids == [7]
    assert sorted(r.getMessage() for r in caplog.records) == [
        "job 7: input truncated from 5 to 3 tokens", f"postings {KEY}: input truncated from 6 to 3 tokens"]

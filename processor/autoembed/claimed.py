"""A leased queue entry as the claim returns it (``claim_embedding_batch``'s columns, in order)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from autoembed.shown import shown


@dataclass(frozen=True)
class ClaimedItem:
    """One leased queue entry of any source (``job_id`` for jobs only), and the text to embed.

    ``failed_by_claim``: the claim itself failed the entry for good (its source's text raised
    for this row); it holds no lease, and ``content`` is the error. The run counts it, and
    writes nothing for it.
    """

    queue_id: int
    job_id: int | None
    lease_token: Any
    attempts: int
    content: str
    content_hash: bytes
    already_current: bool = False
    source: str = "jobs"
    source_key: str | None = None
    failed_by_claim: bool = False

    @property
    def row(self) -> str:
        """The entry's row as logs and messages name it: ``job 42``, ``postings 3f2a...``."""
        return f"job {self.job_id}" if self.source == "jobs" else f"{self.source} {shown(self.source_key)}"


def claimed_items(rows: Iterable[Sequence[Any]]) -> list[ClaimedItem]:
    """The claim's rows as items: one with no lease that is not already current was failed for
    good by the claim (a 0.6.0 schema's claim returns no such row)."""
    items = [ClaimedItem(*row) for row in rows]
    return [replace(i, failed_by_claim=True) if i.lease_token is None and not i.already_current else i
            for i in items]

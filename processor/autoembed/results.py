"""What embedding one claim produced, before it is written."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from autoembed.claimed import ClaimedItem
from autoembed.vectors import Vectors


@dataclass(frozen=True)
class Failure:
    """An entry that could not be embedded, and whether that is for good."""

    item: ClaimedItem
    error: str
    permanent: bool
    # Its text shows nothing: the row's vector, of a text it no longer has, goes too.
    without_text: bool = False


@dataclass
class ClaimResult:
    """The outcome of embedding one claim, before it is written."""

    embedded: list[ClaimedItem] = field(default_factory=list)
    vectors: list[Vectors] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    released: list[ClaimedItem] = field(default_factory=list)
    skipped_current: int = 0
    failed_by_claim: int = 0  # entries the claim failed for good: counted, nothing to write
    tokens: int = 0
    requests: int = 0
    provider_retries: int = 0
    paced_seconds: float = 0.0
    api_seconds: float = 0.0
    # Inputs cut to the model's limit: how many, of any source, and the jobs among them.
    truncated: int = 0
    truncated_job_ids: list[int] = field(default_factory=list)
    come_back_after: float | None = None

    def unsettled(self, items: Sequence[ClaimedItem]) -> list[ClaimedItem]:
        """The items neither embedded, failed nor released yet."""
        settled = ({i.queue_id for i in self.embedded} | {f.item.queue_id for f in self.failures}
                   | {i.queue_id for i in self.released})
        return [i for i in items if i.queue_id not in settled and not i.failed_by_claim]

    def in_slices(self, size: int) -> list[ClaimResult]:
        """This result as writes of at most ``size`` vectors each, in order: the first
        carries everything else (failures, releases, counts). A Batch API line holds
        up to 2,048 answers; one write of them all could outlast a statement timeout."""
        if len(self.embedded) <= size:
            return [self]
        import numpy as np

        rows = np.concatenate(self.vectors) if len(self.vectors) > 1 else self.vectors[0]
        parts = [ClaimResult(embedded=self.embedded[start:start + size],
                             vectors=[rows[start:start + size]])
                 for start in range(0, len(self.embedded), size)]
        first = parts[0]
        rest = {name: getattr(self, name) for name in (
            "failures", "released", "skipped_current", "failed_by_claim", "tokens", "requests",
            "provider_retries", "paced_seconds", "api_seconds", "truncated", "truncated_job_ids",
            "come_back_after")}
        parts[0] = replace(first, **rest)
        return parts

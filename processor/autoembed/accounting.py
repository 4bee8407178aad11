"""A run's accounting: what it did, claim by claim, as the report and the run record see it."""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass, field

from autoembed.db import Database
from autoembed.results import ClaimResult

TIMINGS = ("claim_seconds", "write_seconds", "wait_seconds", "api_seconds")
# What a later drain of the same run adds to its report (RunReport.add).
SUMMED = ("claimed", "embedded", "failed", "retried", "released", "stale", "skipped_current",
          "lost", "tokens", "requests", "provider_retries", "paced_seconds", "truncated",
          "estimated_cost_usd", "seconds", *TIMINGS)


@dataclass
class RunReport:
    """What one run did; returned by a synchronous POST and printed by ``autoembed process``."""

    claimed: int = 0
    embedded: int = 0
    failed: int = 0
    retried: int = 0
    released: int = 0
    stale: int = 0
    skipped_current: int = 0
    lost: int = 0
    tokens: int = 0
    requests: int = 0
    provider_retries: int = 0
    paced_seconds: float = 0.0
    truncated: int = 0
    truncated_job_ids: list[int] = field(default_factory=list)
    estimated_cost_usd: float = 0.0
    seconds: float = 0.0
    # Why the run stopped early, if it did: the provider refuses the setup, or
    # the configured model is not the active one; and when to come back after
    # a provider wait too long for the run.
    setup_error: str | None = None
    model_mismatch: str | None = None
    come_back_after_seconds: float | None = None
    # The main thread's time claiming and waiting (on API calls and on the
    # writer), the writer's time, and the API's time summed over workers.
    claim_seconds: float = 0.0
    write_seconds: float = 0.0
    wait_seconds: float = 0.0
    api_seconds: float = 0.0
    remaining: int | None = None
    # What the run did to the sources' search indexes, if anything (search_index.py).
    search_index: str | None = None
    # What the run did with Batch API batches, if anything (provider_batches/).
    batches: str | None = None
    # Why the draining while `autoembed process` waited for an index build
    # stopped early (service.py): a later drain's setup error or model switch,
    # a lost connection. The build went on; the run's own stop is setup_error.
    stopped_while_building: str | None = None

    def as_dict(self, *, timings: bool = False) -> dict[str, object]:
        """The report as a dict; the thread timings (benchmarks' business) only if asked."""
        data = asdict(self)
        if not timings:
            for name in TIMINGS:
                data.pop(name)
        return data

    def add(self, later: RunReport) -> None:
        """Count in a later drain of the same run: ``autoembed process`` drains what
        arrives while it waits for a search index build (service.py)."""
        for name in SUMMED:
            setattr(self, name, getattr(self, name) + getattr(later, name))
        self.estimated_cost_usd = round(self.estimated_cost_usd, 6)
        self.seconds = round(self.seconds, 3)
        self.truncated_job_ids = self.truncated_job_ids + later.truncated_job_ids
        # A later drain's stop is not the run's: the first drain's work stands.
        if stop := later.setup_error or later.model_mismatch:
            self.stopped_while_building = stop
        self.come_back_after_seconds = later.come_back_after_seconds or self.come_back_after_seconds
        self.remaining = later.remaining
        self.search_index = joined_notes((self.search_index, later.search_index))
        self.batches = joined_notes((self.batches, later.batches))

    def summary(self) -> str:
        """The counts that say what happened, in one line (a log line, the CLI's last line)."""
        return (f"claimed {self.claimed}, embedded {self.embedded}, failed {self.failed}, "
                f"retrying {self.retried}, released {self.released}, stale {self.stale}, "
                f"skipped {self.skipped_current} (already current), lost {self.lost}, "
                f"tokens {self.tokens} (${self.estimated_cost_usd:.6f}), "
                f"requests {self.requests}, truncated {self.truncated}, "
                f"{self.seconds:.1f}s, {self.remaining} pending"
                + (f"; {self.search_index}" if self.search_index else "")
                + (f"; {self.batches}" if self.batches else "")
                + (f"; draining during the index build stopped: {self.stopped_while_building}"
                   if self.stopped_while_building else ""))


def joined_notes(notes: Iterable[str | None]) -> str | None:
    """A report's notes (``search_index``, ``batches``) in one: the given ones, in order."""
    return "; ".join(note for note in notes if note) or None


def record_claim(db: Database, model: str, max_attempts: int, unit: ClaimResult,
                report: RunReport, lock: AbstractContextManager[object] | None = None) -> None:
    """Write one embedded claim (vectors, failures, releases) and add it to the report.

    Writers on several connections share one report: ``lock`` guards its
    counts, never the database calls, so the writes themselves overlap.
    """
    embedded = stale = lost = failed = retried = released = 0
    if unit.embedded:
        import numpy as np

        vectors = np.concatenate(unit.vectors) if len(unit.vectors) > 1 else unit.vectors[0]
        for outcome in db.complete(unit.embedded, vectors, model).values():
            if outcome == "embedded":
                embedded += 1
            elif outcome == "stale":
                stale += 1
            elif outcome == "failed":  # writing its vector raised: failed for good with the error
                failed += 1
            else:
                lost += 1
    if unit.failures:
        if blank := [f.item for f in unit.failures if f.without_text]:
            db.forget_without_text(blank)
        outcomes = db.fail([f.item for f in unit.failures], [f.error for f in unit.failures],
                           [f.permanent for f in unit.failures], max_attempts)
        failed += sum(1 for o in outcomes.values() if o == "failed")
        retried = sum(1 for o in outcomes.values() if o == "retry")
        stale += sum(1 for o in outcomes.values() if o == "stale")  # edited since: released
        lost += len(unit.failures) - len(outcomes)
    if unit.released:
        released = db.release(unit.released)
    with lock or nullcontext():
        report.embedded += embedded
        report.stale += stale
        report.lost += lost
        report.failed += failed + unit.failed_by_claim
        report.retried += retried
        report.released += released
        report.tokens += unit.tokens
        report.requests += unit.requests
        report.provider_retries += unit.provider_retries
        report.paced_seconds = round(report.paced_seconds + unit.paced_seconds, 3)
        report.api_seconds += unit.api_seconds
        report.truncated += unit.truncated
        report.truncated_job_ids += unit.truncated_job_ids
        report.skipped_current += unit.skipped_current
        if unit.come_back_after is not None:
            report.come_back_after_seconds = max(report.come_back_after_seconds or 0.0,
                                                 round(unit.come_back_after, 1))

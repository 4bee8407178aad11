"""Carrying provider batches forward: check each open batch once, write a finished one's results
(``carrier.Carrier``). A check lease in the database keeps two processors from carrying the same
batch at once.
"""

from __future__ import annotations

import logging
import time

from autoembed import failures, redact
from autoembed.config import Settings
from autoembed.db import Database
from autoembed.embedders.base import Embedder
from autoembed.errors import EmbeddingError, MalformedResponseError, SetupError
from autoembed.provider_batches.carrier import BatchReport, Carrier
from autoembed.provider_batches.recover import recover_stranded
from autoembed.provider_batches.store import ProviderBatchStore
from autoembed.provider_batches.submit import batch_api_of

log = logging.getLogger(__name__)

# A check (status call, download, writes) holds its batch this long.
CHECK_LEASE_SECONDS = 600.0
# Result files downloaded and found unreadable this often: the batch is given up.
UNREADABLE_READS = 3


def carry_forward(db: Database, settings: Settings, embedder: Embedder,
                  deadline: float | None = None) -> BatchReport:
    """Check every open batch once, one after the other, and write the finished ones'
    results; a batch not reached by ``deadline`` (monotonic) is left to the next run.

    A setup fault means what ``failures.batch_setup_fault`` says: the batch is
    over (its entries go back to work), batches are left to a processor with
    another key (the run goes on online), or the run stops, as online.
    """
    report = BatchReport()
    store = ProviderBatchStore(db)
    try:  # before take gives back those left preparing an hour
        recover_stranded(store, batch_api_of(embedder))
    except EmbeddingError as exc:  # the provider away: the next run looks again
        report.errors.append(f"batches left preparing not looked for: {redact.error(exc, with_type=False)}")
    taken_batches = store.take(CHECK_LEASE_SECONDS)
    carrier = Carrier(store, settings, embedder, report, deadline)
    for n, taken in enumerate(taken_batches):
        if deadline is not None and time.monotonic() >= deadline:
            for rest in taken_batches[n:]:
                store.note(rest, None)  # frees its check for the next run
            break
        report.checked += 1
        try:
            carrier.carry(taken)
        except SetupError as exc:
            meaning = failures.batch_setup_fault(exc)
            if meaning == failures.BATCH_GONE:
                report.run.released += store.finish(
                    taken.id, taken.check_token, None, None, None,
                    f"the provider no longer has it: {redact.error(exc, with_type=False)}")
                report.finished += 1
                continue
            for rest in taken_batches[n:]:
                store.note(rest, None)
            if meaning == failures.BATCH_API_CLOSED:
                note = f"batches not checked: {redact.error(exc, with_type=False)}"
                log.warning(note)
                report.errors.append(note)
                break
            raise
        except EmbeddingError as exc:  # unreadable results, provider away: the next run reads again
            why = redact.error(exc, with_type=False)
            reads = store.note_unreadable(taken, why) if isinstance(exc, MalformedResponseError) else 0
            if reads >= UNREADABLE_READS:  # not forever: its entries go back to work, no attempt
                carrier.finish(taken, None, None, None, f"its results could not be read {reads} times: {why}")
                continue
            note = f"batch {taken.id} not read: {why}"
            log.warning(note)
            report.errors.append(note)
            store.note(taken, None)
    run = report.run
    run.claimed = run.embedded + run.failed + run.retried + run.stale + run.lost
    return report


__all__ = ["BatchReport", "carry_forward"]

"""Carrying provider batches forward: check each open batch, write a finished one's results.

A finished batch's answers take the online path: each answered request becomes a ``ClaimResult``
written by ``accounting.record_claim`` (compare-and-set on each entry's lease and text hash), each
vector placed by its request's ``custom_id`` and its ``index``, never by position. What an answer
means is processor.failures', as online; a request the provider refused for an input, or answered
with an unusable vector or an answer it cannot use, is sent again online through ``ClaimEmbedder``,
so it costs what it costs online: the bad input alone fails, the others are embedded. A check
lease in the database keeps two processors from carrying the same batch at once.
"""
from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from autoembed import failures, redact
from autoembed.accounting import RunReport, record_claim
from autoembed.claim_embedder import ClaimEmbedder
from autoembed.config import Settings
from autoembed.db import Database
from autoembed.embedders.base import BatchAPI, Embedder
from autoembed.errors import (
    BadVectorsError,
    EmbeddingError,
    InputRejectedError,
    MalformedResponseError,
    SetupError,
)
from autoembed.provider_batches import result_file
from autoembed.provider_batches.store import BatchEntry, ProviderBatchStore, TakenBatch
from autoembed.provider_batches.submit import batch_api_of, cancel, cancel_if_running
from autoembed.results import ClaimResult, Failure
from autoembed.retry import RetryPolicy

log = logging.getLogger(__name__)

# A check (status call, download, writes) holds its batch this long.
CHECK_LEASE_SECONDS = 600.0
# Result files downloaded and found unreadable this often: the batch is given up.
UNREADABLE_READS = 3


@dataclass
class BatchReport:
    """What carrying the open batches forward did in one run.

    The entries' counts are a ``RunReport``'s (``run``), as record_claim keeps
    them; ``batch_tokens`` is the part of ``run.tokens`` the Batch API billed.
    """

    checked: int = 0
    in_progress: int = 0
    finished: int = 0
    batch_tokens: int = 0
    errors: list[str] = field(default_factory=list)
    run: RunReport = field(default_factory=RunReport)


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
    taken_batches = store.take(CHECK_LEASE_SECONDS)
    carrier = _Carrier(store, settings, embedder, report, deadline)
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


class _Carrier:
    """Carries one run's batches; requests sent again online share one ClaimEmbedder."""

    def __init__(self, store: ProviderBatchStore, settings: Settings, embedder: Embedder,
                 report: BatchReport, deadline: float | None) -> None:
        self.store, self.db, self.settings, self.embedder = store, store.db, settings, embedder
        self.api: BatchAPI = batch_api_of(embedder)
        self.report = report
        self.registered = False
        self.online = ClaimEmbedder(embedder, RetryPolicy(max_retries=settings.provider_retries),
                                    deadline or time.monotonic() + settings.time_budget_seconds,
                                    max_requests=1)

    def carry(self, taken: TakenBatch) -> None:
        report = self.report
        # A model no longer active first: any processor cancels its batch (found by a probe: it waited
        # for one configured for the old model, which refuses to run; its rows stayed processing).
        active = self.db.active_model()
        if active is not None and active[0] != taken.model:
            cancel(self.embedder, taken.provider_batch_id)  # its answers would be thrown away
            self.finish(taken, None, None, None,
                        f"the active model is now {active[0]}: its entries are embedded online with it")
            return
        if not self.store.entries(taken.id):
            # Its rows deleted, its source removed or its lease run out: no answer has a place (a probe).
            status, done = cancel_if_running(self.embedder, taken.provider_batch_id)
            self.finish(taken, status, None, None, f"no entry of it is left to write: {done}")
            return
        if taken.model != self.embedder.model:
            # Read with the configured model's dimensions: wait for one configured for it (or a cancel).
            self.store.note(taken, f"waiting for a processor configured for {taken.model}")
            report.in_progress += 1
            return
        state = self.api.check(taken.provider_batch_id)
        # Still running, or a source of its rows cannot take vectors (a column renamed): its answers
        # wait at the provider until it can (found by a probe: they were dropped, rows paid twice).
        waiting = state.status if state.running else self.store.blocked(taken.id)
        if waiting:
            self.store.note(taken, waiting)
            report.in_progress += 1
            return
        if state.input_file_id != taken.input_file_id:
            # Another batch's answers (a row pointed at the wrong batch): none is ours.
            self.finish(taken, state.status, None, None,
                        f"the provider's batch {taken.provider_batch_id} ran file {state.input_file_id}, "
                        f"not this batch's {taken.input_file_id}: nothing of it is written")
            return
        with result_file.downloaded(self.api, [state.output_file_id, state.error_file_id]) as files:
            try:
                answered, _ = result_file.check(files, taken.id, len(taken.request_sizes))
            except result_file.NotThisBatchError as exc:
                self.finish(taken, state.status, None, None, f"{exc}: nothing of it is written")
                return
            if state.succeeded and answered < (state.completed or 0):
                raise MalformedResponseError(f"the output file has {answered} of {state.completed} answers")
            self.registered = active is not None
            self._write(taken, files, None if state.succeeded else f"the batch ended {state.status}",
                        state.status)
        if self.online.setup_error:
            raise SetupError(self.online.setup_error)

    def _write(self, taken: TakenBatch, files: Sequence[IO[bytes] | None], why: str | None,
               status: str) -> None:
        """Every answered request through the online path; then the batch is closed."""
        entries: dict[int, list[BatchEntry]] = defaultdict(list)
        for entry in self.store.entries(taken.id):
            entries[entry.request].append(entry)
        run = self.report.run
        embedded, tokens = run.embedded, self.report.batch_tokens
        for request, response in result_file.records(files, taken.id, len(taken.request_sizes)):
            if response is not None:  # a line never run stays in the batch: finishing gives it back
                self._line(taken, entries.pop(request, []), taken.request_sizes[request], response)
        self.finish(taken, status, self.report.batch_tokens - tokens, run.embedded - embedded, why)

    def _line(self, taken: TakenBatch, entries: list[BatchEntry], sent: int,
              response: dict[str, Any]) -> None:
        """One answered request: its vectors written, its failures charged as online."""
        unit = ClaimResult()
        billed = self.api.billed_tokens(response, sent)
        resend: list[BatchEntry] = []
        try:
            answer = self.api.answer(response, sent)
        except BadVectorsError as exc:
            # Good rows are kept; a bad one gets its second look online, as online.
            good = [e for e in entries if e.position not in exc.bad]
            self._embedded(unit, good, exc.vectors)
            resend = [e for e in entries if e.position in exc.bad]
        except (InputRejectedError, MalformedResponseError):
            # Online splits a refused request until the bad input is alone, and asks
            # again for an answer it could not use (every vector short, a bad index).
            resend = entries
        except SetupError:
            return  # not the entries' fault: they stay in the batch, finishing gives them back
        except EmbeddingError as exc:  # a line refused for the provider's moment: one attempt
            unit.failures += [Failure(e.as_claimed(), str(exc), False) for e in entries]
        else:
            self._embedded(unit, entries, answer.vectors)
        if billed is None:  # no believable usage: our own count of what was sent
            resent_texts = self.store.texts(taken.id, [e.queue_id for e in entries]).values()
            billed = sum(self.embedder.prepare(text, exact=True).tokens for _, text, *_ in resent_texts)
        unit.tokens = billed
        self.report.batch_tokens += billed
        self._record(unit)
        if resend:
            self._resend(taken, resend)

    @staticmethod
    def _embedded(unit: ClaimResult, entries: list[BatchEntry], vectors: Any) -> None:
        if entries:
            unit.embedded += [e.as_claimed() for e in entries]
            unit.vectors.append(vectors[[e.position for e in entries]])

    def _resend(self, taken: TakenBatch, entries: list[BatchEntry]) -> None:
        """Send entries again online, as a claim of theirs would be (still under the batch's lease)."""
        texts = self.store.texts(taken.id, [e.queue_id for e in entries])
        items = [e.as_claimed(*texts[e.queue_id]) for e in entries if e.queue_id in texts]
        if items:
            self._record(self.online.run(items))

    def _record(self, unit: ClaimResult) -> None:
        """Write a unit as the drain does: the model is registered before its first vector
        (the provider answered for it; the first model of a database becomes active)."""
        if unit.embedded and not self.registered:
            self.db.register_model(self.embedder.model, self.embedder.dimensions)
            self.registered = True
        for part in unit.in_slices(self.settings.claim_size):
            record_claim(self.db, self.embedder.model, self.settings.max_attempts, part, self.report.run)

    def finish(self, taken: TakenBatch, status: str | None, tokens: int | None,
               embedded: int | None, why: str | None) -> None:
        """Close the batch (``why``: released); its unfinished entries go back, no attempt."""
        self.report.run.released += self.store.finish(taken.id, taken.check_token, status, tokens,
                                                      embedded, why)
        self.report.finished += 1
        log.info("batch %s (%s) %s: %s", taken.id, taken.provider_batch_id, status or "over",
                 why or f"{embedded} embedded, {tokens} tokens")

"""One run's carrier of provider batches: what a batch waits for, or why it is over, and the
writing of a finished one's answers through the online path (``carry.carry_forward`` runs it
over every open batch).

Each answered request becomes a ``ClaimResult`` written by ``accounting.record_claim``
(compare-and-set on each entry's lease and text hash), each vector placed by its request's
``custom_id`` and its ``index``, never by position. A request the provider refused for an input,
or answered with an unusable vector or an answer it cannot use, is sent again online through
``ClaimEmbedder``: the bad input alone fails, the others are embedded. Rows of a source that
cannot take vectors now stay in the batch, their answers kept at the provider.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from autoembed.accounting import RunReport, record_claim
from autoembed.claim_embedder import ClaimEmbedder
from autoembed.config import Settings
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


class Carrier:
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
        # A model no longer active first: any processor cancels its batch (found by a probe: it waited
        # for one configured for the old model, which refuses to run; its rows stayed processing).
        active = self.db.active_model()
        if active is not None and active[0] != taken.model:
            cancel(self.embedder, taken.provider_batch_id)  # its answers would be thrown away
            self.finish(taken, None, None, None,
                        f"the active model is now {active[0]}: its entries are embedded online with it")
            return
        entries = self.store.entries(taken.id)
        if not entries:
            # Its rows deleted, its source removed or its lease run out: no answer has a place (a probe).
            status, done, refused = cancel_if_running(self.embedder, taken.provider_batch_id)
            if refused:  # still running: kept, and listed, for the next run to cancel
                self._wait(taken, f"{status}; no entry of it is left to write, {done}: "
                                  "cancelled again by the next run")
            else:
                self.finish(taken, status, None, None, f"no entry of it is left to write: {done}")
            return
        if taken.model != self.embedder.model:
            # Read with the configured model's dimensions: wait for one configured for it (or a cancel).
            self._wait(taken, f"waiting for a processor configured for {taken.model}")
            return
        state = self.api.check(taken.provider_batch_id)
        if state.running:
            self._wait(taken, state.status)
            return
        # Rows of a source that cannot take vectors now (a column renamed) stay in the batch, their
        # answers kept (found by a probe: they were dropped and the rows paid twice); the others
        # are written. With nothing else to write, the answers are not even downloaded.
        held = self.store.held(taken.id)
        if held and all(e.queue_id in held for e in entries):
            self._hold(taken, state.status, held)
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
                        state.status, held)
        if self.online.setup_error:
            raise SetupError(self.online.setup_error)

    def _wait(self, taken: TakenBatch, note: str) -> None:
        """Leave the batch open, ``note`` shown for it (`autoembed batches`), for the next run."""
        self.store.note(taken, note)
        self.report.in_progress += 1

    def _hold(self, taken: TakenBatch, status: str, held: dict[int, str]) -> None:
        """Leave the batch open for its ``held`` entries: the provider's status, how many wait, why."""
        self._wait(taken, f"{status}; {len(held)} entries wait: {next(iter(held.values()))}")

    def _write(self, taken: TakenBatch, files: Sequence[IO[bytes] | None], why: str | None,
               status: str, held: dict[int, str]) -> None:
        """Every answered request's entries through the online path, but the ``held`` ones (every
        request's tokens are counted with the first part written); then the batch is closed, or
        left open while some wait."""
        entries: dict[int, list[BatchEntry]] = defaultdict(list)
        for entry in self.store.entries(taken.id):
            entries[entry.request].append(entry)
        run = self.report.run
        embedded, tokens, failed = run.embedded, self.report.batch_tokens, run.failed
        for request, response in result_file.records(files, taken.id, len(taken.request_sizes)):
            if response is None:
                continue  # a line never run stays in the batch: finishing gives it back
            line = entries.pop(request, [])
            ready = [e for e in line if e.queue_id not in held]
            # The provider billed every request once: all counted with the first part written.
            if ready or not taken.counted:
                self._line(taken, ready, taken.request_sizes[request], response, billed=not taken.counted)
        # This part's counts add to the batch's row (written in parts: some entries waited).
        part = (self.report.batch_tokens - tokens, run.embedded - embedded, run.failed - failed)
        totals = self.store.count_part(taken.id, taken.check_token, *part)
        if held:
            self._hold(taken, status, held)
        else:
            self.finish(taken, status, *(totals or part[:2]), why)

    def _line(self, taken: TakenBatch, entries: list[BatchEntry], sent: int,
              response: dict[str, Any], *, billed: bool = True) -> None:
        """One answered request: its vectors written, its failures charged as online; its
        tokens too unless ``billed`` is false (a part written before counted them)."""
        unit = ClaimResult()
        tokens = self.api.billed_tokens(response, sent) if billed else 0
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
        if tokens is None:  # no believable usage: our own count of what was sent
            resent_texts = self.store.texts(taken.id, [e.queue_id for e in entries]).values()
            tokens = sum(self.embedder.prepare(text, exact=True).tokens for _, text, *_ in resent_texts)
        unit.tokens = tokens
        self.report.batch_tokens += tokens
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
        items = [e.as_claimed(*texts[e.queue_id], resent=True) for e in entries if e.queue_id in texts]
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

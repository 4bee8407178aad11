"""Big backfills through OpenAI's Batch API: half the price, its own quota, nothing lost.

``submit`` reserves due entries into batches (each entry leased for the
batch's 24-hour window, so online runs leave it alone), writes each batch's
requests as a JSONL file within the Batch API's limits and the online
per-request ones, uploads it and creates the batch; it returns at once.
``carry_forward`` runs at the start of every run: it checks each open batch
(one call), and writes a finished one's results with the online
compare-and-set, each vector placed by its line's ``custom_id`` and its
``index``, never by position. A file that is missing, cut off or malformed
writes nothing and is read again by the next run; a check lease in the
database keeps two processors from carrying the same batch at once.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from autoembed import redact
from autoembed.batch_embedder import NO_TEXT
from autoembed.batching import pack
from autoembed.config import Settings
from autoembed.db import BatchEntry, ClaimedItem, Database, TakenBatch
from autoembed.embedders import model_mismatch
from autoembed.embedders.openai import OpenAIEmbedder
from autoembed.errors import (
    BadVectorsError,
    EmbeddingError,
    InputRejectedError,
    MalformedResponseError,
    SetupError,
)
from autoembed.failures import from_http
from autoembed.limits import BATCH_ENTRIES, OPENAI_BATCH_LIMITS, OPENAI_LIMITS
from autoembed.pricing import estimated_cost
from autoembed.tokens import Prepared

log = logging.getLogger(__name__)

# A check (status call, download, writes) holds its batch this long.
CHECK_LEASE_SECONDS = 600.0
IN_PROGRESS = ("validating", "in_progress", "finalizing", "cancelling")


@dataclass
class Submitted:
    """A batch handed to the provider."""

    batch: int
    provider_batch_id: str
    entries: int
    requests: int
    tokens: int
    batch_cost_usd: float
    online_cost_usd: float


@dataclass
class BatchReport:
    """What carrying the open batches forward did in one run."""

    checked: int = 0
    in_progress: int = 0
    finished: int = 0
    embedded: int = 0
    failed: int = 0
    retried: int = 0
    stale: int = 0
    released: int = 0
    tokens: int = 0
    errors: list[str] = field(default_factory=list)


def submit(db: Database, settings: Settings, embedder: OpenAIEmbedder,
           *, max_entries: int | None = None) -> list[Submitted]:
    """Send the due backlog (or ``max_entries`` of it) as batches; returns what was sent."""
    sent: list[Submitted] = []
    left = max_entries
    while left is None or left > 0:
        size = min(BATCH_ENTRIES, left or BATCH_ENTRIES)
        batch, items = db.reserve_batch(size, embedder.model)
        if batch is None:
            break
        try:
            sent.append(_submit_one(db, settings, embedder, batch, items))
        except BaseException as exc:
            db.finish_batch(batch, None, None, None, None, f"not submitted: {redact.error(exc)}")
            raise
        if left is not None:
            left -= len(items)
    return sent


def _submit_one(db: Database, settings: Settings, embedder: OpenAIEmbedder, batch: int,
                items: Sequence[ClaimedItem]) -> Submitted:
    blank = [i for i in items if not (i.content or "").strip()]
    if blank:
        db.fail(blank, [NO_TEXT] * len(blank), [True] * len(blank), settings.max_attempts)
    prepared = [(i, embedder.prepare(i.content, exact=True)) for i in items if (i.content or "").strip()]
    for item, p in prepared:
        if p.truncated:
            log.warning("job %s: input truncated from %s to %s tokens", item.job_id,
                        p.original_tokens, p.tokens)
    lines, sizes, placements, tokens, size, kept = _file(embedder, batch, prepared)
    if kept < len(prepared):  # the rest did not fit the file: due again, for a later batch
        db.leave_batch(batch, [item.queue_id for item, _ in prepared[kept:]])
    if not lines:
        db.finish_batch(batch, None, None, 0, 0, "no text to send")
        return Submitted(batch, "", 0, 0, 0, 0.0, 0.0)
    db.place_batch(batch, placements)
    content = b"".join(lines)
    with embedder.provider_errors():
        uploaded = embedder.client.files.create(file=(f"autoembed-{batch}.jsonl", content),
                                                purpose="batch")
        created = embedder.client.batches.create(
            input_file_id=uploaded.id, endpoint="/v1/embeddings",
            completion_window=OPENAI_BATCH_LIMITS.completion_window,
            metadata={"autoembed_batch": str(batch)})
    cost = estimated_cost(embedder.model, tokens, batch=True)
    if not db.submit_batch(batch, created.id, uploaded.id, sizes, tokens, cost):
        # Given back meanwhile (taken for abandoned after an hour): its
        # entries may be online work by now, so the provider's copy goes.
        cancel(embedder, created.id)
        raise MalformedResponseError(f"batch {batch} was given back while it was being sent")
    log.info("batch %s (%s) submitted: %s entries in %s requests, %s bytes, ~%s tokens",
             batch, created.id, kept, len(lines), size, tokens)
    return Submitted(batch, created.id, kept, len(lines), tokens, cost,
                     estimated_cost(embedder.model, tokens))


def _file(embedder: OpenAIEmbedder, batch: int, prepared: Sequence[tuple[ClaimedItem, Prepared]]
          ) -> tuple[list[bytes], list[int], list[tuple[int, int, int]], int, int, int]:
    """JSONL lines within the file's limits, their sizes, (queue_id, request, position) of each
    entry, tokens, bytes, and how many entries fit."""
    ranges = pack([p.tokens for _, p in prepared], max_inputs=OPENAI_LIMITS.max_inputs,
                  max_tokens=OPENAI_LIMITS.max_request_tokens)
    lines: list[bytes] = []
    sizes: list[int] = []
    placements: list[tuple[int, int, int]] = []
    tokens = size = kept = 0
    for n, span in enumerate(ranges):
        chunk = [prepared[i] for i in span]
        line = orjson.dumps({"custom_id": f"{batch}:{n}", "method": "POST", "url": "/v1/embeddings",
                             "body": embedder.request_body([p.text for _, p in chunk])}) + b"\n"
        if (len(lines) >= OPENAI_BATCH_LIMITS.max_requests
                or size + len(line) > OPENAI_BATCH_LIMITS.max_file_bytes):
            break
        lines.append(line)
        sizes.append(len(chunk))
        placements += [(item.queue_id, n, k) for k, (item, _) in enumerate(chunk)]
        tokens += sum(p.tokens for _, p in chunk)
        size += len(line)
        kept += len(chunk)
    return lines, sizes, placements, tokens, size, kept


def carry_forward(db: Database, settings: Settings, embedder: OpenAIEmbedder,
                  deadline: float | None = None) -> BatchReport:
    """Check every open batch once, one after the other, and write the finished ones'
    results; a batch not reached by ``deadline`` (monotonic) is left to the next run.

    A 404 means the provider no longer has the batch or its file: the batch is
    over and its entries go back to work. A 403 (a key without access to the
    Batch API) leaves every batch to a processor with another key and lets the
    run go on online. A refused key (401) or no quota stops the run, as online.
    """
    report = BatchReport()
    taken_batches = db.take_batches(CHECK_LEASE_SECONDS)
    for n, taken in enumerate(taken_batches):
        if deadline is not None and time.monotonic() >= deadline:
            for rest in taken_batches[n:]:
                db.note_batch(rest, None)  # frees its check for the next run
            break
        report.checked += 1
        try:
            _carry(db, settings, embedder, taken, report)
        except SetupError as exc:
            if exc.status == 404:
                report.released += db.finish_batch(
                    taken.id, taken.check_token, None, None, None,
                    f"the provider no longer has it: {redact.error(exc, with_type=False)}")
                report.finished += 1
                continue
            for rest in taken_batches[n:]:
                db.note_batch(rest, None)
            if exc.status == 403:
                note = f"batches not checked: {redact.error(exc, with_type=False)}"
                log.warning(note)
                report.errors.append(note)
                break
            raise
        except EmbeddingError as exc:  # unreadable results, provider away: the next run reads again
            note = f"batch {taken.id} not read: {redact.error(exc, with_type=False)}"
            log.warning(note)
            report.errors.append(note)
            db.note_batch(taken, None)
    return report


def cancel(embedder: OpenAIEmbedder, provider_batch_id: str) -> str | None:
    """Cancel a batch at the provider; why it could not be, or None."""
    try:
        with embedder.provider_errors():
            embedder.client.batches.cancel(provider_batch_id)
    except EmbeddingError as exc:
        return redact.error(exc, with_type=False)
    return None


def _carry(db: Database, settings: Settings, embedder: OpenAIEmbedder, taken: TakenBatch,
           report: BatchReport) -> None:
    if taken.model != embedder.model:
        # Its vectors are read with the configured model's dimensions: wait for a
        # processor configured for it (`autoembed batches cancel` gives it up).
        db.note_batch(taken, f"waiting for a processor configured for {taken.model}")
        report.in_progress += 1
        return
    active = db.active_model()
    if active is not None and active[0] != taken.model:
        cancel(embedder, taken.provider_batch_id)  # its answers would be thrown away
        report.released += db.finish_batch(
            taken.id, taken.check_token, None, None, None,
            f"the active model is now {active[0]}: its entries are embedded online with it")
        report.finished += 1
        return
    with embedder.provider_errors():
        info = embedder.client.batches.retrieve(taken.provider_batch_id)
    status = str(info.status)
    if status in IN_PROGRESS:
        db.note_batch(taken, status)
        report.in_progress += 1
        return
    outputs = list(_records(embedder, info.output_file_id, taken))
    errors = list(_records(embedder, info.error_file_id, taken))
    counts = getattr(info, "request_counts", None)
    if counts is not None and status == "completed" and len(outputs) < int(counts.completed or 0):
        raise MalformedResponseError(f"the output file has {len(outputs)} of {counts.completed} answers")
    if outputs and active is None:
        # The provider answered for this model: the first model of a database becomes active.
        db.register_model(embedder.model, embedder.dimensions)
    entries: dict[int, list[BatchEntry]] = defaultdict(list)
    for entry in db.batch_entries(taken.id):
        entries[entry.request].append(entry)
    embedded = tokens = 0
    for request, response in outputs:
        done, used = _write(db, settings, embedder, taken, entries.pop(request, []), request, response,
                            report)
        embedded += done
        tokens += used
    for request, response in errors:
        _fail(db, settings, entries.pop(request, []), response, report)
    why = None if status == "completed" else f"the batch ended {status}"
    report.released += db.finish_batch(taken.id, taken.check_token, status, tokens, embedded, why)
    report.finished += 1
    report.tokens += tokens
    log.info("batch %s (%s) %s: %s embedded, %s tokens", taken.id, taken.provider_batch_id, status,
             embedded, tokens)


def _records(embedder: OpenAIEmbedder, file_id: str | None, taken: TakenBatch
             ) -> Iterator[tuple[int, dict[str, Any] | None]]:
    """(request number, response) of each line of a result file, all checked before any is used."""
    if not file_id:
        return
    with embedder.provider_errors():
        content = embedder.client.files.content(file_id).read()
    records: list[tuple[int, dict[str, Any] | None]] = []
    for number, line in enumerate(content.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = orjson.loads(line)  # a cut-off file fails here: nothing is written
        except ValueError as exc:
            raise MalformedResponseError(f"line {number} of the result file: {exc}") from None
        if not isinstance(record, dict):
            raise MalformedResponseError(f"line {number} of the result file is not an object")
        custom_id = str(record.get("custom_id") or "")
        head, _, tail = custom_id.partition(":")
        if head != str(taken.id) or not tail.isdigit() or int(tail) >= len(taken.request_sizes):
            raise MalformedResponseError(f"line {number} has custom_id {custom_id!r}, not of this batch")
        # A line the batch never ran (expired, cancelled) has no response.
        response = record.get("response")
        records.append((int(tail), response if isinstance(response, dict) else None))
    yield from records


def _write(db: Database, settings: Settings, embedder: OpenAIEmbedder, taken: TakenBatch,
           entries: list[BatchEntry], request: int, response: dict[str, Any] | None,
           report: BatchReport) -> tuple[int, int]:
    """Write one answered request's vectors; (embedded, tokens)."""
    if response is None or response.get("status_code") != 200:
        _fail(db, settings, entries, response, report)
        return 0, 0
    sent = taken.request_sizes[request]
    good: list[BatchEntry] = entries
    bad: list[BatchEntry] = []
    try:
        answer = embedder.decode(response.get("body"), sent)
        vectors, tokens = answer.vectors, answer.tokens or 0
    except BadVectorsError as exc:
        vectors, tokens = exc.vectors, exc.tokens or 0
        bad = [e for e in entries if e.position in exc.bad]
        good = [e for e in entries if e.position not in exc.bad]
    except MalformedResponseError as exc:
        _retry(db, settings, entries, f"the batch answered badly: {exc}", report)
        return 0, 0
    if bad:
        _retry(db, settings, bad, "the batch returned an unusable vector", report)
    if not good:
        return 0, tokens
    outcomes = db.complete(_claimed(good), vectors[[e.position for e in good]], embedder.model)
    done = sum(1 for o in outcomes.values() if o == "embedded")
    report.embedded += done
    # An entry edited or deleted since its batch left it: its old text's vector is dropped.
    report.stale += len(good) - done
    return done, tokens


def _fail(db: Database, settings: Settings, entries: list[BatchEntry],
          response: dict[str, Any] | None, report: BatchReport) -> None:
    """A line the provider refused: for good when it is the input's fault, else one attempt.
    A line never run (no response) or refused for the setup is not the entries' attempt:
    they stay in the batch, and finishing it gives them back."""
    if not entries or response is None:
        return
    body = response.get("body") or {}
    error = body.get("error") if isinstance(body, dict) else None
    message = str(error.get("message")) if isinstance(error, dict) else "the batch line failed"
    kind = from_http(int(response.get("status_code") or 500), message)
    if isinstance(kind, SetupError):
        return
    _retry(db, settings, entries, str(kind), report, permanent=isinstance(kind, InputRejectedError))


def _retry(db: Database, settings: Settings, entries: list[BatchEntry], why: str,
           report: BatchReport, *, permanent: bool = False) -> None:
    """Count one attempt for each entry (or fail them for good), with ``why``."""
    outcomes = db.fail(_claimed(entries), [why] * len(entries), [permanent] * len(entries),
                       settings.max_attempts)
    report.failed += sum(1 for o in outcomes.values() if o == "failed")
    report.retried += sum(1 for o in outcomes.values() if o == "retry")


def _claimed(entries: list[BatchEntry]) -> list[ClaimedItem]:
    """Batch entries as the online queue calls take them (lease and hash are what count)."""
    return [ClaimedItem(e.queue_id, 0, e.lease_token, 0, "", e.content_hash) for e in entries]


def before_online(db: Database, settings: Settings, embedder: OpenAIEmbedder, *,
                  open_batches: bool, long_run: bool, deadline: float | None = None) -> str | None:
    """A run's Batch API part, before it embeds online: carry the open batches forward
    (``open_batches``: the run found some) until ``deadline`` and, in a run that may
    take minutes, send the due backlog as batches when it reaches
    ``EMBEDDING_BATCH_API_THRESHOLD``. What was done, for the run's report, or None.
    Raises SetupError only for what stops online runs too."""
    notes: list[str] = []
    if open_batches:
        started = datetime.now(UTC)
        carried = carry_forward(db, settings, embedder, deadline)
        if carried.finished:
            db.record_run(started, embedder.model, _run_record(carried, embedder.model))
        notes.append(f"batches checked {carried.checked}, in progress {carried.in_progress}, "
                     f"finished {carried.finished} ({carried.embedded} embedded, {carried.failed} "
                     f"failed, {carried.retried} retrying, {carried.released} back in the queue)")
        notes += carried.errors
    threshold = settings.batch_api_threshold
    if long_run and threshold and db.due_count() >= threshold:
        if mismatch := model_mismatch(db.active_model(), embedder):
            notes.append(f"nothing sent to the Batch API: {mismatch}")
            return "; ".join(notes)
        try:
            sent = submit(db, settings, embedder)
        except EmbeddingError as exc:
            if isinstance(exc, SetupError) and exc.status not in (403, 404):
                raise  # a refused key or no quota: online fails the same way
            # The Batch API is away or closed to this key: embed online meanwhile.
            notes.append(f"nothing sent to the Batch API: {redact.error(exc, with_type=False)}")
            log.warning(notes[-1])
            return "; ".join(notes)
        notes.append(f"{sum(s.entries for s in sent)} entries sent in {len(sent)} Batch API batches "
                     f"(estimated ${sum(s.batch_cost_usd for s in sent):.6f})")
    return "; ".join(notes) or None


def _run_record(carried: BatchReport, model: str) -> dict[str, Any]:
    """A run record for the batches a run finished, at the Batch API's price."""
    return {"claimed": carried.embedded + carried.failed + carried.retried + carried.stale,
            "embedded": carried.embedded, "failed": carried.failed, "retried": carried.retried,
            "released": carried.released, "stale": carried.stale, "tokens": carried.tokens,
            "requests": 0, "provider_retries": 0, "truncated_job_ids": [],
            "estimated_cost_usd": estimated_cost(model, carried.tokens, batch=True),
            "skipped_current": 0, "lost": 0, "setup_error": None}

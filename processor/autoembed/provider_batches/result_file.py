"""A provider batch's result files, streamed: downloaded to disk, checked whole, then read.

A result file may be 85 MB (10,000 vectors in base64) padded with any number
of blank lines: it goes to a temporary file in chunks and is read back a
chunk at a time, so memory holds one line (one request's answer) at most.
The whole file is checked before any line is used: a file cut off in
transit writes nothing and is read again by the next run; a line naming a
request not of this batch (``NotThisBatchError``) means the file is not
this batch's, and nothing of it is written.
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import IO, Any

from autoembed.embedders.base import BatchAPI
from autoembed.errors import MalformedResponseError

log = logging.getLogger(__name__)

CHUNK = 1 << 20
_NEWLINES = re.compile(rb"\n+")  # a run of blank lines splits as one newline
# (request number, the provider's response to it, or None: a line the batch never ran)
Record = tuple[int, dict[str, Any] | None]


class NotThisBatchError(MalformedResponseError):
    """A result file names a request this batch never sent."""


@contextmanager
def downloaded(api: BatchAPI, file_ids: Sequence[str | None]) -> Iterator[list[IO[bytes] | None]]:
    """The result files, each streamed into a temporary file of its own (None: no such file)."""
    with ExitStack() as stack:
        files: list[IO[bytes] | None] = []
        for file_id in file_ids:
            out = None
            if file_id:
                out = stack.enter_context(tempfile.TemporaryFile(prefix="autoembed-results-"))
                api.download(file_id, out)
            files.append(out)
        yield files


def lines(f: IO[bytes]) -> Iterator[bytes]:
    """The non-blank lines of a file, read a chunk at a time."""
    f.seek(0)
    pending: list[bytes] = []
    while chunk := f.read(CHUNK):
        parts = _NEWLINES.split(chunk)
        if len(parts) == 1:
            pending.append(chunk)
            continue
        first = b"".join([*pending, parts[0]]) if pending else parts[0]
        pending = [parts[-1]] if parts[-1] else []
        if first.strip():
            yield first
        yield from (part for part in parts[1:-1] if part.strip())
    last = b"".join(pending)
    if last.strip():
        yield last


def records(files: Sequence[IO[bytes] | None], batch: int, requests: int) -> Iterator[Record]:
    """Each request's record once, in file order; a repeated line is skipped (and logged)."""
    seen: set[int] = set()
    for f in files:
        if f is None:
            continue
        for number, line in enumerate(lines(f), 1):
            request, response = _record(line, number, batch, requests)
            if request in seen:
                log.warning("batch %s: request %s answered twice; the repeat is ignored", batch, request)
                continue
            seen.add(request)
            yield request, response


def check(files: Sequence[IO[bytes] | None], batch: int, requests: int) -> list[int]:
    """Read every line once before any is used; how many requests each file answers.
    Raises MalformedResponseError (NotThisBatchError) for a file that cannot be used."""
    return [sum(1 for _ in records([f], batch, requests)) for f in files]


def _record(line: bytes, number: int, batch: int, requests: int) -> Record:
    try:
        # A cut-off file fails here: nothing is written. The standard parser holds
        # about twice a line; orjson's peaks at 13 times (220 MB for one 2,048-input line).
        record = json.loads(line)
    except ValueError as exc:
        raise MalformedResponseError(f"record {number} of the result file: {exc}") from None
    if not isinstance(record, dict):
        raise MalformedResponseError(f"record {number} of the result file is not an object")
    custom_id = str(record.get("custom_id") or "")
    head, _, tail = custom_id.partition(":")
    if head != str(batch) or not tail.isdigit() or int(tail) >= requests:
        raise NotThisBatchError(f"record {number} has custom_id {custom_id[:60]!r}, not of this batch")
    # A line the batch never ran (expired, cancelled) has no response.
    response = record.get("response")
    return int(tail), response if isinstance(response, dict) else None

"""OpenAI's Files and Batches endpoints for the fake API, as the official SDK calls them.

``POST /v1/files`` (multipart: ``purpose``, ``file``), ``GET /v1/files/{id}``,
``GET /v1/files/{id}/content``, ``POST /v1/batches`` (with its ``metadata``), ``GET /v1/batches``
(newest first), ``GET /v1/batches/{id}``, ``POST /v1/batches/{id}/cancel``. A batch is ``validating``, then
``in_progress``, and after ``delay`` seconds ``completed``: each line of its
input file is answered by the fake's own ``/v1/embeddings`` (so markers and
faults apply), successes to the output file and failures to the error file,
placed by ``custom_id``. Knobs: ``delay``, ``outcome`` (``completed``,
``failed``, ``expired``: an expired batch answers the first ``expire_after``
lines only), ``truncate_output`` (result files arrive cut in half),
``foreign_custom_id`` (the output file's first line names another batch's
request), ``duplicate_lines`` (every output line written twice).
"""

from __future__ import annotations

import email.parser
import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Answer = tuple[int, dict[str, str], bytes]

_ids = itertools.count(1)


@dataclass
class _Batch:
    id: str
    input_file_id: str
    created_at: float
    status: str = "validating"
    output_file_id: str | None = None
    error_file_id: str | None = None
    counts: dict[str, int] = field(default_factory=lambda: {"total": 0, "completed": 0, "failed": 0})
    errors: list[dict[str, Any]] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "object": "batch", "endpoint": "/v1/embeddings",
                "input_file_id": self.input_file_id, "completion_window": "24h",
                "status": self.status, "output_file_id": self.output_file_id,
                "error_file_id": self.error_file_id, "created_at": int(self.created_at),
                "request_counts": dict(self.counts), "metadata": dict(self.metadata) or None,
                "errors": {"object": "list", "data": self.errors} if self.errors else None}


class FakeBatches:
    """The Files and Batches state of one fake server; ``embed`` answers one line's body."""

    def __init__(self, embed: Callable[[dict[str, Any]], Answer]) -> None:
        self._embed = embed
        self.lock = threading.Lock()
        self.files: dict[str, tuple[str, bytes]] = {}  # id -> (purpose, content)
        self.batches: dict[str, _Batch] = {}
        self.delay = 0.0
        self.outcome = "completed"
        self.expire_after = 0
        self.truncate_output = False
        self.foreign_custom_id = False
        self.duplicate_lines = False
        self.content_downloads = 0
        # Seconds a result file's download takes (a processor can be killed meanwhile).
        self.download_delay = 0.0
        # (status, message) answered to every Files and Batches call: a revoked key.
        self.refuse: tuple[int, str] | None = None

    def reset(self) -> None:
        with self.lock:
            self.files.clear()
            self.batches.clear()
            self.delay, self.outcome, self.expire_after = 0.0, "completed", 0
            self.truncate_output = self.foreign_custom_id = self.duplicate_lines = False
            self.content_downloads = 0
            self.download_delay, self.refuse = 0.0, None

    def handle(self, method: str, path: str, headers: Any, raw: bytes) -> Answer | None:
        """The answer to a Files or Batches call, or None for another path."""
        parts = path.split("?", 1)[0].strip("/").split("/")
        if parts[:2] in (["v1", "files"], ["v1", "batches"]) and self.refuse:
            return _error(*self.refuse)
        if parts[:2] == ["v1", "files"]:
            if method == "POST" and len(parts) == 2:
                return self._upload(headers.get("Content-Type", ""), raw)
            if method == "GET" and len(parts) == 3:
                return self._file(parts[2])
            if method == "GET" and len(parts) == 4 and parts[3] == "content":
                return self._content(parts[2])
        if parts[:2] == ["v1", "batches"]:
            if method == "POST" and len(parts) == 2:
                return self._create(raw)
            if method == "GET" and len(parts) == 2:  # newest first, one page
                with self.lock:
                    data = [b.as_json() for b in sorted(self.batches.values(), key=lambda b: -b.created_at)]
                return _ok({"object": "list", "data": data, "has_more": False})
            if method == "GET" and len(parts) == 3:
                return self._retrieve(parts[2])
            if method == "POST" and len(parts) == 4 and parts[3] == "cancel":
                return self._cancel(parts[2])
        return None

    def _upload(self, content_type: str, raw: bytes) -> Answer:
        message = email.parser.BytesParser().parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + raw)
        fields: dict[str, bytes] = {}
        for part in message.walk():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            if isinstance(name, str) and isinstance(payload, bytes):
                fields[name] = payload
        if "file" not in fields or fields.get("purpose") != b"batch":
            return _error(400, "a file with purpose=batch is required")
        file_id = f"file-{next(_ids)}"
        with self.lock:
            self.files[file_id] = ("batch", fields["file"])
        return _ok(self._file_json(file_id, "batch", fields["file"]))

    def _file(self, file_id: str) -> Answer:
        with self.lock:
            found = self.files.get(file_id)
        if found is None:
            return _error(404, f"No such File object: {file_id}")
        return _ok(self._file_json(file_id, *found))

    @staticmethod
    def _file_json(file_id: str, purpose: str, content: bytes) -> dict[str, Any]:
        return {"id": file_id, "object": "file", "bytes": len(content), "created_at": int(time.time()),
                "filename": f"{file_id}.jsonl", "purpose": purpose, "status": "processed"}

    def _content(self, file_id: str) -> Answer:
        with self.lock:
            found = self.files.get(file_id)
            self.content_downloads += 1
        if found is None:
            return _error(404, f"No such File object: {file_id}")
        purpose, content = found
        if purpose == "batch_output" and self.download_delay:
            time.sleep(self.download_delay)
        if purpose == "batch_output" and self.truncate_output:
            content = content[: len(content) // 2]  # cut off in transit
        return 200, {"Content-Type": "application/octet-stream"}, content

    def _create(self, raw: bytes) -> Answer:
        try:
            body = json.loads(raw)
        except ValueError:
            return _error(400, "invalid JSON body")
        file_id = body.get("input_file_id")
        if body.get("endpoint") != "/v1/embeddings" or body.get("completion_window") != "24h":
            return _error(400, "endpoint must be /v1/embeddings and completion_window 24h")
        with self.lock:
            if file_id not in self.files:
                return _error(404, f"No such File object: {file_id}")
            batch = _Batch(id=f"batch_{next(_ids)}", input_file_id=file_id, created_at=time.time(),
                           metadata=dict(body.get("metadata") or {}))
            self.batches[batch.id] = batch
        return _ok(batch.as_json())

    def _retrieve(self, batch_id: str) -> Answer:
        with self.lock:
            batch = self.batches.get(batch_id)
            if batch is None:
                return _error(404, f"No such Batch object: {batch_id}")
            if batch.status in ("validating", "in_progress"):
                batch.status = "in_progress"
                if time.time() - batch.created_at >= self.delay:
                    self._finish(batch)
            return _ok(batch.as_json())

    def _cancel(self, batch_id: str) -> Answer:
        with self.lock:
            batch = self.batches.get(batch_id)
            if batch is None:
                return _error(404, f"No such Batch object: {batch_id}")
            if batch.status in ("validating", "in_progress"):
                batch.status = "cancelled"
                lines = [line for line in self.files[batch.input_file_id][1].splitlines() if line.strip()]
                self._never_run(batch, lines, "batch_cancelled",
                                "This request was not executed because the batch was cancelled.")
            return _ok(batch.as_json())

    def _finish(self, batch: _Batch) -> None:
        """Answer the lines (lock held): completed, failed (none answered) or expired (some)."""
        if self.outcome == "failed":
            batch.status = "failed"
            batch.errors = [{"code": "invalid_request", "message": "the batch input is invalid",
                             "line": None, "param": None}]
            return
        lines = [line for line in self.files[batch.input_file_id][1].splitlines() if line.strip()]
        unrun: list[bytes] = []
        if self.outcome == "expired":
            lines, unrun = lines[: self.expire_after], lines[self.expire_after:]
        out: list[str] = []
        err: list[str] = []
        batch.counts["total"] = len(lines)
        for n, line in enumerate(lines):
            request = json.loads(line)
            status, _, body = self._embed(request.get("body") or {})
            record = {"id": f"batch_req_{n}", "custom_id": request.get("custom_id"),
                      "response": {"status_code": status, "request_id": f"req_{n}",
                                   "body": json.loads(body)}, "error": None}
            (out if status == 200 else err).append(json.dumps(record))
            batch.counts["completed" if status == 200 else "failed"] += 1
        if out and self.foreign_custom_id:
            out[0] = out[0].replace('"custom_id": "', '"custom_id": "999', 1)
        if self.duplicate_lines:
            out = [line for line in out for _ in (1, 2)]
        if out:
            content = "\n".join(out).encode() + b"\n"
            batch.output_file_id = f"file-{next(_ids)}"
            self.files[batch.output_file_id] = ("batch_output", content)
        if err:
            batch.error_file_id = f"file-{next(_ids)}"
            self.files[batch.error_file_id] = ("batch_output", "\n".join(err).encode() + b"\n")
        if unrun:  # as OpenAI does: the lines not run, in the error file, without a response
            self._never_run(batch, unrun, "batch_expired",
                            "This request could not be executed before the completion window expired.")
        batch.status = "expired" if self.outcome == "expired" else "completed"

    def _never_run(self, batch: _Batch, lines: list[bytes], code: str, message: str) -> None:
        """Add the lines a batch never ran to its error file (lock held)."""
        records = [json.dumps({"id": f"batch_req_x{n}", "custom_id": json.loads(line).get("custom_id"),
                               "response": None, "error": {"code": code, "message": message}})
                   for n, line in enumerate(lines)]
        old = self.files[batch.error_file_id][1] if batch.error_file_id else b""
        batch.error_file_id = batch.error_file_id or f"file-{next(_ids)}"
        self.files[batch.error_file_id] = ("batch_output", old + "\n".join(records).encode() + b"\n")
        batch.counts["failed"] += len(lines)


def _ok(body: dict[str, Any]) -> Answer:
    return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()


def _error(status: int, message: str) -> Answer:
    body = {"error": {"message": message, "type": "invalid_request_error", "param": None,
                      "code": None}}
    return status, {"Content-Type": "application/json"}, json.dumps(body).encode()

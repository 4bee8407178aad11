"""OpenAI's Batch API behind ``embedders.base.BatchAPI``: Files and Batches through the SDK.

Only the provider's vocabulary lives here (its statuses, its files, its
JSONL lines); what a batch's answers mean and how they are written is
processor/autoembed/provider_batches/'.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, BinaryIO, Protocol

import orjson

from autoembed import failures
from autoembed.embedders.base import Embeddings, ProviderBatch
from autoembed.embedders.openai_answers import error_detail
from autoembed.limits import OPENAI_BATCH_LIMITS

# The statuses of a batch the provider has not finished with.
RUNNING = frozenset({"validating", "in_progress", "finalizing", "cancelling"})
_CHUNK = 1 << 20


class _Client(Protocol):
    """What the Batch API needs of the OpenAI embedder."""

    @property
    def client(self) -> Any: ...

    def provider_errors(self) -> AbstractContextManager[None]: ...

    def request_body(self, texts: Sequence[str]) -> dict[str, Any]: ...

    def decode(self, payload: Any, count: int) -> Embeddings: ...

    def reported_tokens(self, payload: Any, count: int) -> int | None: ...


class OpenAIBatchAPI:
    """``/v1/files`` and ``/v1/batches`` for the embedder's model and key."""

    limits = OPENAI_BATCH_LIMITS

    def __init__(self, embedder: _Client) -> None:
        self._embedder = embedder

    def request_line(self, custom_id: str, texts: Sequence[str]) -> bytes:
        return orjson.dumps({"custom_id": custom_id, "method": "POST", "url": "/v1/embeddings",
                             "body": self._embedder.request_body(texts)}) + b"\n"

    def send(self, name: str, content: bytes, metadata: Mapping[str, str]) -> tuple[str, str]:
        client = self._embedder.client
        with self._embedder.provider_errors():
            uploaded = client.files.create(file=(name, content), purpose="batch")
            created = client.batches.create(input_file_id=uploaded.id, endpoint="/v1/embeddings",
                                            completion_window=self.limits.completion_window,
                                            metadata=dict(metadata))
        return str(created.id), str(uploaded.id)

    def find(self, metadata: Mapping[str, str], since: float) -> tuple[str, str] | None:
        client = self._embedder.client
        with self._embedder.provider_errors():
            for batch in client.batches.list(limit=100):  # newest first; the SDK fetches each page
                if int(batch.created_at) < since - 300:  # created before it could have been sent
                    break
                if dict(batch.metadata or {}).items() >= dict(metadata).items():
                    return str(batch.id), str(batch.input_file_id)
        return None

    def check(self, provider_batch_id: str) -> ProviderBatch:
        client = self._embedder.client
        with self._embedder.provider_errors():
            info = client.batches.retrieve(provider_batch_id)
        counts = getattr(info, "request_counts", None)
        completed = getattr(counts, "completed", None)
        status = str(info.status)
        return ProviderBatch(running=status in RUNNING, succeeded=status == "completed", status=status,
                             input_file_id=getattr(info, "input_file_id", None),
                             output_file_id=info.output_file_id, error_file_id=info.error_file_id,
                             completed=int(completed) if completed is not None else None)

    def download(self, file_id: str, out: BinaryIO) -> None:
        client = self._embedder.client
        with (self._embedder.provider_errors(),
              client.files.with_streaming_response.content(file_id) as response):
            for chunk in response.iter_bytes(_CHUNK):
                out.write(chunk)

    def cancel(self, provider_batch_id: str) -> None:
        client = self._embedder.client
        with self._embedder.provider_errors():
            client.batches.cancel(provider_batch_id)

    def answer(self, response: Mapping[str, Any], count: int) -> Embeddings:
        body = response.get("body")
        status = response.get("status_code")
        message, code = error_detail(body, "the batch line failed")
        if error := failures.line_error(status if isinstance(status, int) else 500, message, code):
            raise error
        return self._embedder.decode(body, count)

    def billed_tokens(self, response: Mapping[str, Any], count: int) -> int | None:
        status = response.get("status_code")
        if failures.line_error(status if isinstance(status, int) else 500, "") is not None:
            return 0  # a refused line is not billed
        return self._embedder.reported_tokens(response.get("body"), count)

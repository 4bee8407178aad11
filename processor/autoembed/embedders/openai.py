"""The OpenAI embedder: the official SDK, any OpenAI-compatible base_url."""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any

import orjson

from autoembed import failures
from autoembed.config import Settings
from autoembed.embedders.base import Embeddings
from autoembed.embedders.openai_answers import decode_answer, error_detail, reported_tokens, retry_after
from autoembed.embedders.openai_batches import OpenAIBatchAPI
from autoembed.errors import ConfigError, MalformedResponseError, RetryableEmbeddingError, SetupError
from autoembed.limits import OPENAI_LIMITS
from autoembed.pacing import TokenPacer
from autoembed.tokens import Prepared, byte_bound, openai_tokenizer

log = logging.getLogger(__name__)

# The answer is handed over unread (the SDK's own "stream" mode, as its
# with_streaming_response uses), so the request timeout bounds the whole answer:
# the SDK's timeout bounds each read, and a provider dripping its body would
# hold a run (and a processor's shutdown) far past it.
_STREAMED: Any = {"headers": {"Content-Type": "application/json", "X-Stainless-Raw-Response": "stream"}}

NATIVE_DIMENSIONS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}


class OpenAIEmbedder:
    """Calls ``/v1/embeddings`` asking for base64, decoded straight to float32.

    The SDK's own retries are off (``max_retries=0``): the drain loop retries
    with backoff that honours Retry-After, so no request is retried at two layers.
    """

    limits = OPENAI_LIMITS

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._api_model = settings.model
        native = NATIVE_DIMENSIONS.get(settings.model)
        dimensions = check(settings)
        self.dimensions = dimensions
        # Shortened vectors are another model as far as search is concerned.
        self.model = model_key(settings.model, dimensions, native)
        # `dimensions` is sent only when it shortens a text-embedding-3 model.
        self._request_dimensions = dimensions if dimensions != native else None
        self._pacer = TokenPacer() if settings.pacing else None
        self._lock = threading.Lock()
        self._client: Any = None
        self._openai: Any = None
        self._httpx: Any = None
        self._timeout = settings.request_timeout_seconds
        self.batch_api = OpenAIBatchAPI(self)

    @property
    def client(self) -> Any:
        """The SDK's client, made on first use. Importing the SDK costs about
        0.6 s of CPU: a run's first claims go on meanwhile, and a run with
        nothing to embed never pays it."""
        with self._lock:
            if self._client is None:
                import httpx2
                import openai

                try:
                    self._client = openai.OpenAI(
                        api_key=self._settings.openai_api_key,
                        base_url=self._settings.openai_base_url,
                        max_retries=0,
                        timeout=self._settings.request_timeout_seconds,
                    )
                except openai.OpenAIError as exc:  # no key anywhere
                    raise SetupError(f"the OpenAI client cannot start: {exc}") from None
                self._openai, self._httpx = openai, httpx2
                # The SDK's modules and types (some 70,000 objects the cyclic
                # collector tracks) live as long as the process: frozen, full
                # collections stop walking them (about 5 % of the processor's CPU
                # in a 20,000-job drain).
                gc.freeze()
            return self._client

    def warm_up(self) -> None:
        """Start making the client in a thread of its own: the run connects and
        claims meanwhile instead of before. A failure is left for the first
        request, which makes the client again and reports it."""
        def load() -> None:
            with suppress(SetupError):
                _ = self.client

        if self._client is None:
            threading.Thread(target=load, name="sdk-load").start()

    def _sdk(self) -> Any:
        """The SDK's module, loaded with the client."""
        _ = self.client
        return self._openai

    def prepare(self, text: str, *, exact: bool = False) -> Prepared:
        if not exact and (bound := byte_bound(text, self.limits.max_input_tokens)):
            return bound
        # Loaded on first use (0.2 s): most postings are proven short by their bytes.
        prepared = openai_tokenizer().prepare(text, self.limits.max_input_tokens)
        if prepared.truncated:
            log.info("truncated an input from %s to %s tokens",
                     prepared.original_tokens, prepared.tokens)
        return prepared

    def pace(self, tokens: int) -> float:
        return self._pacer.wait(tokens) if self._pacer else 0.0

    @contextmanager
    def provider_errors(self) -> Iterator[None]:
        """Turn the SDK's errors into processor.errors (what they mean: processor.failures)."""
        openai = self._sdk()
        try:
            yield
        except openai.APIStatusError as exc:
            if self._pacer and failures.slows_down(exc.status_code):
                self._pacer.update(exc.response.headers)
            message, code = error_detail(getattr(exc, "body", None), type(exc).__name__)
            raise failures.from_http(exc.status_code, message, code=code,
                                     retry_after=retry_after(exc.response.headers)) from None
        except openai.APITimeoutError:
            raise RetryableEmbeddingError(f"APITimeoutError: no answer within {self._timeout:g} s "
                                          "(EMBEDDING_REQUEST_TIMEOUT_SECONDS)") from None
        except openai.APIConnectionError:
            raise RetryableEmbeddingError("APIConnectionError: no answer from the provider "
                                          "(unreachable, or it closed the connection)") from None
        except self._httpx.TimeoutException:  # reading the answer (embed)
            raise RetryableEmbeddingError(f"the provider's answer stalled for {self._timeout:g} s "
                                          "(EMBEDDING_REQUEST_TIMEOUT_SECONDS)") from None
        except self._httpx.RequestError as exc:  # a transport or decoding error mid-answer
            raise RetryableEmbeddingError(f"{type(exc).__name__}: the provider's answer broke off "
                                          "mid-way") from None
        except ValueError as exc:  # truncated or non-JSON body
            raise MalformedResponseError(f"unreadable response: {exc}") from None

    def request_body(self, texts: Sequence[str]) -> dict[str, Any]:
        """The JSON body of one embeddings request, as ``embed`` sends it."""
        body: dict[str, Any] = {"input": list(texts), "model": self._api_model,
                                "encoding_format": "base64"}
        if self._request_dimensions is not None:
            body["dimensions"] = self._request_dimensions
        return body

    def decode(self, payload: Any, count: int) -> Embeddings:
        """An embeddings answer's vectors, placed by index, and its believable token count."""
        return decode_answer(payload, count, self.dimensions, self.limits)

    def reported_tokens(self, payload: Any, count: int) -> int | None:
        """An answer's token count, if believable (what a malformed answer was billed)."""
        return reported_tokens(payload, count, self.limits)

    def embed(self, texts: Sequence[str]) -> Embeddings:
        client = self.client
        with self.provider_errors():
            # The SDK makes the request (auth, base_url, timeouts, typed
            # errors); the body goes in and comes out as plain JSON bytes.
            # `embeddings.create` walks every input through its type
            # transforms and pydantic models, 40 us of GIL per text: more
            # than the rest of the processor's work for that text.
            deadline = time.monotonic() + self._timeout
            raw = client.post("/embeddings", cast_to=self._httpx.Response,
                              content=orjson.dumps(self.request_body(texts)), options=_STREAMED)
            try:
                if self._pacer:
                    self._pacer.update(raw.headers)
                payload = orjson.loads(read_within(raw, deadline, self._timeout))
            finally:
                raw.close()
        return self.decode(payload, len(texts))


def read_within(response: Any, deadline: float, timeout: float) -> bytes:
    """An answer's body, or a retryable error once ``deadline`` (monotonic) passes."""
    parts = []
    for chunk in response.iter_bytes():
        if time.monotonic() > deadline:
            raise RetryableEmbeddingError(f"the provider's answer took over {timeout:g} s "
                                          "(EMBEDDING_REQUEST_TIMEOUT_SECONDS)")
        parts.append(chunk)
    return b"".join(parts)


def check(settings: Settings) -> int:
    """The model's dimensions, or a ConfigError naming what to fix (no SDK needed)."""
    dimensions = settings.dimensions or NATIVE_DIMENSIONS.get(settings.model)
    if dimensions is None:
        known = ", ".join(NATIVE_DIMENSIONS)
        raise ConfigError(f"unknown model {settings.model!r}: check EMBEDDING_MODEL (known: {known}); "
                          "for another OpenAI-compatible model set EMBEDDING_DIMENSIONS too")
    return dimensions


def model_key(model: str, dimensions: int, native: int | None) -> str:
    """The name vectors are stored under: ``model``, or ``model@dims`` when shortened."""
    return model if dimensions == native else f"{model}@{dimensions}"

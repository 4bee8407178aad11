"""The OpenAI embedder: the official SDK, any OpenAI-compatible base_url."""

from __future__ import annotations

import binascii
import gc
import logging
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from typing import Any

import orjson
import pybase64

from autoembed import failures
from autoembed.config import Settings
from autoembed.embedders.base import Embeddings, check_vectors
from autoembed.errors import ConfigError, MalformedResponseError, RetryableEmbeddingError, SetupError
from autoembed.limits import OPENAI_LIMITS
from autoembed.pacing import TokenPacer
from autoembed.tokens import Prepared, byte_bound, openai_tokenizer
from autoembed.vectors import Vectors

log = logging.getLogger(__name__)

_JSON: Any = {"headers": {"Content-Type": "application/json"}}

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
        self._raw: Any = None

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
                self._openai, self._raw = openai, httpx2.Response
                # The SDK's modules and types (some 70,000 objects the cyclic
                # collector tracks) live as long as the process: frozen, full
                # collections stop walking them (about 5 % of the processor's CPU
                # in a 20,000-job drain).
                gc.freeze()
            return self._client

    def load_in_background(self) -> None:
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
            if exc.status_code == 429 and self._pacer:
                self._pacer.update(exc.response.headers)
            message, code = _detail(exc)
            raise failures.from_http(exc.status_code, message, code=code,
                                     retry_after=retry_after(exc.response.headers)) from None
        except (openai.APITimeoutError, openai.APIConnectionError) as exc:
            raise RetryableEmbeddingError(f"{type(exc).__name__}: provider unreachable") from None
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
        """An embeddings answer's vectors, placed by index, and its token count."""
        if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
            raise MalformedResponseError("response has no data list")
        usage = payload.get("usage")
        tokens = usage.get("prompt_tokens") if isinstance(usage, dict) else None
        tokens = int(tokens) if isinstance(tokens, int | float) else None
        return Embeddings(vectors=_decode(payload["data"], count, self.dimensions, tokens),
                          tokens=tokens)

    def embed(self, texts: Sequence[str]) -> Embeddings:
        client = self.client
        with self.provider_errors():
            # The SDK makes the request (auth, base_url, timeouts, typed
            # errors); the body goes in and comes out as plain JSON bytes.
            # `embeddings.create` walks every input through its type
            # transforms and pydantic models, 40 us of GIL per text: more
            # than the rest of the processor's work for that text.
            raw = client.post("/embeddings", cast_to=self._raw,
                              content=orjson.dumps(self.request_body(texts)), options=_JSON)
            if self._pacer:
                self._pacer.update(raw.headers)
            payload = orjson.loads(raw.content)
        return self.decode(payload, len(texts))


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


def _decode(data: Sequence[Any], count: int, dimensions: int, tokens: int | None = None) -> Vectors:
    """Place each vector by its ``index`` field, never by position.

    A wrong count or a bad index spoils the whole answer; an undecodable or
    wrongly sized vector spoils only its own row.
    """
    import numpy as np  # loads with the first answer (see autoembed.vectors)

    if len(data) != count:
        raise MalformedResponseError(f"expected {count} vectors, got {len(data)}")
    indexes = [item.get("index") if isinstance(item, dict) else None for item in data]
    if (not all(isinstance(i, int) and 0 <= i < count for i in indexes)
            or len(set(indexes)) != count):
        bad_index = next((i for n, i in enumerate(indexes) if not isinstance(i, int)
                          or not 0 <= i < count or i in indexes[:n]), None)
        raise MalformedResponseError(f"bad or repeated index {bad_index!r}")
    positions = [i for i in indexes if isinstance(i, int)]  # a permutation of range(count)
    raws = [item.get("embedding") for item in data]
    out = _decode_whole(raws, dimensions)
    if out is not None:
        return check_vectors(out[np.argsort(positions)], count, dimensions, (), tokens)
    out = np.zeros((count, dimensions), dtype=np.float32)
    bad: list[int] = []
    for index, raw in zip(positions, raws, strict=True):
        try:
            row = (np.frombuffer(pybase64.b64decode(raw, validate=True), dtype="<f4")
                   if isinstance(raw, str) else np.asarray(raw, dtype=np.float32))
        except (binascii.Error, ValueError, TypeError):
            bad.append(index)
            continue
        if row.shape != (dimensions,):
            bad.append(index)
            continue
        out[index] = row
    return check_vectors(out, count, dimensions, bad, tokens)


def _decode_whole(raws: Sequence[Any], dimensions: int) -> Vectors | None:
    """Every vector at once, in answer order, when all are base64 of the exact length
    without padding (1536 and 3072 dimensions); None sends each through its own check."""
    import numpy as np

    size = dimensions * 4
    if size % 3 or not all(isinstance(r, str) and len(r) == size // 3 * 4 for r in raws):
        return None
    # pybase64 decodes with SIMD: 25x binascii, which cost 0.5 s of GIL per 20,000 vectors.
    try:
        flat = pybase64.b64decode("".join(raws), validate=True)
    except (binascii.Error, ValueError):
        return None
    return np.frombuffer(flat, dtype="<f4").reshape(len(raws), dimensions)


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds the provider asked us to wait: retry-after-ms, then retry-after."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        raw = headers.get(name)
        if raw:
            try:
                return max(0.0, float(raw) * scale)
            except ValueError:
                continue
    return None


def _detail(exc: Any) -> tuple[str, str | None]:
    """The provider's error message and code, as far as its body says."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and error.get("message"):
            code = error.get("code") or error.get("type")
            return str(error["message"]), str(code) if code else None
    return type(exc).__name__, None

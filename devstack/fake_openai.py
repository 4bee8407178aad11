"""A real HTTP server that speaks OpenAI's ``/v1/embeddings``, with scriptable faults.

Vectors are deterministic (seeded by the text), so tests can assert exact
values with :func:`fake_vector`. Like the real API it refuses empty inputs,
more than 2048 inputs, an input over 8192 tokens and a request over 300,000
tokens with a 400.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
from autoembed.limits import OPENAI_LIMITS
from autoembed.tokens import openai_tokenizer

from devstack.fake_batches import FakeBatches

DIMENSIONS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072,
              "text-embedding-ada-002": 1536}


def fake_vector(text: str, dimensions: int) -> npt.NDArray[np.float32]:
    """The unit vector the fake server returns for ``text``."""
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    v = np.random.default_rng(seed).standard_normal(dimensions)
    return (v / np.linalg.norm(v)).astype(np.float32)


@dataclass
class Fault:
    """One scripted answer in place of a normal one.

    kind: ``status`` (answer ``status`` with ``headers``), ``hang`` (sleep
    ``seconds`` then answer normally), ``wrong_count``, ``wrong_dims``,
    ``nan``, ``truncated_json``, ``shuffle`` (indexes reversed) or ``usage``
    (a normal answer reporting ``usage`` as its prompt_tokens).
    """

    kind: str
    status: int = 500
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    message: str = "scripted fault"
    code: str | None = None
    usage: Any = None


class RateLimits:
    """Per-minute token and request budgets, as OpenAI enforces them.

    Each budget is a bucket that holds a minute's limit and refills
    continuously at limit / 60 per second; it starts full. A request that
    does not fit either bucket is answered 429, with the time until it would
    fit; every answer carries OpenAI's ``x-ratelimit-*`` headers.
    """

    def __init__(self, tokens_per_minute: int, requests_per_minute: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = {"tokens": tokens_per_minute, "requests": requests_per_minute}
        self._clock = clock
        self._level = {k: float(v) for k, v in self.limits.items()}
        self._at = clock()
        self.accepted_tokens = 0
        self.limited = 0

    def _refill(self) -> None:
        now = self._clock()
        for kind, limit in self.limits.items():
            self._level[kind] = min(float(limit), self._level[kind] + (now - self._at) * limit / 60)
        self._at = now

    def take(self, tokens: int) -> tuple[bool, dict[str, str], float]:
        """Spend ``tokens`` and one request if both fit: (fits, headers, seconds until it would)."""
        self._refill()
        need = {"tokens": tokens, "requests": 1}
        fits = all(need[k] <= self._level[k] for k in need)
        if fits:
            for kind in need:
                self._level[kind] -= need[kind]
            self.accepted_tokens += tokens
        else:
            self.limited += 1
        wait = max((need[k] - self._level[k]) * 60 / self.limits[k] for k in need)
        headers = {}
        for kind, limit in self.limits.items():
            reset = (limit - self._level[kind]) * 60 / limit
            headers[f"x-ratelimit-limit-{kind}"] = str(limit)
            headers[f"x-ratelimit-remaining-{kind}"] = str(int(self._level[kind]))
            headers[f"x-ratelimit-reset-{kind}"] = f"{max(reset, 0.0):.3f}s"
        if not fits:
            headers["retry-after-ms"] = str(int(wait * 1000) + 1)
        return fits, headers, max(wait, 0.0)


class FakeOpenAI:
    """Start with ``FakeOpenAI().start()``; ``base_url`` goes to the SDK."""

    def __init__(self, port: int = 0) -> None:
        self.lock = threading.Lock()
        self.faults: list[Fault] = []
        self.reject_marker: str | None = None
        # A text containing this always gets a NaN vector (a persistent bad vector).
        self.nan_marker: str | None = None
        self.latency = 0.0
        self.response_headers: dict[str, str] = {}
        # Random faults: kind -> probability, e.g. {"429": 0.2, "500": 0.1, "hang": 0.05}.
        self.fault_mix: dict[str, float] = {}
        self.hang_seconds = 2.0
        self.rng = random.Random(1)
        self.on_response: Callable[[int], None] | None = None
        self.requests: list[list[str]] = []
        self.statuses: list[int] = []
        self.texts: Counter[str] = Counter()
        # Texts whose answer this server spoiled (hung past a timeout, cut off,
        # malformed): the only texts a client may rightly send again.
        self.spoiled: Counter[str] = Counter()
        self.tokens = 0
        # Requests being answered now (a hang may outlive the client's timeout).
        self.in_progress = 0
        # The Batch API: its files and batches; its lines are answered by this server's
        # embeddings logic, but counted apart from online requests.
        self.batches = FakeBatches(lambda payload: self._answer(payload, online=False))
        self.batch_texts: Counter[str] = Counter()
        self.batch_tokens = 0
        # Benchmarks: remember each text's token count and encoded vector, so a
        # text seen before costs the server almost nothing (a real provider's
        # work happens on its machines, not on the 2 cores the processor uses).
        self.cache: dict[tuple[str, int], tuple[int, str]] | None = None
        # Rate limits enforced like OpenAI's, or None for none.
        self.rate_limits: RateLimits | None = None
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/v1"

    def start(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def script(self, *faults: Fault) -> None:
        """Answer the next requests with these faults, in order."""
        with self.lock:
            self.faults.extend(faults)

    def reset(self) -> None:
        with self.lock:
            self.faults.clear()
            self.reject_marker = None
            self.nan_marker = None
            self.latency = 0.0
            self.response_headers = {}
            self.fault_mix = {}
            self.rng = random.Random(1)
            self.on_response = None
            self.requests.clear()
            self.statuses.clear()
            self.texts.clear()
            self.spoiled.clear()
            self.tokens = 0
            self.rate_limits = None
            self.batch_texts.clear()
            self.batch_tokens = 0
        self.batches.reset()

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Until no request is being answered, so ``texts`` and ``spoiled`` agree."""
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                if self.in_progress == 0:
                    return
            if time.monotonic() > deadline:
                raise TimeoutError("the fake API is still answering")
            time.sleep(0.05)

    def answer(self, payload: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        """Status, headers and body for one request (runs on the server's threads)."""
        with self.lock:
            self.in_progress += 1
        try:
            return self._answer(payload)
        finally:
            with self.lock:
                self.in_progress -= 1

    def _answer(self, payload: dict[str, Any], *,
                online: bool = True) -> tuple[int, dict[str, str], bytes]:
        with self.lock:
            fault = self.faults.pop(0) if self.faults else self._random_fault()
            marker, latency, nan_marker = self.reject_marker, self.latency, self.nan_marker
            extra_headers = dict(self.response_headers)
        if latency:
            time.sleep(latency)
        if fault and fault.kind == "status":
            return self._error(fault.status, fault.message, fault.headers, fault.code)
        if fault and fault.kind == "hang":
            time.sleep(fault.seconds)
        raw = payload.get("input")
        texts = [raw] if isinstance(raw, str) else raw
        model = str(payload.get("model", ""))
        if model not in DIMENSIONS:
            return self._error(404, f"The model `{model}` does not exist or you do not have access "
                               "to it.", code="model_not_found")
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            return self._error(400, "'$.input' is invalid.")
        if not texts or len(texts) > OPENAI_LIMITS.max_inputs:
            return self._error(400, f"'$.input' must have between 1 and {OPENAI_LIMITS.max_inputs} items")
        if any(not t for t in texts):
            return self._error(400, "'$.input' is invalid: empty string")
        dims = int(payload.get("dimensions") or DIMENSIONS.get(model, 1536))
        if (self.cache is not None and payload.get("encoding_format") == "base64"
                and not (fault or marker or nan_marker)):
            return self._cached_answer(texts, model, dims, extra_headers, online=online)
        tokenizer = openai_tokenizer()
        counts = [tokenizer.prepare(t, 10**9).tokens for t in texts]
        if refused := self._over_limits(counts):
            return refused
        if marker and any(marker in t for t in texts):
            return self._error(400, "Invalid input: the content was rejected")
        if online and (refused := self._admit(model, sum(counts), extra_headers)):
            return refused
        with self.lock:
            self._record(texts, sum(counts), online)
            if fault and fault.kind in ("hang", "truncated_json", "wrong_count", "wrong_dims", "nan"):
                self.spoiled.update(texts)
        vectors = [fake_vector(t, dims) for t in texts]
        order = list(range(len(texts)))
        if fault and fault.kind == "wrong_count":
            order = order[:-1]
        if fault and fault.kind == "wrong_dims":
            vectors = [v[:-1] for v in vectors]
        if fault and fault.kind == "nan":
            vectors[0] = np.full_like(vectors[0], np.nan)
        for i, text in enumerate(texts):
            if nan_marker and nan_marker in text:
                vectors[i] = np.full_like(vectors[i], np.nan)
        if fault and fault.kind == "shuffle":
            order.reverse()
        b64 = payload.get("encoding_format") == "base64"
        data = [{"object": "embedding", "index": i,
                 "embedding": (base64.b64encode(vectors[i].astype("<f4").tobytes()).decode()
                               if b64 else vectors[i].tolist())} for i in order]
        reported = fault.usage if fault and fault.kind == "usage" else sum(counts)
        body = json.dumps({"object": "list", "data": data, "model": model,
                           "usage": {"prompt_tokens": reported, "total_tokens": reported}})
        encoded = body.encode()
        if fault and fault.kind == "truncated_json":
            encoded = encoded[: len(encoded) // 2]
        return 200, extra_headers, encoded

    def _cached_answer(self, texts: list[str], model: str, dims: int, headers: dict[str, str], *,
                       online: bool = True) -> tuple[int, dict[str, str], bytes]:
        """The normal answer, built from remembered counts and vectors (base64 only)."""
        assert self.cache is not None
        entries = []
        for text in texts:
            entry = self.cache.get((text, dims))
            if entry is None:
                tokens = openai_tokenizer().prepare(text, 10**9).tokens
                vector = base64.b64encode(fake_vector(text, dims).astype("<f4").tobytes()).decode()
                entry = self.cache.setdefault((text, dims), (tokens, vector))
            entries.append(entry)
        counts = [tokens for tokens, _ in entries]
        if refused := self._over_limits(counts):
            return refused
        if online and (refused := self._admit(model, sum(counts), headers)):
            return refused
        with self.lock:
            self._record(texts, sum(counts), online)
        data = ",".join(f'{{"object":"embedding","index":{i},"embedding":"{vector}"}}'
                        for i, (_, vector) in enumerate(entries))
        total = sum(counts)
        body = (f'{{"object":"list","data":[{data}],"model":{json.dumps(model)},'
                f'"usage":{{"prompt_tokens":{total},"total_tokens":{total}}}}}')
        return 200, headers, body.encode()

    def _over_limits(self, counts: list[int]) -> tuple[int, dict[str, str], bytes] | None:
        """The API's 400 for an input or a request over its token limits, or None."""
        if max(counts) > OPENAI_LIMITS.max_input_tokens:
            return self._error(400, "This model's maximum context length is 8192 tokens")
        if sum(counts) > OPENAI_LIMITS.max_request_tokens:
            return self._error(400, "Requested 300001 tokens, max 300000 tokens per request")
        return None

    def _record(self, texts: list[str], tokens: int, online: bool) -> None:
        """Count embedded texts (lock held): online requests, or Batch API lines apart."""
        if online:
            self.requests.append(list(texts))
            self.texts.update(texts)
            self.tokens += tokens
        else:
            self.batch_texts.update(texts)
            self.batch_tokens += tokens

    def _admit(self, model: str, tokens: int,
               headers: dict[str, str]) -> tuple[int, dict[str, str], bytes] | None:
        """Charge the rate limits, adding their headers; a 429 answer when they refuse."""
        if self.rate_limits is None:
            return None
        with self.lock:
            fits, limit_headers, wait = self.rate_limits.take(tokens)
        headers.update(limit_headers)
        if fits:
            return None
        limits = self.rate_limits.limits
        return self._error(429, f"Rate limit reached for {model} in organization org-fake on tokens "
                           f"per min (TPM): Limit {limits['tokens']}, Requested {tokens}. Please try "
                           f"again in {wait * 1000:.0f}ms.", headers, "rate_limit_exceeded")

    def _random_fault(self) -> Fault | None:
        roll = self.rng.random()
        for kind, probability in self.fault_mix.items():
            if roll < probability:
                if kind.isdigit():
                    headers = {"retry-after-ms": "20"} if kind == "429" else {}
                    return Fault("status", status=int(kind), headers=headers)
                return Fault(kind, seconds=self.hang_seconds)
            roll -= probability
        return None

    def _error(self, status: int, message: str, headers: dict[str, str] | None = None,
               code: str | None = None) -> tuple[int, dict[str, str], bytes]:
        body = {"error": {"message": message, "type": code or ("invalid_request_error"
                          if status == 400 else "api_error"), "param": None, "code": code}}
        return status, headers or {}, json.dumps(body).encode()


def _handler(fake: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            headers = {"Content-Type": "application/json", **headers}
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            with contextlib.suppress(OSError):  # the client gave up (timeout test)
                self.wfile.write(body)
                self.wfile.flush()

        def do_GET(self) -> None:
            """Files and Batches, and ``/fake/stats``: what this server answered, for
            benchmarks in another process."""
            if (answer := fake.batches.handle("GET", self.path, self.headers, b"")) is not None:
                self._send(*answer)
                return
            if self.path.rstrip("/") != "/fake/stats":
                self.send_error(404)
                return
            with fake.lock:
                limits = fake.rate_limits
                stats = {"requests": len(fake.statuses), "tokens": fake.tokens,
                         "statuses": {str(k): v for k, v in Counter(fake.statuses).items()},
                         "limits": limits.limits if limits else None,
                         "accepted_tokens": limits.accepted_tokens if limits else None}
            body = json.dumps(stats).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            headers: dict[str, str]
            if (answer := fake.batches.handle("POST", self.path, self.headers, raw)) is not None:
                self._send(*answer)
                return
            if self.path.rstrip("/") != "/v1/embeddings":
                status, headers, body = 404, {}, b'{"error": {"message": "not found"}}'
            else:
                try:
                    payload = orjson.loads(raw)
                except ValueError:
                    payload = {}
                status, headers, body = fake.answer(payload)
            with fake.lock:
                fake.statuses.append(status)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            with contextlib.suppress(OSError):  # the client gave up (timeout test)
                self.wfile.write(body)
                self.wfile.flush()
            if fake.on_response is not None:
                fake.on_response(status)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


def main() -> None:
    """Run the fake server alone (benchmarks use it from another process)."""
    import argparse
    import signal
    import sys

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added per request")
    parser.add_argument("--tpm", type=int, default=0, help="tokens per minute to enforce (0: none)")
    parser.add_argument("--rpm", type=int, default=0, help="requests per minute to enforce (0: none)")
    parser.add_argument("--cache", action="store_true",
                        help="remember counts and vectors: a text seen before costs almost nothing")
    args = parser.parse_args()
    fake = FakeOpenAI(args.port)
    fake.latency = args.latency
    if args.cache:
        fake.cache = {}
    if args.tpm or args.rpm:
        fake.rate_limits = RateLimits(args.tpm or 10**12, args.rpm or 10**9)
    print(fake.base_url, flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        fake._server.serve_forever()
    finally:
        fake._server.server_close()


if __name__ == "__main__":
    main()

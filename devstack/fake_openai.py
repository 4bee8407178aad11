"""A real HTTP server that speaks OpenAI's ``/v1/embeddings``, with scriptable faults.

Vectors are deterministic (seeded by the text), so tests can assert exact
values with :func:`fake_vector`. Like the real API it refuses empty inputs,
more than 2048 inputs, an input over 8192 tokens and a request over 300,000
tokens with a 400.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any

from devstack.fake_batches import FakeBatches
from devstack.fake_embeddings import DIMENSIONS as DIMENSIONS
from devstack.fake_embeddings import answer_embeddings, error
from devstack.fake_embeddings import fake_vector as fake_vector
from devstack.fake_http import handler
from devstack.fake_limits import RateLimits as RateLimits


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
        # An answer dripped out: its body in this many slices, this many seconds apart.
        self.drip: tuple[int, float] | None = None
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
        self._server = ThreadingHTTPServer(("127.0.0.1", port), handler(self))
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
            self.drip = None
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
        return answer_embeddings(self, payload, online=online)

    def record(self, texts: list[str], tokens: int, online: bool) -> None:
        """Count embedded texts (lock held): online requests, or Batch API lines apart."""
        if online:
            self.requests.append(list(texts))
            self.texts.update(texts)
            self.tokens += tokens
        else:
            self.batch_texts.update(texts)
            self.batch_tokens += tokens

    def admit(self, model: str, tokens: int,
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
        return error(429, f"Rate limit reached for {model} in organization org-fake on tokens "
                           f"per min (TPM): Limit {limits['tokens']}, Requested {tokens}. Please try "
                           f"again in {wait * 1000:.0f}ms.", headers, "rate_limit_exceeded")

    def random_fault(self) -> Fault | None:
        roll = self.rng.random()
        for kind, probability in self.fault_mix.items():
            if roll < probability:
                if kind.isdigit():
                    headers = {"retry-after-ms": "20"} if kind == "429" else {}
                    return Fault("status", status=int(kind), headers=headers)
                return Fault(kind, seconds=self.hang_seconds)
            roll -= probability
        return None


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

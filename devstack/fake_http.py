"""The fake API's HTTP side: a request handler that hands each request to a ``FakeOpenAI``."""

from __future__ import annotations

import contextlib
import json
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING

import orjson

if TYPE_CHECKING:
    from devstack.fake_openai import FakeOpenAI


def handler(fake: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    """The request handler class serving ``fake``: embeddings, Files and Batches, and stats."""
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

        def _write(self, body: bytes, drip: tuple[int, float] | None) -> None:
            """The body at once, or dripped: ``drip`` slices, each after a pause."""
            pieces, pause = drip or (1, 0.0)
            size = max(1, -(-len(body) // pieces))
            for start in range(0, len(body), size):
                time.sleep(pause)
                self.wfile.write(body[start:start + size])
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
                self._write(body, fake.drip if status == 200 else None)
            if fake.on_response is not None:
                fake.on_response(status)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler

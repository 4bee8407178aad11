"""A small HTTP server that records what pg_net sent it: the parity suite and the tick benchmark."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Seen:
    """One request as the peer received it."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    arrived: float
    answered: float = 0.0


class HttpPeer:
    """Endpoints: /echo, /empty, /slow?ms=N, /redirect?code=C&to=PATH, /dup-header."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        peer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                seen = Seen(self.command, parts.path, parts.query, dict(self.headers.items()), body,
                            time.monotonic())
                peer.seen.append(seen)
                params = parse_qs(parts.query)
                if parts.path == "/slow":
                    time.sleep(int(params.get("ms", ["1000"])[0]) / 1000)
                if parts.path == "/redirect":
                    self.send_response(int(params.get("code", ["307"])[0]))
                    self.send_header("Location", params.get("to", ["/echo"])[0])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif parts.path == "/empty":
                    self.send_response(200)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif parts.path == "/dup-header":
                    self.send_response(200)
                    self.send_header("X-Dup", "first")
                    self.send_header("X-Dup", "last")
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                else:
                    payload = json.dumps({"method": self.command, "path": parts.path,
                                          "query": parts.query, "body": body.decode()}).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                seen.answered = time.monotonic()

            do_GET = do_POST = do_DELETE = _handle  # noqa: N815

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_port}"

    def start(self) -> HttpPeer:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()



class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # pg_net hung up at its timeout: that is the test, not an error

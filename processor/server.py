"""A plain HTTP server around the handler: the processor pg_net calls."""

from __future__ import annotations

import logging
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from processor.handler import MAX_BODY_BYTES, Processor, Response

log = logging.getLogger(__name__)


def request_handler(processor: Processor) -> type[BaseHTTPRequestHandler]:
    """A BaseHTTPRequestHandler class that delegates to ``processor``.

    Vercel's Python runtime serves the same class (api/process-embedding-queue.py).
    """

    class Handler(BaseHTTPRequestHandler):
        server_version = "autoembed"
        sys_version = ""

        def do_GET(self) -> None:
            self._answer(b"")

        def do_POST(self) -> None:
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if length < 0:
                self._send(Response(400, {"error": "bad Content-Length"}))
                return
            if length > MAX_BODY_BYTES:
                self.close_connection = True
                self._send(Response(413, {"error": "request body too large"}))
                return
            self._answer(self.rfile.read(length))

        def do_PUT(self) -> None:
            self._answer(b"", method="PUT")

        def do_DELETE(self) -> None:
            self._answer(b"", method="DELETE")

        def do_PATCH(self) -> None:
            self._answer(b"", method="PATCH")

        def _answer(self, body: bytes, method: str | None = None) -> None:
            response = processor.handle(method or self.command, self.path,
                                        dict(self.headers.items()), body)
            self._send(response)

        def _send(self, response: Response) -> None:
            payload = response.encode()
            self.send_response(response.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            log.info("%s %s", self.address_string(), format % args)

    return Handler


def make_server(processor: Processor, host: str = "127.0.0.1", port: int = 8000) -> ThreadingHTTPServer:
    """A threading server; ``serve_forever()`` it, ``shutdown()`` to stop."""
    server = ThreadingHTTPServer((host, port), request_handler(processor))
    server.daemon_threads = True
    return server

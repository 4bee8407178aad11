"""``autoembed serve``: the handler behind waitress, a production WSGI server.

waitress reads each request whole (headers and body, within size limits) in
its event loop before a worker thread sees it, so a slow or silent client
holds a socket, never a thread, and is dropped after ``channel_timeout``;
beyond ``connection_limit`` open connections new ones wait in the backlog.
"""

from __future__ import annotations

import logging
from typing import Any

from processor.handler import MAX_BODY_BYTES, Processor
from processor.wsgi import wsgi_app

log = logging.getLogger(__name__)

THREADS = 4
CONNECTION_LIMIT = 64
CHANNEL_TIMEOUT_SECONDS = 10
MAX_HEADER_BYTES = 16 * 1024


class Server:
    """A waitress server for one processor; ``serve_forever()``, then ``shutdown()``."""

    def __init__(self, processor: Processor, host: str = "127.0.0.1", port: int = 8000) -> None:
        from waitress.server import create_server

        self.processor = processor
        self._server: Any = create_server(
            wsgi_app(processor), host=host, port=port, threads=THREADS,
            connection_limit=CONNECTION_LIMIT, channel_timeout=CHANNEL_TIMEOUT_SECONDS,
            cleanup_interval=2, max_request_body_size=MAX_BODY_BYTES,
            max_request_header_size=MAX_HEADER_BYTES, expose_tracebacks=False,
            ident="autoembed", clear_untrusted_proxy_headers=True, channel_request_lookahead=1,
        )
        self._closed = False

    @property
    def server_port(self) -> int:
        return int(self._server.effective_port)

    def serve_forever(self) -> None:
        try:
            self._server.run()
        except Exception:  # the loop's sockets closed under it by shutdown()
            if not self._closed:
                raise

    def shutdown(self) -> None:
        """Close every connection and the listening socket, stop the worker threads."""
        self._closed = True
        logging.getLogger("waitress").setLevel(logging.ERROR)  # closing sockets under the loop
        server = self._server
        while server._map:
            for channel in list(server._map.values()):
                channel.handle_close()
        server.maintenance(0)
        server.task_dispatcher.shutdown()

    def server_close(self) -> None:
        """Kept for callers of the old http.server interface; shutdown() did it."""


def make_server(processor: Processor, host: str = "127.0.0.1", port: int = 8000) -> Server:
    """A waitress server; ``serve_forever()`` it, ``shutdown()`` to stop."""
    return Server(processor, host, port)

"""``autoembed serve``: the handler behind waitress, a production WSGI server.

Why waitress and not ``http.server``: waitress reads each request whole
(headers and body, within size limits) in its event loop before a worker
thread sees it, so a slow or silent client holds a socket, never a thread.
The limits here:

- a request whose headers or body stop arriving is answered ``408`` and
  closed after ``CHANNEL_TIMEOUT_SECONDS``; an idle keep-alive connection is
  closed then too;
- headers over ``MAX_HEADER_BYTES`` get ``431``, a body over the handler's
  1 MB ``413``, a bad Content-Length ``400`` (all from waitress);
- at most ``CONNECTION_LIMIT`` connections are open at once; one beyond is
  answered ``503`` with ``Retry-After`` and closed at once, instead of waiting
  unseen in the kernel's backlog;
- ``THREADS`` worker threads run the handler, which authenticates before it
  touches anything.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from autoembed.handler import MAX_BODY_BYTES, Processor
from autoembed.wsgi import wsgi_app

log = logging.getLogger(__name__)

THREADS = 4
CONNECTION_LIMIT = 64
CHANNEL_TIMEOUT_SECONDS = 10
MAX_HEADER_BYTES = 16 * 1024

_TIMEOUT_BODY = json.dumps({"error": "request timeout: the request did not arrive whole"}).encode()
TIMEOUT_ANSWER = (b"HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\n"
                  b"Content-Length: " + str(len(_TIMEOUT_BODY)).encode() + b"\r\n"
                  b"Connection: close\r\n\r\n" + _TIMEOUT_BODY)
_BUSY_BODY = json.dumps({"error": "too many connections; try again shortly"}).encode()
BUSY_ANSWER = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
               b"Content-Length: " + str(len(_BUSY_BODY)).encode() + b"\r\n"
               b"Retry-After: " + str(CHANNEL_TIMEOUT_SECONDS).encode() + b"\r\n"
               b"Connection: close\r\n\r\n" + _BUSY_BODY)


def _server_class() -> type[Any]:
    from waitress.server import TcpWSGIServer

    class AnsweringServer(TcpWSGIServer):  # type: ignore[misc]
        """waitress, but a request cut off mid-way gets 408 instead of a silent close,
        and a connection over the limit 503 instead of a wait in the backlog."""

        def readable(self) -> bool:
            super().readable()  # its maintenance and bookkeeping
            return bool(self.accepting)

        def handle_accept(self) -> None:
            if len(self.active_channels) < self.adj.connection_limit:
                super().handle_accept()
                return
            try:
                accepted = self.accept()
            except OSError:
                return
            if accepted is None:
                return
            conn = accepted[0]
            try:
                conn.setblocking(False)
                conn.send(BUSY_ANSWER)
            except OSError:
                pass
            finally:
                conn.close()

        def maintenance(self, now: float) -> None:
            cutoff = now - self.adj.channel_timeout
            for channel in list(self.active_channels.values()):
                if (not channel.requests and channel.request is not None and channel.connected
                        and not channel.close_when_flushed and channel.last_activity < cutoff):
                    channel.request = None
                    channel.write_soon(TIMEOUT_ANSWER)
                    channel.close_when_flushed = True
                    channel.last_activity = now  # one more period to take the answer
            super().maintenance(now)

    return AnsweringServer


class Server:
    """A waitress server for one processor; ``serve_forever()``, then ``shutdown()``."""

    def __init__(self, processor: Processor, host: str = "127.0.0.1", port: int = 8000) -> None:
        from waitress.adjustments import Adjustments
        from waitress.task import ThreadedTaskDispatcher

        self.processor = processor
        adj = Adjustments(
            host=host, port=port, threads=THREADS, connection_limit=CONNECTION_LIMIT,
            channel_timeout=CHANNEL_TIMEOUT_SECONDS, cleanup_interval=1,
            max_request_body_size=MAX_BODY_BYTES, max_request_header_size=MAX_HEADER_BYTES,
            expose_tracebacks=False, ident="autoembed", clear_untrusted_proxy_headers=True,
            channel_request_lookahead=1,
        )
        dispatcher = ThreadedTaskDispatcher()
        dispatcher.set_thread_count(adj.threads)
        self._server: Any = _server_class()(
            wsgi_app(processor), {}, True, None, dispatcher=dispatcher, adj=adj,
            sockinfo=adj.listen[0],
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

"""``autoembed serve``: the handler behind waitress, a production WSGI server.

Why waitress and not ``http.server``: waitress reads each request whole
(headers and body, within size limits) in its event loop before a worker
thread sees it, so a slow or silent client holds a socket, never a thread.
Sockets are what a slow client can still exhaust, so they are guarded too:

- a request must arrive whole (request line, headers and body) within
  ``REQUEST_DEADLINE_SECONDS`` of its first byte: a total deadline, not an
  inactivity timer, so a client trickling a byte every few seconds is
  answered ``408`` at the deadline all the same; the socket is closed in the
  same step as the answer, so its slot is free the moment the answer is out;
- a connection that sends nothing, or stays idle after an answer, is closed
  after ``CHANNEL_TIMEOUT_SECONDS`` (waitress's inactivity timeout);
- at most ``CONNECTION_LIMIT`` connections are open at once. When a new one
  arrives at the limit, the oldest connection that has not yet delivered a
  whole request (a trickling or silent client, or an idle keep-alive) is
  evicted (``503`` with ``Retry-After`` if it had sent part of a request,
  a plain close otherwise) and the new one is accepted. Only when every
  connection holds a whole request (being served, or its answer being sent)
  is the new one answered ``503`` with ``Retry-After`` and closed, instead of
  waiting unseen in the kernel's backlog. So 64 trickling sockets cannot lock
  out a signed request: each newcomer displaces the oldest of them, and a
  request that arrives whole is never displaced;
- headers over ``MAX_HEADER_BYTES`` get ``431``, a body over the handler's
  1 MB ``413``, a bad Content-Length ``400`` (all from waitress); a closing
  connection stops writing and drops what still comes for ``LINGER_SECONDS``
  at most, so a client sending a large body whole still reads its answer;
- ``THREADS`` worker threads run the handler, which authenticates before it
  touches anything (and runs one synchronous drain at a time, handler.py).
"""

from __future__ import annotations

import logging
from typing import Any

from autoembed.handler import MAX_BODY_BYTES, Processor
from autoembed.server_channels import CHANNEL_TIMEOUT_SECONDS, server_class
from autoembed.server_channels import REQUEST_DEADLINE_SECONDS as REQUEST_DEADLINE_SECONDS
from autoembed.wsgi import wsgi_app

log = logging.getLogger(__name__)

THREADS = 4
CONNECTION_LIMIT = 64
MAX_HEADER_BYTES = 16 * 1024


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
        self._server: Any = server_class()(
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
        server.closing = True  # no lingering
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

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
  1 MB ``413``, a bad Content-Length ``400`` (all from waitress);
- ``THREADS`` worker threads run the handler, which authenticates before it
  touches anything (and runs one synchronous drain at a time, handler.py).
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from autoembed.handler import MAX_BODY_BYTES, Processor
from autoembed.wsgi import wsgi_app

log = logging.getLogger(__name__)

THREADS = 4
CONNECTION_LIMIT = 64
CHANNEL_TIMEOUT_SECONDS = 10
REQUEST_DEADLINE_SECONDS = 10
MAX_HEADER_BYTES = 16 * 1024


def _answer(status: str, message: str, *extra: bytes) -> bytes:
    body = json.dumps({"error": message}).encode()
    return (b"HTTP/1.1 " + status.encode() + b"\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n" + b"".join(extra)
            + b"Connection: close\r\n\r\n" + body)


TIMEOUT_ANSWER = _answer("408 Request Timeout", "request timeout: the request did not arrive whole")
BUSY_ANSWER = _answer("503 Service Unavailable", "too many connections; try again shortly",
                      b"Retry-After: " + str(CHANNEL_TIMEOUT_SECONDS).encode() + b"\r\n")
EVICTED_ANSWER = _answer("503 Service Unavailable",
                         "connection limit reached and this request had not arrived whole",
                         b"Retry-After: 1\r\n")


def _waiting_for_request(channel: Any) -> bool:
    """Open, serving nothing, sending nothing: it holds a slot while its request has not arrived."""
    return bool(channel.connected and not channel.requests and not channel.total_outbufs_len
                and not channel.will_close and not channel.close_when_flushed)


def _since(channel: Any) -> float:
    """When the connection began waiting for its request: opened, or its last request arrived."""
    return float(channel.waiting_since)


def _answer_and_release(channel: Any, answer: bytes) -> None:
    """Send a short answer now and mark the channel closing: its slot is free on return.

    The event loop closes it on its next write pass; closing here, while the
    loop may hold its descriptor, would hand a stale event to a new socket.
    """
    sock = channel.socket
    try:
        if answer:
            sock.send(answer)
        # Read what the client sent meanwhile: closing over unread bytes would
        # reset the connection, and a reset can discard the answer in flight.
        for _ in range(8):
            if not sock.recv(65536):
                break
    except OSError:
        pass
    if channel.request is not None:
        channel.request.close()
        channel.request = None
    channel.will_close = True


def _server_class() -> type[Any]:
    from waitress.channel import HTTPChannel
    from waitress.server import TcpWSGIServer

    class DeadlineChannel(HTTPChannel):  # type: ignore[misc]
        """waitress's channel, noting when the request being received began (for its deadline)
        and since when the connection has waited for a whole request (for eviction's order)."""

        request_started = 0.0

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.waiting_since = float(self.creation_time)

        def received(self, data: bytes) -> bool:
            pending, queued = self.request, len(self.requests)
            result = bool(super().received(data))
            now = time.time()
            if self.request is not None and self.request is not pending:
                self.request_started = now
            if len(self.requests) > queued or (pending is not None and self.request is not pending):
                self.waiting_since = now  # a request arrived whole: the next wait starts now
            return result

    class AnsweringServer(TcpWSGIServer):  # type: ignore[misc]
        """waitress, with a total deadline per request, eviction of the oldest incomplete
        connection at the limit, and an answer (408, 503) instead of a silent close."""

        channel_class = DeadlineChannel
        next_channel_cleanup: float  # waitress's own attribute

        def readable(self) -> bool:
            # waitress's own, minus its stop-accepting at the limit (handle_accept decides).
            now = time.time()
            if now >= self.next_channel_cleanup:
                self.next_channel_cleanup = now + self.adj.cleanup_interval
                self.maintenance(now)
            return bool(self.accepting)

        def handle_accept(self) -> None:
            # A channel already answered and closing holds no slot.
            held = [c for c in self.active_channels.values() if not c.will_close]
            if len(held) >= self.adj.connection_limit:
                waiting = [c for c in held if _waiting_for_request(c)]
                if waiting:
                    oldest = min(waiting, key=_since)
                    _answer_and_release(oldest, EVICTED_ANSWER if oldest.request is not None else b"")
                    held.remove(oldest)
            if len(held) < self.adj.connection_limit:
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
            cutoff = now - REQUEST_DEADLINE_SECONDS
            for channel in list(self.active_channels.values()):
                if (_waiting_for_request(channel) and channel.request is not None
                        and channel.request_started < cutoff):
                    _answer_and_release(channel, TIMEOUT_ANSWER)
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

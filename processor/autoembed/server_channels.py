"""The guards ``autoembed serve`` adds to waitress's connections (server.py says why):
a total deadline per request, eviction of the oldest incomplete connection at the
limit, answers (408, 503) instead of silent closes, and a lingering close."""

from __future__ import annotations

import json
import socket
import time
from typing import Any

CHANNEL_TIMEOUT_SECONDS = 10
REQUEST_DEADLINE_SECONDS = 10
LINGER_SECONDS = 5


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


def server_class() -> type[Any]:
    from waitress.channel import HTTPChannel
    from waitress.server import TcpWSGIServer

    class DeadlineChannel(HTTPChannel):  # type: ignore[misc]
        """waitress's channel, noting when the request being received began (for its deadline)
        and since when the connection has waited for a whole request (for eviction's order)."""

        request_started = 0.0

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.waiting_since = float(self.creation_time)

        # Closing, its answer out: what the client still sends is read and dropped until then.
        lingering_until = 0.0
        answered_early = False  # a request refused before its body was read (413, 431, 400)

        def handle_close(self) -> None:
            # An answer sent before the request was read whole (413 for a body still coming):
            # closing over unread bytes resets the connection, and the reset can discard the
            # answer unread. So stop writing and drop what comes until the client closes. Only
            # such a channel lingers, and no more of them than the connection limit, so a
            # client cannot pile up open sockets (evicted and timed-out ones close at once).
            if (self.lingering_until or not self.answered_early or not self.connected
                    or getattr(self.server, "closing", False)
                    or sum(1 for c in self.server.active_channels.values() if c.lingering_until)
                    >= self.adj.connection_limit):
                super().handle_close()
                return
            try:
                self.socket.shutdown(socket.SHUT_WR)
            except OSError:
                super().handle_close()
                return
            self.lingering_until = time.time() + LINGER_SECONDS

        def readable(self) -> bool:
            return bool(self.lingering_until or super().readable())

        def writable(self) -> bool:
            # Lingering past its time: "writable", so the loop calls handle_write, which closes
            # (closing from maintenance would close a socket the loop is about to select on).
            if self.lingering_until:
                return time.time() > self.lingering_until
            return bool(super().writable())

        def handle_write(self) -> None:
            if self.lingering_until:
                super().handle_close()
                return
            super().handle_write()

        def handle_read(self) -> None:
            if not self.lingering_until:
                super().handle_read()
                return
            try:
                data = self.socket.recv(1 << 16)
            except OSError:
                data = b""
            if not data or time.time() > self.lingering_until:
                super().handle_close()

        def received(self, data: bytes) -> bool:
            pending, queued = self.request, len(self.requests)
            result = bool(super().received(data))
            self.answered_early = self.answered_early or any(
                getattr(r, "error", None) is not None for r in (*self.requests, self.request) if r)
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

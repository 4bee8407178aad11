"""A TCP proxy in front of Postgres that adds network latency and counts round trips.

The processor usually runs far from its database (a Vercel function, a cron
host), where every round trip costs milliseconds. This proxy puts that
distance on one machine: each chunk waits ``delay`` seconds before it is
passed on, in either direction, so a round trip costs twice ``delay``. It
also counts *turns*: the times a client speaks again after an answer of the
server reached it, which is the number of round trips a call waited for. A
client that writes one request in several pieces, the server answering the
first before the last is read, waited for nothing: with a delay, that answer
has not reached it yet, and no turn is counted.
"""

from __future__ import annotations

import heapq
import itertools
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress


class LatencyProxy:
    """Listens on 127.0.0.1:``port``; forwards to ``target`` with ``delay`` each way."""

    def __init__(self, target: tuple[str, int], delay: float = 0.0) -> None:
        self.target, self.delay = target, delay
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._turns = 0
        self._closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True, name="latency-proxy").start()

    @property
    def turns(self) -> int:
        """Round trips so far, over all connections."""
        with self._lock:
            return self._turns

    def close(self) -> None:
        self._closed.set()
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            for sock in (client, server):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            state = {"answered": False}
            for src, dst, side in ((client, server, "client"), (server, client, "server")):
                threading.Thread(target=self._pump, args=(src, dst, side, state), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, side: str, state: dict[str, bool]) -> None:
        """Read from ``src``; each chunk goes to ``dst`` ``delay`` seconds later, in order."""
        due: list[tuple[float, int, bytes]] = []
        ready = threading.Condition()
        order = itertools.count()
        done = threading.Event()

        def send() -> None:
            while True:
                with ready:
                    while not due and not done.is_set():
                        ready.wait()
                    if not due:
                        break
                    at, _, chunk = due[0]
                    wait = at - time.monotonic()
                    if wait > 0:
                        ready.wait(wait)
                        continue
                    heapq.heappop(due)
                if side == "server":  # an answer reaches the client now
                    with self._lock:
                        state["answered"] = True
                try:
                    dst.sendall(chunk)
                except OSError:
                    break
            _shut(dst)

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        while True:
            try:
                chunk = src.recv(65536)
            except OSError:
                chunk = b""
            if not chunk:
                break
            if side == "client":
                with self._lock:
                    if state["answered"]:
                        self._turns += 1
                    state["answered"] = False
            with ready:
                heapq.heappush(due, (time.monotonic() + self.delay, next(order), chunk))
                ready.notify()
        with ready:
            done.set()
            ready.notify()


def _shut(sock: socket.socket) -> None:
    with suppress(OSError):
        sock.shutdown(socket.SHUT_WR)


@contextmanager
def latency_proxy(url: str, delay: float = 0.0) -> Iterator[tuple[LatencyProxy, str]]:
    """A proxy in front of the database at ``url``, and the URL that goes through it."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    proxy = LatencyProxy((parts.hostname or "127.0.0.1", parts.port or 5432), delay)
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@127.0.0.1:{proxy.port}" if userinfo else f"127.0.0.1:{proxy.port}"
    try:
        yield proxy, urlunsplit(parts._replace(netloc=netloc))
    finally:
        proxy.close()

"""`autoembed serve` keeps its open sockets bounded whatever clients do: a reviewer found that
lingering every closing connection let evicted idle clients pile up descriptors until select()
failed and the loop died (1,026 descriptors from 1,500 idle connections)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
from autoembed.server import CONNECTION_LIMIT, Server, make_server

from tests.support import wait_for

PATH = b"/api/process-embedding-queue"


@pytest.fixture
def server() -> Iterator[Server]:
    # No request here reaches the handler: each is evicted, refused or answered by waitress.
    served = make_server(object(), "127.0.0.1", 0)  # type: ignore[arg-type]
    thread = threading.Thread(target=served.serve_forever, daemon=True)
    thread.start()
    yield served
    served.shutdown()
    assert not thread.is_alive() or thread.join(5) is None


def _open(served: Server) -> int:
    return len(served._server.active_channels)


def test_evicted_idle_clients_hold_no_socket(server: Server) -> None:
    clients = []
    try:
        for _ in range(4 * CONNECTION_LIMIT):
            clients.append(socket.create_connection(("127.0.0.1", server.server_port), timeout=5))
            time.sleep(0.002)
        # At once, not after a linger: each evicted one closes on the loop's next pass.
        wait_for(lambda: _open(server) <= CONNECTION_LIMIT + 1, timeout=2,
                 what="the server to hold at most its limit of sockets")
    finally:
        for sock in clients:
            sock.close()


def test_clients_refused_early_linger_no_more_than_the_limit(server: Server) -> None:
    """Each gets its 413 and keeps its socket open: at most the limit of them linger."""
    clients = []
    try:
        for _ in range(3 * CONNECTION_LIMIT):
            sock = socket.create_connection(("127.0.0.1", server.server_port), timeout=5)
            sock.sendall(b"POST " + PATH + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 50000000\r\n\r\n")
            clients.append(sock)
        wait_for(lambda: all(sock.recv(12).startswith(b"HTTP/1.1 413") for sock in clients[-5:]),
                 timeout=10, what="the last clients' 413")
        assert _open(server) <= 2 * CONNECTION_LIMIT + 1
    finally:
        for sock in clients:
            sock.close()
    wait_for(lambda: _open(server) == 0, timeout=15, what="every socket closed once the clients left")

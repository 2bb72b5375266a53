"""Ports under pytest-xdist: a server that lost its free port to another process moves, never shares."""

from __future__ import annotations

import socket
import time

import pytest

from xmpp_ext.servers import SERVERS, ServerFailed
from xmpp_ext.servers.listeners import owned_and_foreign
from xmpp_ext.util.children import group_members

pytestmark = pytest.mark.integration


@pytest.fixture
def taken_port():
    """A loopback port someone else (this test) listens on, as another worker's server would."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield other.getsockname()[1]


def test_first_start_moves_off_a_port_another_process_took(xmpp_server, taken_port):
    server = SERVERS[xmpp_server.kind]()
    try:
        server.port = taken_port  # what losing the race between choosing and binding looks like
        server.start()
        assert server.port != taken_port
        owned, foreign = owned_and_foreign(server.listeners, group_members(server.process_group))
        assert (owned, foreign) == (server.listeners, set())
    finally:
        server.stop()


def bind_when_free(sock: socket.socket, address: tuple[str, int], within: float = 10.0) -> None:
    """Bind ``sock`` once the stopped server's last process has let the port go (ejabberd's VM can take a moment)."""
    deadline = time.monotonic() + within
    while True:
        try:
            sock.bind(address)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)  # no event tells when another process closes its socket


def test_restart_keeps_its_port_and_fails_clearly_when_it_was_taken(xmpp_server):
    server = SERVERS[xmpp_server.kind]()
    try:
        server.start()
        port = server.port
        server.kill()
        with socket.socket() as other:
            # The server's closed connections may linger in TIME_WAIT; a listener may still bind.
            other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            bind_when_free(other, ("127.0.0.1", port))
            other.listen()
            with pytest.raises(ServerFailed, match=f"could not listen: 127.0.0.1:{port} already in use"):
                server.start()
        assert server.port == port
    finally:
        server.stop()

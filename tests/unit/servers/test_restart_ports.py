"""A restart keeps its ports: a listener there that is not the new server's is given a moment before failing."""

from __future__ import annotations

import pytest

from xmpp_ext.servers import base
from xmpp_ext.servers.prosody import ProsodyServer


@pytest.fixture
def restarting(monkeypatch):
    """A server object as a restart sees it (started before), with what /proc says scripted."""
    server = ProsodyServer()
    server._started_before = True
    seen: list[tuple[set, set]] = []

    def script(*views: tuple[set, set]) -> None:
        seen.extend(views)

    def owned_and_foreign(wanted, _pids):
        return seen.pop(0) if len(seen) > 1 else seen[0]

    monkeypatch.setattr(base, "owned_and_foreign", owned_and_foreign)
    monkeypatch.setattr(base.time, "sleep", lambda _seconds: None)
    yield server, script
    server.stop()


def test_a_listener_seen_foreign_for_a_moment_then_ours_is_a_start(restarting):
    server, script = restarting
    script((set(), server.listeners), (set(), server.listeners), (server.listeners, set()))
    server._wait_until_ready()  # returns: no PortTaken


def test_a_listener_foreign_past_the_patience_is_port_taken(restarting, monkeypatch):
    server, script = restarting
    monkeypatch.setattr(base, "RESTART_PATIENCE", 0.0)
    script((set(), server.listeners))
    with pytest.raises(base.PortTaken, match="already in use by another process"):
        server._wait_until_ready()


def test_a_first_start_does_not_wait_it_moves(restarting):
    server, script = restarting
    server._started_before = False
    script((set(), server.listeners), (server.listeners, set()))
    with pytest.raises(base.PortTaken):
        server._wait_until_ready()


def test_port_taken_names_what_was_foreign_from_the_start(restarting, monkeypatch):
    server, script = restarting
    monkeypatch.setattr(base, "RESTART_PATIENCE", 0.0)
    c2s, direct_tls = ("127.0.0.1", server.port), ("127.0.0.1", server.direct_tls_port)
    script((set(), {c2s}), (set(), {c2s, direct_tls}))  # then the new server's own last listener, as it exits
    with pytest.raises(base.PortTaken) as taken:
        server._wait_until_ready()
    assert str(taken.value) == f"127.0.0.1:{server.port} already in use by another process"

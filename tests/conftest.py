"""Shared fixtures: the real XMPP server for integration tests.

The server comes from xmpp_ext.localserver, chosen by XMPPEXT_TEST_SERVER:
prosody (the default), ejabberd, or all (every integration test runs against
each). A missing server is a test error, never a skip: run scripts/setup
(scripts/test does) to install it.
"""

from __future__ import annotations

import os

import pytest

from xmpp_ext.localserver import SERVERS, LocalServer, ServerNotInstalled

_servers: list[LocalServer] = []


def _server_kinds() -> list[str]:
    wanted = os.environ.get("XMPPEXT_TEST_SERVER", "prosody")
    return sorted(SERVERS) if wanted == "all" else [wanted]


@pytest.fixture(scope="session", params=_server_kinds())
def xmpp_server(request: pytest.FixtureRequest) -> LocalServer:
    kind = request.param
    if kind not in SERVERS:
        pytest.fail(f"XMPPEXT_TEST_SERVER={kind!r} is not one of {', '.join(SERVERS)}", pytrace=False)
    try:
        # The server makes its own temp dir: one the ejabberd user can reach
        # (pytest's live under a root-only directory).
        server = SERVERS[kind]()
    except ServerNotInstalled as exc:
        pytest.fail(str(exc), pytrace=False)
    _servers.append(server)
    with server:
        yield server
    _servers.remove(server)


@pytest.fixture(autouse=True)
def _slixmpp_unpatched():
    """Every test starts and ends with slixmpp as shipped, whatever an earlier test applied."""
    from xmpp_ext import patches

    patches.revert()
    yield
    patches.revert()


@pytest.fixture
def patched_slixmpp():
    """slixmpp with xmpp_ext.patches applied, as the command's clients run it."""
    from xmpp_ext import patches

    assert patches.apply()
    yield
    patches.revert()


@pytest.fixture
def make_account(xmpp_server: LocalServer):
    """Fresh accounts on the shared server, so tests never share a JID."""
    return xmpp_server.add_account


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    if report.failed and item.get_closest_marker("integration"):
        for server in _servers:
            report.sections.append((f"{server.kind} log (last lines)", server.log_tail(60)))


@pytest.fixture
def responder(xmpp_server: LocalServer, make_account):
    """Start ``xmppext respond`` processes on fresh accounts; all are stopped after the test."""
    from tests.integration.processes import start_responder

    started = []

    def start(*args: str, account=None):
        running = start_responder(xmpp_server, account or make_account(), *args)
        started.append(running)
        return running

    yield start
    for running in started:
        if running.process.poll() is None:
            running.kill()

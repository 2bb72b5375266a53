"""Integration fixtures on top of the plugin's xmpp_server / xmpp_account (xmpp_ext.pytest_plugin)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def make_account(xmpp_account):
    """Fresh accounts on the shared server, so tests never share a JID; removed after the test.

    The name the suite has always used for the plugin's xmpp_account.
    """
    return xmpp_account


@pytest.fixture
def responder(xmpp_server, make_account):
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


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A temp dir the server's user (ejabberd) can enter: TMPDIR of a run under test, whose server dirs go there."""
    path = Path(tempfile.mkdtemp(prefix="xmppext-killed-run-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)

"""``xmpp_client`` and ``xmpp_fault_proxy``, the async fixtures; registered by the plugin when pytest-asyncio is loaded.

Its set-up and teardown run in the test's own event loop (``loop_scope="function"``):
slixmpp clients belong to the loop that made them, and a session loop would close
before teardown ("Event loop is closed"), a module loop differ from the test's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio


@pytest_asyncio.fixture(loop_scope="function")
async def xmpp_client(xmpp_server, xmpp_account) -> AsyncIterator:
    """``await xmpp_client(account=None, plugins=[...], resource=None)``: a connected, session-started
    slixmpp.ClientXMPP, TLS verified against the server's CA; every one is disconnected after the test."""
    from xmpp_ext.pytest_plugin.clients import ClientFactory

    factory = ClientFactory(xmpp_server, xmpp_account)
    try:
        yield factory
    finally:
        await factory.close()


@pytest_asyncio.fixture(loop_scope="function")
async def xmpp_fault_proxy(xmpp_server) -> AsyncIterator:
    """A started xmpp_ext.faultproxy.FaultProxy in front of the test's server, stopped after the test.

    Connect a client through it with ``xmpp_client(..., through=xmpp_fault_proxy)``; break its
    connections with ``cut_now()`` / ``stall_now(seconds)``, or set ``plan`` (a FaultPlan) before
    connecting for faults on a schedule; ``counters`` and ``wait_until`` tell what happened.
    """
    from xmpp_ext.faultproxy import FaultProxy, FaultProxyError

    try:
        proxy = FaultProxy((xmpp_server.host, xmpp_server.port))
    except FaultProxyError as exc:
        pytest.fail(f"xmpp_fault_proxy: {exc} (the server is at {xmpp_server.host})", pytrace=False)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.stop()

"""``xmpp_client``, the async fixture; registered by the plugin when pytest-asyncio is loaded.

Its set-up and teardown run in the test's own event loop (``loop_scope="function"``):
slixmpp clients belong to the loop that made them, and a session loop would close
before teardown ("Event loop is closed"), a module loop differ from the test's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

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

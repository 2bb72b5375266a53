"""Small helpers for tests that talk to the real server."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from slixmpp import JID

from xmpp_ext.client import ConnectionSettings
from xmpp_ext.localserver import Account, LocalServer

T = TypeVar("T")


def settings_for(server: LocalServer, account: Account, resource: str = "test", **overrides) -> ConnectionSettings:
    values = dict(
        jid=JID(f"{account.jid}/{resource}"),
        password=account.password,
        host=server.host,
        port=server.port,
        ca_cert=server.ca_cert,
        connect_timeout=10.0,
    )
    values.update(overrides)
    return ConnectionSettings(**values)


def run(coroutine_function: Callable[[], Awaitable[T]], timeout: float = 60) -> T:
    """Run one test scenario in a fresh event loop, bounded in time."""

    async def bounded() -> T:
        return await asyncio.wait_for(coroutine_function(), timeout)

    return asyncio.run(bounded())

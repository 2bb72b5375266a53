"""Small helpers for tests that talk to the real server."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from xmpp_ext.servers import Account, LocalServer
from xmpp_ext.session import ConnectionSettings

T = TypeVar("T")


def settings_for(server: LocalServer, account: Account, resource: str = "test", **overrides) -> ConnectionSettings:
    return server.settings_for(account, resource, **overrides)


def run(coroutine_function: Callable[[], Awaitable[T]], timeout: float = 60) -> T:
    """Run one test scenario in a fresh event loop, bounded in time."""

    async def bounded() -> T:
        return await asyncio.wait_for(coroutine_function(), timeout)

    return asyncio.run(bounded())

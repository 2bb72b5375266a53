"""The life of one connection: settings, the client and its filter order, login, stream management, reconnection.

Every job, the scenario clients, the pytest plugin and the benchmarks get their
clients here (``Session``, or ``connected`` for a client that only needs to be
logged in for a while); none of them builds or reconnects one itself.

* ``settings``  where and how to log in, and the TLS policy
* ``build``     settings -> client: the XEP-0198 counter, the depth guard, then the plugins
* ``login``     the first session or one line saying why not (ConnectError), logging out
* ``streammgmt`` XEP-0198 beside the fast paths: exact counts, the coalescing SessionWriter
* ``reconnect`` the one reconnection policy and the events a session reports
* ``session``   Session: all of the above for a job's whole run
* ``guard``, ``patches``, ``slixmpp_private``: the depth guard, our two slixmpp patches, and
  every access to slixmpp internals
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import slixmpp

from xmpp_ext.session.build import DEFAULT_PLUGINS, Plugins, build_client
from xmpp_ext.session.login import ConnectError, disconnect, login
from xmpp_ext.session.reconnect import (
    AttemptFailed,
    Cut,
    Lost,
    NewSession,
    ReconnectPolicy,
    Refusal,
    Resumed,
    SessionEvent,
)
from xmpp_ext.session.session import Recoveries, Session
from xmpp_ext.session.settings import ConnectionSettings
from xmpp_ext.session.streammgmt import SessionWriter, StreamManagement, on_session_ready

__all__ = [
    "DEFAULT_PLUGINS",
    "AttemptFailed",
    "ConnectError",
    "ConnectionSettings",
    "Cut",
    "Lost",
    "NewSession",
    "Plugins",
    "ReconnectPolicy",
    "Recoveries",
    "Refusal",
    "Resumed",
    "Session",
    "SessionEvent",
    "SessionWriter",
    "StreamManagement",
    "build_client",
    "connected",
    "disconnect",
    "login",
    "on_session_ready",
]


@asynccontextmanager
async def connected(
    settings: ConnectionSettings, plugins: Plugins = DEFAULT_PLUGINS, **options: Any
) -> AsyncIterator[slixmpp.ClientXMPP]:
    """A logged-in client for the duration of a ``with`` block, then a clean disconnect (``Session`` options)."""
    async with Session(settings, plugins, **options) as session:
        yield session.client

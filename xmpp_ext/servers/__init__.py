"""Throwaway XMPP servers on loopback, for tests, scripts and ``run-pair --local``.

Each server lives in its own temp dir with its own config, a freshly generated
CA and certificate (clients verify TLS against that CA), accounts with random
passwords, no server-to-server or HTTP ports, and its logs. ``stop()`` (also
run at interpreter exit, and the kernel kills the server if this process dies
first) kills it and removes the dir.
"""

from __future__ import annotations

from collections.abc import Iterable

from xmpp_ext.servers.base import (
    LOOPBACK,
    Account,
    LocalServer,
    ServerFailed,
    ServerNotInstalled,
    free_port,
)
from xmpp_ext.servers.ejabberd import EjabberdServer
from xmpp_ext.servers.prosody import ProsodyServer
from xmpp_ext.util.serverkinds import LOCAL_SERVER_KINDS

__all__ = [
    "LOOPBACK",
    "SERVERS",
    "Account",
    "EjabberdServer",
    "LocalServer",
    "ProsodyServer",
    "ServerFailed",
    "ServerNotInstalled",
    "free_port",
    "start_server",
]

SERVERS: dict[str, type[LocalServer]] = {server.kind: server for server in (ProsodyServer, EjabberdServer)}
assert tuple(SERVERS) == LOCAL_SERVER_KINDS, "xmpp_ext.util.serverkinds names every server class, in order"


def start_server(
    kind: str = "prosody", accounts: int | Iterable[str] = 2, domain: str = "localhost", nodes: int = 1
) -> LocalServer:
    """Start a throwaway server of ``kind`` with fresh accounts; the caller stops it.

    ``accounts`` is a number of accounts, or their localparts. ``nodes`` > 1: an ejabberd cluster
    (servers/cluster.py), the accounts spread over its nodes in turn.
    """
    try:
        server_class = SERVERS[kind]
    except KeyError:
        raise ValueError(f"unknown server {kind!r}; known: {', '.join(sorted(SERVERS))}") from None
    if nodes > 1:
        from xmpp_ext.servers.cluster import clustered

        server = clustered(kind, nodes, domain=domain)
    else:
        server = server_class(domain=domain)
    try:
        for localpart in [None] * accounts if isinstance(accounts, int) else accounts:
            server.add_account(localpart)
        return server.start()
    except BaseException:
        server.stop()
        raise

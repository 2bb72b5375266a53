"""The server behind the ``xmpp_server`` fixture: started here, or described (``external``).

Imported only when a test needs a server: it pulls in the server code and
the certificate generator (cryptography).
"""

from __future__ import annotations

import os

from xmpp_ext.pytest_plugin.settings import EXTERNAL, External, XmppSettings
from xmpp_ext.servers.base import XmppServer


def open_server(kind: str, settings: XmppSettings) -> XmppServer:
    """A running server of ``kind``; the caller calls ``close_server`` when done.

    Raises ServerNotInstalled or ServerFailed with a message for the user.
    """
    if kind == EXTERNAL:
        assert settings.external is not None  # settings.read() guarantees it for this kind
        return _external(settings.external)
    from xmpp_ext.localserver import SERVERS

    # Its own temp dir, not pytest's tmp_path_factory: ejabberd runs as its own
    # user, who cannot enter pytest's (or a user's project) root-only directories.
    server = SERVERS[kind]()
    try:
        return server.start()
    except BaseException:
        server.stop()
        raise


def close_server(server: XmppServer) -> None:
    stop = getattr(server, "stop", None)  # an external server is not ours to stop
    if stop is not None:
        stop()


def _external(external: External) -> XmppServer:
    from xmpp_ext.servers.external import ExternalServer, read_accounts_file

    premade = read_accounts_file(external.accounts_file) if external.accounts_file else []
    server = ExternalServer(
        external.domain,
        host=external.host,
        port=external.port,
        ca_cert=external.ca_cert,
        premade=worker_share(premade),
        register=external.register,
    )
    server.check_reachable()
    return server


def worker_share(items: list) -> list:
    """This pytest-xdist worker's share of ``items`` (all of them outside xdist): none is used twice."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    if not worker.startswith("gw") or count <= 1:
        return list(items)
    return list(items[int(worker[2:]) :: count])

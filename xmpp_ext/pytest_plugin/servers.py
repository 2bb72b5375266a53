"""The server behind the ``xmpp_server`` fixture: started here, or described (``external``).

Imported only when a test needs a server: it pulls in the server code and
the certificate generator (cryptography).
"""

from __future__ import annotations

from xmpp_ext.pytest_plugin.settings import EXTERNAL, External, XmppSettings
from xmpp_ext.servers.base import XmppServer


def open_server(kind: str, settings: XmppSettings, worker: tuple[int, int] = (0, 1)) -> XmppServer:
    """A running server of ``kind``; the caller calls ``close_server`` when done.

    ``worker`` is this pytest-xdist worker's (index, count). Raises
    ServerNotInstalled or ServerFailed with a message for the user.
    """
    if kind == EXTERNAL:
        assert settings.external is not None  # settings.read() guarantees it for this kind
        return _external(settings.external, worker)
    from xmpp_ext.servers import SERVERS
    from xmpp_ext.servers.cluster import EjabberdCluster

    # Its own temp dir, not pytest's tmp_path_factory: ejabberd runs as its own
    # user, who cannot enter pytest's (or a user's project) root-only directories.
    server = EjabberdCluster(settings.nodes) if settings.nodes > 1 else SERVERS[kind]()
    try:
        return server.start()
    except BaseException:
        server.stop()
        raise


def close_server(server: XmppServer) -> None:
    stop = getattr(server, "stop", None)  # an external server is not ours to stop
    if stop is not None:
        stop()


def _external(external: External, worker: tuple[int, int]) -> XmppServer:
    from xmpp_ext.servers.external import ExternalServer, read_accounts_file

    premade = read_accounts_file(external.accounts_file) if external.accounts_file else []
    server = ExternalServer(
        external.domain,
        host=external.host,
        port=external.port,
        ca_cert=external.ca_cert,
        premade=worker_share(premade, *worker),
        register=external.register,
    )
    server.check_reachable()
    return server


def worker_share(items: list, index: int, count: int) -> list:
    """Worker ``index`` of ``count``'s share of ``items``: no item goes to two workers."""
    return list(items[index::count])


def xdist_worker(config) -> tuple[int, int]:
    """(index, count) of this pytest-xdist worker; (0, 1) outside xdist.

    Read from the worker's config, not PYTEST_XDIST_WORKER: a pytest run
    inside a worker (pytester, a subprocess) inherits that variable.
    """
    workerinput = getattr(config, "workerinput", None)
    if not workerinput:
        return 0, 1
    return int(workerinput["workerid"].removeprefix("gw")), int(workerinput["workercount"])

"""pytest fixtures with a real XMPP server: ``xmpp_server``, ``xmpp_account``, ``xmpp_client``.

Registered through the ``pytest11`` entry point of the xmppext distribution,
so installing xmppext makes them available to every project. Loading this
module imports only pytest and the standard library: the server code,
cryptography and slixmpp are imported when a test first asks for a fixture,
so projects that never use them pay nothing.

The stanza helpers (``expect_stanza``, ``wait_for_stanza``, ``StanzaTimeout``)
can be imported from here; they load slixmpp on first access.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from xmpp_ext.pytest_plugin import settings as xmpp_settings

SETTINGS_KEY = pytest.StashKey[xmpp_settings.XmppSettings]()
# The servers running now, by kind: where a failing test's report finds the log to show.
ACTIVE_KEY = pytest.StashKey[dict]()
LOG_LINES = 60

_LAZY = {"expect_stanza", "wait_for_stanza", "StanzaTimeout"}


def __getattr__(name: str):
    if name in _LAZY:
        from xmpp_ext.pytest_plugin import stanzas

        return getattr(stanzas, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("xmppext", "real XMPP servers (xmppext)")
    for setting in xmpp_settings.SETTINGS:
        group.addoption(setting.option, dest=setting.dest, default=None, help=f"{setting.help} [{setting.env}]")
        parser.addini(setting.ini, help=setting.help, default="")


def pytest_configure(config: pytest.Config) -> None:
    config.stash[SETTINGS_KEY] = xmpp_settings.read(config)
    config.stash[ACTIVE_KEY] = {}
    # xmpp_client is an async fixture: it exists only with pytest-asyncio, which
    # is imported here, when pytest has loaded it anyway, not at module import.
    if config.pluginmanager.hasplugin("asyncio"):
        from xmpp_ext.pytest_plugin import asyncfixtures as client_fixtures
    else:
        from xmpp_ext.pytest_plugin import noasync as client_fixtures
    config.pluginmanager.register(client_fixtures, "xmppext-clients")


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """``*.scs`` scripts as tests, when ``xmpp_scenarios`` (or --xmpp-scenarios, XMPPEXT_TEST_SCENARIOS) is true."""
    if file_path.suffix != ".scs" or parent.config.stash[SETTINGS_KEY].scenarios is None:
        return None
    from xmpp_ext.pytest_plugin.scenarios import ScenarioFile

    return ScenarioFile.from_parent(parent, path=file_path)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize every test that uses ``xmpp_server`` over the servers asked for.

    Here, not with ``params=`` on the fixture: the servers are known only after
    the options are parsed.
    """
    if "xmpp_server" not in metafunc.fixturenames:
        return
    definitions = getattr(metafunc, "_arg2fixturedefs", {}).get("xmpp_server")
    if definitions and getattr(definitions[-1].func, "__module__", __name__) != __name__:
        return  # a conftest's own xmpp_server overrides the plugin's, parameters and all
    for marker in metafunc.definition.iter_markers("parametrize"):
        names = marker.args[0] if marker.args else ""
        if "xmpp_server" in (names.replace(" ", "").split(",") if isinstance(names, str) else names):
            return  # the test chose its servers itself
    kinds = list(metafunc.config.stash[SETTINGS_KEY].kinds)
    metafunc.parametrize("xmpp_server", kinds, indirect=True, scope="session", ids=kinds)


@pytest.fixture(scope="session")
def xmpp_server(request: pytest.FixtureRequest) -> Iterator:
    """A running XMPP server for the whole session (per pytest-xdist worker).

    Attributes: ``kind``, ``domain``, ``host``, ``port``, ``ca_cert``, ``accounts``,
    ``log_path`` (None for an external server); a local one also ``workdir`` and
    ``restart()``. Which server: ``--xmpp-server``, ini ``xmpp_server`` or
    ``XMPPEXT_TEST_SERVER``; ``--xmpp-nodes N`` (ini ``xmpp_nodes``, ``XMPPEXT_TEST_NODES``) makes an
    ejabberd one a cluster of N nodes (``nodes``, ``ports``, ``home_of(account)``; no ``restart()``).
    """
    from xmpp_ext.pytest_plugin.servers import close_server, open_server, xdist_worker
    from xmpp_ext.servers.base import ServerFailed, ServerNotInstalled
    from xmpp_ext.util.stopsignals import first_sigterm_as_ctrl_c

    settings = request.config.stash[SETTINGS_KEY]
    kind = getattr(request, "param", settings.kinds[0])
    # pytest dies silently on SIGTERM, skipping every teardown: as Ctrl-C instead, the server is stopped and
    # its files removed as at a normal end (and a SIGKILL leaves it to the server's reaper, servers/base.py).
    with first_sigterm_as_ctrl_c(_announce_sigterm):
        try:
            server = open_server(kind, settings, xdist_worker(request.config))
        except (ServerNotInstalled, ServerFailed, ValueError, OSError) as exc:
            pytest.fail(f"xmpp_server ({kind}): {exc}", pytrace=False)
        active = request.config.stash[ACTIVE_KEY]
        active[kind] = server
        try:
            yield server
        finally:
            active.pop(kind, None)
            close_server(server)


def _announce_sigterm() -> None:
    print("xmppext: SIGTERM: stopping the test session and its XMPP servers", file=sys.stderr, flush=True)


@pytest.fixture
def xmpp_account(xmpp_server) -> Iterator:
    """``xmpp_account(localpart=None, password=None)``: a fresh account, removed after the test.

    Random localpart and password unless given; the account's roster and stored
    data go with it, so tests never see each other's.
    """
    made = []

    def make(localpart: str | None = None, password=None):
        account = xmpp_server.add_account(localpart, password)
        made.append(account)
        return account

    yield make
    failures = []
    for account in reversed(made):
        if account not in xmpp_server.accounts:
            continue  # the test removed it itself
        try:
            xmpp_server.remove_account(account)
        except Exception as exc:  # every account gets its chance; all failures are reported
            failures.append(f"{account.jid}: {exc}")
    if failures:
        pytest.fail("could not remove test accounts: " + "; ".join(failures), pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """A failing test that used the server shows the end of the server's log."""
    report = yield
    if report.failed and "xmpp_server" in getattr(item, "fixturenames", ()):
        server = _server_of(item)
        tail = server.log_tail(LOG_LINES) if server is not None else ""
        if tail:
            report.sections.append((f"{server.kind} log (last lines)", tail))
    return report


def _server_of(item: pytest.Item):
    active = item.config.stash.get(ACTIVE_KEY, {})
    callspec = getattr(item, "callspec", None)
    kind = callspec.params.get("xmpp_server") if callspec is not None else None
    if kind in active:
        return active[kind]
    return next(iter(active.values()), None) if len(active) == 1 else None

"""The plugin's settings: each from a command-line option, else the ini file, else the environment.

Setting ``ca_cert`` is the option ``--xmpp-ca-cert``, the ini key ``xmpp_ca_cert`` and the variable
``XMPPEXT_TEST_CA_CERT``; likewise server, nodes, domain, host, port, accounts_file, register, and the settings of
``*.scs`` scripts collected as tests (scenarios, scenario_timeout, scenario_responder).
``XMPPEXT_TEST_SERVER`` predates the plugin: the project's own suite has always read it.

Read once, in pytest_configure: a bad value is a usage error before any test
runs, never a skip. Only the standard library here: loading the plugin must
stay cheap for projects that never use its fixtures.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from xmpp_ext.scenario.program import ResponderCommand
from xmpp_ext.util.serverkinds import LOCAL_SERVER_KINDS

#: The servers the plugin can start (xmpp_ext.util.serverkinds imports no server code).
LOCAL_KINDS = tuple(sorted(LOCAL_SERVER_KINDS))
EXTERNAL = "external"
ALL = "all"
DEFAULT_KIND = "prosody"
DEFAULT_SCENARIO_TIMEOUT = 5.0
MAX_SCENARIO_TIMEOUT = 600.0
#: Most nodes of a local ejabberd cluster (as xmpp_ext.servers.cluster.MAX_NODES, not imported: it is server code).
MAX_NODES = 8
CLUSTERED_KIND = "ejabberd"


@dataclass(frozen=True)
class Setting:
    name: str
    help: str

    @property
    def option(self) -> str:
        return "--xmpp-" + self.name.replace("_", "-")

    @property
    def dest(self) -> str:
        return "xmpp_" + self.name

    @property
    def ini(self) -> str:
        return "xmpp_" + self.name

    @property
    def env(self) -> str:
        return "XMPPEXT_TEST_" + self.name.upper()

    @property
    def sources(self) -> str:
        """How a message names it: every place it can come from."""
        return f"{self.option} / ini {self.ini} / {self.env}"


SETTINGS = (
    Setting(
        "server",
        f"which XMPP server the fixtures use: {', '.join(LOCAL_KINDS)} (started on loopback; default "
        f"{DEFAULT_KIND}), {ALL} (each dependent test runs against every one) or {EXTERNAL} (one already "
        "running: give its domain, and host, port, CA, accounts as needed)",
    ),
    Setting(
        "nodes",
        f"ejabberd: how many nodes the started server has, joined in one cluster on loopback (1 to {MAX_NODES}, "
        "default 1); accounts made one after another log in to different nodes",
    ),
    Setting("domain", "external server: its XMPP domain"),
    Setting("host", "external server: the host to connect to (default: the domain)"),
    Setting("port", "external server: its client port (default 5222)"),
    Setting("ca_cert", "external server: the PEM file of the CA that signed its certificate (default: system CAs)"),
    Setting("accounts_file", "external server: a file of pre-made accounts, one 'JID PASSWORD' per line"),
    Setting("register", "external server: 'true' to make accounts by in-band registration (XEP-0077)"),
    Setting("scenarios", "'true' to collect *.scs Scansion scripts as tests, one per script and server"),
    Setting("scenario_timeout", "seconds a collected script's receives: step waits at most (default 5)"),
    Setting(
        "scenario_responder",
        "a program to start beside each collected script, as `xmppext scenario --responder` does (run in the rootdir)",
    ),
)
BY_NAME = {setting.name: setting for setting in SETTINGS}


@dataclass(frozen=True)
class External:
    """Where an existing server is and how the fixtures get accounts on it."""

    domain: str
    host: str | None
    port: int
    ca_cert: Path | None
    accounts_file: Path | None
    register: bool


@dataclass(frozen=True)
class Scenarios:
    """How ``*.scs`` files collected as tests run (xmpp_scenarios=true)."""

    timeout: float = DEFAULT_SCENARIO_TIMEOUT
    responder: ResponderCommand | None = None


@dataclass(frozen=True)
class XmppSettings:
    kinds: tuple[str, ...]  # what xmpp_server is parametrized over
    external: External | None = None
    scenarios: Scenarios | None = None  # None: *.scs files are not collected
    nodes: int = 1  # ejabberd: nodes in one cluster


def raw(config: pytest.Config, name: str) -> str | None:
    """The value of setting ``name``: option, else ini, else environment; None when none is set."""
    setting = BY_NAME[name]
    for value in (config.getoption(setting.dest, None), config.getini(setting.ini), os.environ.get(setting.env)):
        if value not in (None, ""):
            return str(value).strip()
    return None


def read(config: pytest.Config) -> XmppSettings:
    """The settings in force, or pytest.UsageError naming the bad one."""
    server = raw(config, "server") or DEFAULT_KIND
    known = (*LOCAL_KINDS, ALL, EXTERNAL)
    if server not in known:
        raise pytest.UsageError(
            f"{BY_NAME['server'].sources}: unknown XMPP server {server!r}; known: {', '.join(known)}"
        )
    scenarios = _read_scenarios(config)
    nodes = _read_nodes(config, server)
    if nodes > 1:
        return XmppSettings(kinds=(server,), scenarios=scenarios, nodes=nodes)
    if server == ALL:
        return XmppSettings(kinds=LOCAL_KINDS, scenarios=scenarios)
    if server != EXTERNAL:
        return XmppSettings(kinds=(server,), scenarios=scenarios)
    return XmppSettings(kinds=(EXTERNAL,), external=_read_external(config), scenarios=scenarios)


def _read_nodes(config: pytest.Config, server: str) -> int:
    text = raw(config, "nodes") or "1"
    if not text.isdigit() or not 1 <= int(text) <= MAX_NODES:
        raise pytest.UsageError(f"{BY_NAME['nodes'].sources}: {text!r} is not a number of nodes from 1 to {MAX_NODES}")
    if int(text) > 1 and server != CLUSTERED_KIND:
        raise pytest.UsageError(
            f"{BY_NAME['nodes'].sources}: only {CLUSTERED_KIND} runs as a cluster here; "
            f"set {BY_NAME['server'].sources} to {CLUSTERED_KIND}"
        )
    return int(text)


def _read_scenarios(config: pytest.Config) -> Scenarios | None:
    if not _flag(config, "scenarios"):
        return None
    timeout_text = raw(config, "scenario_timeout") or str(DEFAULT_SCENARIO_TIMEOUT)
    try:
        timeout = float(timeout_text)
    except ValueError:
        timeout = math.nan
    if not (math.isfinite(timeout) and 0 < timeout <= MAX_SCENARIO_TIMEOUT):
        raise pytest.UsageError(
            f"{BY_NAME['scenario_timeout'].sources}: {timeout_text!r} is not a number of seconds from 0 to "
            f"{MAX_SCENARIO_TIMEOUT:g}"
        )
    command = raw(config, "scenario_responder")
    if not command:
        return Scenarios(timeout)
    try:
        responder = ResponderCommand.parse(command, cwd=config.rootpath)
    except ValueError as exc:
        raise pytest.UsageError(f"{BY_NAME['scenario_responder'].sources}: {exc}") from None
    return Scenarios(timeout, responder)


def _flag(config: pytest.Config, name: str) -> bool:
    text = (raw(config, name) or "false").lower()
    if text not in ("true", "false", "1", "0", "yes", "no"):
        raise pytest.UsageError(f"{BY_NAME[name].sources}: {text!r} is not true or false")
    return text in ("true", "1", "yes")


def _read_external(config: pytest.Config) -> External:
    domain = raw(config, "domain")
    if not domain:
        raise pytest.UsageError(f"an external XMPP server needs its domain: {BY_NAME['domain'].sources}")
    port_text = raw(config, "port") or "5222"
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise pytest.UsageError(f"{BY_NAME['port'].sources}: {port_text!r} is not a TCP port number")
    paths = {}
    for name in ("ca_cert", "accounts_file"):
        value = raw(config, name)
        paths[name] = Path(value).expanduser() if value else None
        if paths[name] is not None and not paths[name].is_file():
            raise pytest.UsageError(f"{BY_NAME[name].sources}: no such file: {paths[name]}")
    register = _flag(config, "register")
    if not register and paths["accounts_file"] is None:
        raise pytest.UsageError(
            "an external XMPP server needs a way to get accounts: "
            f"{BY_NAME['accounts_file'].sources}, or {BY_NAME['register'].sources}=true"
        )
    return External(
        domain=domain,
        host=raw(config, "host"),
        port=int(port_text),
        ca_cert=paths["ca_cert"],
        accounts_file=paths["accounts_file"],
        register=register,
    )

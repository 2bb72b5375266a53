"""The plugin's settings: each from a command-line option, else the ini file, else the environment.

Setting ``ca_cert`` is the option ``--xmpp-ca-cert``, the ini key ``xmpp_ca_cert`` and the variable
``XMPPEXT_TEST_CA_CERT``; likewise server, domain, host, port, accounts_file and register.
``XMPPEXT_TEST_SERVER`` predates the plugin: the project's own suite has always read it.

Read once, in pytest_configure: a bad value is a usage error before any test
runs, never a skip. Only the standard library here: loading the plugin must
stay cheap for projects that never use its fixtures.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from xmpp_ext.util.serverkinds import LOCAL_SERVER_KINDS

#: The servers the plugin can start (xmpp_ext.util.serverkinds imports no server code).
LOCAL_KINDS = tuple(sorted(LOCAL_SERVER_KINDS))
EXTERNAL = "external"
ALL = "all"
DEFAULT_KIND = "prosody"


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
    Setting("domain", "external server: its XMPP domain"),
    Setting("host", "external server: the host to connect to (default: the domain)"),
    Setting("port", "external server: its client port (default 5222)"),
    Setting("ca_cert", "external server: the PEM file of the CA that signed its certificate (default: system CAs)"),
    Setting("accounts_file", "external server: a file of pre-made accounts, one 'JID PASSWORD' per line"),
    Setting("register", "external server: 'true' to make accounts by in-band registration (XEP-0077)"),
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
class XmppSettings:
    kinds: tuple[str, ...]  # what xmpp_server is parametrized over
    external: External | None = None


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
    if server == ALL:
        return XmppSettings(kinds=LOCAL_KINDS)
    if server != EXTERNAL:
        return XmppSettings(kinds=(server,))
    return XmppSettings(kinds=(EXTERNAL,), external=_read_external(config))


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
    register_text = (raw(config, "register") or "false").lower()
    if register_text not in ("true", "false", "1", "0", "yes", "no"):
        raise pytest.UsageError(f"{BY_NAME['register'].sources}: {register_text!r} is not true or false")
    register = register_text in ("true", "1", "yes")
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

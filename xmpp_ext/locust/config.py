"""What the Locust user class needs to know, from Locust's command line, its config file or the environment.

Each option also reads an environment variable (shown by ``locust --help``)
and a ``locust.conf`` key. In a distributed run the master sends its parsed
options to every worker with each spawn, so they are set once, on the
master. The password never is an option: every process reads it from
``XMPPEXT_PASSWORD`` in its own environment (it would otherwise travel to
the workers and show in the web UI).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from xmpp_ext.load import accounts
from xmpp_ext.load.exchange import Kind
from xmpp_ext.load.plan import LoadPlan, PairAccounts
from xmpp_ext.util import envvars
from xmpp_ext.util.secret import Secret

ACCOUNTS_ENV = "XMPPEXT_LOCUST_ACCOUNTS"
KINDS = (Kind.IQ.value, Kind.MESSAGE.value)


class ConfigError(ValueError):
    """A setting is missing or wrong; the message says which, in one line."""


def add_options(parser) -> None:
    """Locust's ``init_command_line_parser`` listener: the --xmpp-* options."""
    group = parser.add_argument_group("xmppext", "XMPP sender/responder pairs (xmpp_ext.locust)")
    group.add_argument(
        "--xmpp-accounts",
        env_var=ACCOUNTS_ENV,
        default="",
        help="The accounts, e.g. 'load{n}@example.net': user k's pair logs in as n = first+2k (sender) and "
        f"first+2k+1 (responder), all with the password in {envvars.PASSWORD}",
    )
    group.add_argument("--xmpp-first", type=int, default=1, help="The first {n} of --xmpp-accounts")
    group.add_argument("--xmpp-host", env_var=envvars.HOST, default="", help="Server address (default: the domain)")
    group.add_argument(
        "--xmpp-ports",
        env_var=envvars.PORT,
        default="",
        help="Client port, or one per node of a cluster ('5222,5322'): each pair's sender and responder then "
        "log in to different nodes",
    )
    group.add_argument("--xmpp-ca-cert", env_var=envvars.CA_CERT, default="", help="CA file to verify the server with")
    group.add_argument("--xmpp-kind", choices=KINDS, default=Kind.IQ.value, help="Exchange: iq round trip or message")
    group.add_argument("--xmpp-timeout", type=float, default=10.0, help="Seconds before a request counts as lost")
    group.add_argument("--xmpp-login-timeout", type=float, default=30.0, help="Seconds a login may take")


@dataclass(frozen=True)
class XmppConfig:
    plan: LoadPlan  # server, TLS, kind, time-outs: as an xmppext load run has them
    pattern: str
    first: int
    password: Secret

    def pair_accounts(self, pair: int) -> PairAccounts:
        """Pair number ``pair``'s sender and responder (as ``xmppext load --accounts`` numbers them)."""
        return accounts.from_pattern(self.pattern, 1, self.first + 2 * pair, self.password)[0]


def read(options, environ: dict[str, str] | None = None) -> XmppConfig:
    """The configuration from Locust's parsed ``options``; ConfigError for a missing or bad setting."""
    environ = os.environ if environ is None else environ
    pattern = getattr(options, "xmpp_accounts", "") or ""
    if not pattern:
        raise ConfigError(f"no accounts: give --xmpp-accounts 'load{{n}}@example.net' (or {ACCOUNTS_ENV})")
    try:
        accounts.check_pattern(pattern)
    except accounts.AccountsError as exc:
        raise ConfigError(f"--xmpp-accounts: {exc}") from None
    password = environ.get(envvars.PASSWORD)
    if not password:
        raise ConfigError(f"no password: set {envvars.PASSWORD} (every account of --xmpp-accounts has it)")
    ports = _ports(options.xmpp_ports)
    for name in ("xmpp_timeout", "xmpp_login_timeout"):
        if not 0 < getattr(options, name) <= 3600:
            raise ConfigError(f"--{name.replace('_', '-')}: {getattr(options, name)} is not 0 to 3600 seconds")
    if options.xmpp_first < 0:
        raise ConfigError(f"--xmpp-first: {options.xmpp_first} is negative")
    if options.xmpp_ca_cert and not os.path.isfile(options.xmpp_ca_cert):
        raise ConfigError(f"--xmpp-ca-cert: no such file: {options.xmpp_ca_cert}")
    plan = LoadPlan(
        pairs=0,
        kind=Kind(options.xmpp_kind),
        timeout=options.xmpp_timeout,
        host=options.xmpp_host or None,
        port=ports[0] if ports else None,
        node_ports=ports if len(ports) > 1 else None,
        ca_cert=os.path.abspath(options.xmpp_ca_cert) if options.xmpp_ca_cert else None,
        login_timeout=options.xmpp_login_timeout,
        resource="locust",
    )
    return XmppConfig(plan, pattern, options.xmpp_first, Secret(password))


def _ports(text: str | int | None) -> list[int]:
    if text in (None, ""):
        return []
    ports = []
    for part in str(text).split(","):
        if not part.strip().isdigit() or not 0 < int(part) < 65536:
            raise ConfigError(f"--xmpp-ports: {part.strip()!r} is not a TCP port number")
        ports.append(int(part))
    return ports

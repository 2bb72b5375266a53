"""The environment variables of xmppext: named here once, read by every command, written by local-server.

Child processes (run-pair's clients, scenario's --responder, tests, benchmarks)
get their login this way, never on a command line, where every user of the
machine could read it. The .env file ``xmppext local-server`` writes uses the
same names, so sourcing it (``set -a; . ./.env; set +a``) points every command
at that server; its two accounts are ``XMPPEXT_SENDER_*`` and
``XMPPEXT_RESPONDER_*``, which ``--as sender|responder`` reads.
"""

from __future__ import annotations

import os
from pathlib import Path

from xmpp_ext.util.secret import MaskedText

JID = "XMPPEXT_JID"
PASSWORD = "XMPPEXT_PASSWORD"
HOST = "XMPPEXT_HOST"
PORT = "XMPPEXT_PORT"
CA_CERT = "XMPPEXT_CA_CERT"
LOGIN = (JID, PASSWORD, HOST, PORT, CA_CERT)
#: The two accounts of a .env file, chosen with --as.
ROLES = ("sender", "responder")
#: Only ever read from a .env file (with --as): turning verification off is never inherited from a shell.
INSECURE = "XMPPEXT_INSECURE"


def account_jid(role: str) -> str:
    """The .env key of ``role``'s JID (``sender`` or ``responder``): XMPPEXT_SENDER_JID, ..."""
    return f"XMPPEXT_{role.upper()}_JID"


def account_password(role: str) -> str:
    return f"XMPPEXT_{role.upper()}_PASSWORD"


#: What a scenario script may read with ${env:...}: only names with this prefix, so a script cannot read the
#: environment's other secrets.
SCENARIO_PREFIX = "XMPPEXT_SCENARIO_"
#: ``scenario --as ROLE``: that account of the .env file, for the script's client properties.
SCENARIO_JID = SCENARIO_PREFIX + "JID"
SCENARIO_PASSWORD = SCENARIO_PREFIX + "PASSWORD"
#: ``scenario --responder CMD``: the full JID of the program under test, once it is online.
SCENARIO_RESPONDER = SCENARIO_PREFIX + "RESPONDER"


def login_environment(
    jid: str,
    password: str,
    host: str | None = None,
    port: int | None = None,
    ca_cert: Path | str | None = None,
    base: dict[str, str] | None = None,
) -> dict[str, str]:
    """``base`` (default: this process's environment) with the login variables set; unset ones removed.

    The password is a MaskedText: the mapping's repr does not show it.
    """
    env = dict(os.environ if base is None else base)
    for name, value in ((JID, jid), (PASSWORD, password), (HOST, host), (PORT, port), (CA_CERT, ca_cert)):
        if value:
            env[name] = str(value)
        else:
            env.pop(name, None)
    if password:
        env[PASSWORD] = MaskedText(password)  # the value a child gets; shown (repr) only as a mask
    return env

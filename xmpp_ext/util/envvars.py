"""The environment variables that log an xmppext command in: named here once.

Child processes (run-pair's clients, tests, benchmarks) get their login this
way, never on a command line, where every user of the machine could read it.
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

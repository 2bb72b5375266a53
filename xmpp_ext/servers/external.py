"""A server someone else runs (a staging server, a CI service), described instead of started.

Accounts come from one of two places: in-band registration (XEP-0077) when
the server allows it (each account is removed again by cancelling its
registration), or a list of pre-made accounts handed out one at a time, each
at most once per test session. Under pytest-xdist the list is split between
the workers, so no two workers log in as the same account.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from pathlib import Path

from xmpp_ext.servers.base import Account, ServerFailed, XmppServer, new_account
from xmpp_ext.util.secret import Secret

CHECK_TIMEOUT = 5.0


def read_accounts_file(path: Path) -> list[Account]:
    """Accounts from a file of ``JID PASSWORD`` lines (blank lines and ``#`` comments ignored).

    A file, not a variable or option: passwords stay off command lines and out of CI logs.
    """
    accounts = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 1)
        if len(parts) != 2 or "@" not in parts[0]:
            raise ValueError(f"{path}:{number}: expected 'JID PASSWORD'")
        accounts.append(Account(parts[0], Secret(parts[1])))
    return accounts


class ExternalServer(XmppServer):
    kind = "external"

    def __init__(
        self,
        domain: str,
        host: str | None = None,
        port: int = 5222,
        ca_cert: Path | None = None,
        premade: Sequence[Account] = (),
        register: bool = False,
    ) -> None:
        self.domain = domain
        self.host = host or domain
        self.port = port
        self._ca_cert = ca_cert
        self.register = register
        self._premade = list(premade)
        self._registered: list[Account] = []
        self.accounts: list[Account] = []

    @property
    def ca_cert(self) -> Path | None:
        return self._ca_cert

    def check_reachable(self, timeout: float = CHECK_TIMEOUT) -> None:
        """Raise ServerFailed (one line) unless something accepts TCP connections at host:port."""
        try:
            with socket.create_connection((self.host, self.port), timeout=timeout):
                pass
        except OSError as error:
            reason = error.strerror or str(error) or type(error).__name__
            raise ServerFailed(
                f"the external XMPP server {self.domain} does not answer at {self.host}:{self.port} ({reason})"
            ) from None

    def add_account(self, localpart: str | None = None, password: str | Secret | None = None) -> Account:
        if self.register:
            from xmpp_ext.servers import inband

            account = new_account(self.domain, localpart, password, len(self.accounts) + 1)
            inband.register(self, account)
            self._registered.append(account)
        elif localpart is not None or password is not None:
            raise ServerFailed(
                f"{self.domain}: a chosen localpart or password needs in-band registration (xmpp_register)"
            )
        elif self._premade:
            account = self._premade.pop(0)
        else:
            raise ServerFailed(
                f"{self.domain}: no pre-made account left (each is used once per session): "
                "list more in the accounts file, or allow in-band registration (xmpp_register)"
            )
        self.accounts.append(account)
        return account

    def remove_account(self, account: Account) -> None:
        """Registered accounts are deleted; a pre-made one is only never handed out again."""
        if account in self._registered:
            from xmpp_ext.servers import inband

            inband.unregister(self, account)
            self._registered.remove(account)
        if account in self.accounts:
            self.accounts.remove(account)

    def __repr__(self) -> str:
        return f"<ExternalServer {self.domain} at {self.host}:{self.port}>"

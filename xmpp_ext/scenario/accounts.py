"""Fresh accounts per script on a throwaway local server: created before it runs, removed after.

Each script's clients log in with the JIDs and passwords it gives, so the
server needs no "accept any password" mode; removing the accounts (with their
rosters and stored data) afterwards means no script sees another's state.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from xmpp_ext.scenario.script import Script
from xmpp_ext.servers import Account, LocalServer


class AccountError(Exception):
    """A script's account cannot be made on the local server (wrong domain, server refused)."""


@contextmanager
def fresh_accounts(script: Script, server: LocalServer) -> Iterator[list[Account]]:
    created: list[Account] = []
    try:
        for spec in {spec.bare_jid: spec for spec in script.clients.values()}.values():
            if spec.domain != server.domain:
                raise AccountError(
                    f"client {spec.name}'s JID {spec.bare_jid} is not on the local server's domain {server.domain}"
                )
            try:
                created.append(server.add_account(spec.localpart, spec.password))
            except Exception as exc:  # each server kind fails in its own way; all mean the same here
                raise AccountError(f"cannot create {spec.bare_jid} on {server.kind}: {exc}") from exc
        yield created
    finally:
        for account in created:
            server.remove_account(account)


@contextmanager
def responder_account(server: LocalServer) -> Iterator[Account]:
    """A fresh account for the program under test (``--responder``), removed afterwards."""
    try:
        account = server.add_account(f"responder-{secrets.token_hex(3)}")
    except Exception as exc:  # as above: each server kind fails in its own way
        raise AccountError(f"cannot create the responder's account on {server.kind}: {exc}") from exc
    try:
        yield account
    finally:
        server.remove_account(account)

"""Where a load run's 2N accounts come from: a throwaway local server, a pattern, or a file.

Pair ``i`` (from 0) logs in as the accounts numbered ``first + 2i`` (sender)
and ``first + 2i + 1`` (responder).
"""

from __future__ import annotations

import secrets
from pathlib import Path

from slixmpp import JID
from slixmpp.jid import InvalidJID

from xmpp_ext.load.plan import PairAccounts
from xmpp_ext.servers.base import Account
from xmpp_ext.util.secret import Secret

#: The accounts a local run makes: load1@localhost, load2@localhost, ...
LOCAL_PATTERN = "load{n}"
PLACEHOLDER = "{n}"


class AccountsError(ValueError):
    """The accounts cannot be made or read; the message says why in one line."""


def check_pattern(pattern: str) -> str:
    """``pattern`` if it holds ``{n}`` once and makes bare JIDs with a user part; AccountsError otherwise."""
    if pattern.count(PLACEHOLDER) != 1:
        raise AccountsError(f"{pattern!r} must contain {PLACEHOLDER} exactly once, e.g. 'load{{n}}@example.net'")
    for sample in ("1", "99999"):
        text = pattern.replace(PLACEHOLDER, sample)
        try:
            jid = JID(text)
        except InvalidJID as exc:
            raise AccountsError(f"{pattern!r} makes {text!r}, which is not a valid JID ({exc})") from None
        if not jid.user or jid.resource:
            raise AccountsError(f"{pattern!r} makes {text!r}: expected a bare JID, user@domain")
    return pattern


def from_pattern(pattern: str, pairs: int, first: int, password: Secret) -> list[PairAccounts]:
    """The pairs' accounts from ``pattern`` (numbers ``first`` ... ``first + 2*pairs - 1``), one password."""
    check_pattern(pattern)
    return _paired([Account(pattern.replace(PLACEHOLDER, str(first + index)), password) for index in range(2 * pairs)])


def from_file(path: Path, pairs: int) -> list[PairAccounts]:
    """The first ``2*pairs`` accounts of a file of ``JID PASSWORD`` lines (as the pytest plugin reads them)."""
    from xmpp_ext.servers.external import read_accounts_file

    try:
        accounts = read_accounts_file(path)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise AccountsError(f"cannot read accounts from {path}: {exc}") from None
    if len(accounts) < 2 * pairs:
        raise AccountsError(f"{path} lists {len(accounts)} accounts; {pairs} pairs need {2 * pairs}")
    return _paired(accounts[: 2 * pairs])


def make_local(server, pairs: int) -> list[PairAccounts]:
    """2 * ``pairs`` fresh accounts on a local server, in bulk, sharing one random password."""
    password = Secret(secrets.token_urlsafe(18))
    localparts = [LOCAL_PATTERN.replace(PLACEHOLDER, str(number)) for number in range(1, 2 * pairs + 1)]
    return _paired(server.add_accounts(localparts, password))


def _paired(accounts: list[Account]) -> list[PairAccounts]:
    return [PairAccounts(sender, responder) for sender, responder in zip(accounts[0::2], accounts[1::2], strict=True)]

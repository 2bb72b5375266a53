"""Accounts made and removed over the client port (XEP-0077 in-band registration).

Used for ejabberd (``ejabberdctl register`` would put the password on a
command line) and for an external server that allows registration. Each call
runs a short-lived client in a thread with its own event loop, so it works
whether or not the caller is inside a running loop (tests add accounts from
both), and raises ServerFailed with one line (plus the server's log tail when
there is one) on failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine
from typing import Any

from xmpp_ext.servers.base import Account, ServerFailed, XmppServer

REGISTER_TIMEOUT = 20.0


def register(server: XmppServer, account: Account) -> None:
    """Create ``account`` on ``server``; a session proves it works."""
    _in_thread(server, _register(server, account), f"could not register {account.jid} in-band")


def unregister(server: XmppServer, account: Account) -> None:
    """Log in as ``account`` and cancel its registration (XEP-0077 §3.2)."""
    _in_thread(server, _unregister(server, account), f"could not remove {account.jid} in-band")


def _in_thread(server: XmppServer, coroutine: Coroutine[Any, Any, None], failure: str) -> None:
    failures: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(asyncio.wait_for(coroutine, REGISTER_TIMEOUT))  # noqa: TID251  (nothing outside cancels it)
        except BaseException as exc:  # reported in the caller's thread below
            failures.append(exc)

    worker = threading.Thread(target=run, name=failure)
    worker.start()
    worker.join()
    if failures:
        tail = server.log_tail()
        raise ServerFailed(f"{failure}: {failures[0]}" + (f"\n{tail}" if tail else ""))


async def _unregister(server: XmppServer, account: Account) -> None:
    from slixmpp.exceptions import IqError, IqTimeout

    from xmpp_ext.session import ConnectError, Session

    session = Session(server.settings_for(account, "unregister"), plugins=("xep_0077",))
    client = session.client
    try:
        await session.start()
    except ConnectError as exc:
        raise ServerFailed(str(exc)) from None
    # ejabberd may answer by closing the stream (conflict: "User removed") before or instead of the result.
    closed = asyncio.get_running_loop().create_future()
    client.add_event_handler("disconnected", lambda _reason: closed.done() or closed.set_result(None))
    answered = asyncio.ensure_future(client.plugin["xep_0077"].cancel_registration(timeout=REGISTER_TIMEOUT))
    try:
        await asyncio.wait({answered, closed}, return_when=asyncio.FIRST_COMPLETED)
        if answered.done():
            answered.result()
    except IqError as error:
        raise ServerFailed(f"removal refused: {error.condition}") from None
    except IqTimeout:
        raise ServerFailed("removal not answered") from None
    finally:
        answered.cancel()
        with contextlib.suppress(Exception):
            await session.close()


async def _register(server: XmppServer, account: Account) -> None:
    from slixmpp.exceptions import IqError, IqTimeout

    from xmpp_ext.session import ConnectError, Session

    session = Session(server.settings_for(account, "register"), plugins=("xep_0077",))
    client = session.client
    client.plugin["xep_0077"].force_registration = True

    refused: list[str] = []

    async def fill_in(_form: object) -> None:
        iq = client.make_iq_set()
        iq["register"]["username"] = account.localpart
        iq["register"]["password"] = account.password.reveal()
        try:
            await iq.send(timeout=REGISTER_TIMEOUT)
        except IqError as error:  # its text would echo the form, password included
            refused.append(f"registration refused: {error.condition}")
        except IqTimeout:
            refused.append("registration not answered")

    client.add_event_handler("register", fill_in)
    # Registration happens inside the login: a session proves the account works.
    try:
        await session.start()
    except ConnectError as exc:
        raise ServerFailed(refused[0] if refused else str(exc)) from None
    with contextlib.suppress(Exception):
        await session.close()

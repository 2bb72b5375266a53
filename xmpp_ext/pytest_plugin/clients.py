"""The ``xmpp_client`` factory: connected, session-started slixmpp clients, all closed at teardown."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import slixmpp

from xmpp_ext.pytest_plugin.clientoptions import (
    Address,
    address_overrides,
    plugin_configs,
    resumable_options,
    test_disconnect_is_final,
)
from xmpp_ext.servers.base import Account, XmppServer
from xmpp_ext.session import Session


class ClientFactory:
    """``await factory(account, plugins=[...])``: a client logged in to the test's server.

    TLS is verified against the server's CA. A failed login raises
    xmpp_ext.session.ConnectError, whose one line names host, port, JID and cause.
    """

    def __init__(self, server: XmppServer, make_account: Callable[[], Account]) -> None:
        self._server = server
        self._make_account = make_account
        self._sessions: list[Session] = []

    async def __call__(
        self,
        account: Account | None = None,
        *,
        plugins: Iterable[str] | Mapping[str, dict] = (),
        resource: str | None = None,
        connect_timeout: float = 10.0,
        through: Address | None = None,
        stream_management: bool = False,
    ) -> slixmpp.ClientXMPP:
        """Log in as ``account`` (default: a fresh one) with ``plugins`` registered.

        ``plugins`` names registered slixmpp plugins (import your plugin's module
        first), or maps names to their config dicts. ``through``: connect to this
        address (the ``xmpp_fault_proxy`` fixture) instead of the server.
        ``stream_management``: XEP-0198 on, and the client reconnects (and
        resumes) whenever its connection drops, until the test ends.
        """
        account = account or self._make_account()
        overrides = address_overrides(through)
        settings = self._server.settings_for(account, resource, connect_timeout=connect_timeout, **overrides)
        configs = plugin_configs(plugins)  # before any client exists: an unknown name fails the test here
        session = Session(settings, configs, **(resumable_options() if stream_management else {}))
        test_disconnect_is_final(session)
        self._sessions.append(session)
        await session.start()
        return session.client

    async def close(self) -> None:
        """Disconnect every client made, newest first; each wait is bounded."""
        while self._sessions:
            await self._sessions.pop().close()

"""Dropping a connection twice must be harmless, and nothing is written to one being dropped.

slixmpp's ``abort()`` closes the transport, then aborts it. asyncio's TLS
transport (CPython 3.11 and 3.12) takes a second ``close()`` as "forget the
protocol": from then on every ``write()`` raises AttributeError. Two aborts
before slixmpp has seen the connection lost do happen (a reconnection
attempt given up while a stop signal closes the session; the server's end of
stream, then our own clean-up), and the next write, a polite disconnect's
stream footer or a stanza in slixmpp's send queue, crashed the command: seen
as ``respond`` exiting 1 with a traceback when SIGTERM came while it
reconnected. ``abort`` below never closes a transport twice; a transport
that is closing drops what is written to it, as the TCP one does.

Installed on every client by ``build_client``; ``tests/unit/session/
test_closing.py`` says when slixmpp alone no longer needs it.
"""

from __future__ import annotations

import types

import slixmpp


def make_abort_repeatable(client: slixmpp.ClientXMPP) -> None:
    """Give ``client`` an ``abort()`` that may run any number of times before the connection is lost."""
    client.abort = types.MethodType(_abort, client)


def closing(client: slixmpp.ClientXMPP) -> bool:
    """Whether ``client`` has no connection, or one already being dropped (nothing written to it would go)."""
    transport = client.transport
    return transport is None or _is_closing(transport)


def _abort(client: slixmpp.ClientXMPP) -> None:
    transport = client.transport
    if transport is not None and _is_closing(transport):
        # Closed (or aborted) already: abort() alone is safe to repeat, close() is not.
        client.cancel_connection_attempt()
        transport.abort()
        return
    type(client).abort(client)


def _is_closing(transport: object) -> bool:
    # slixmpp's own test harness (SlixTest) gives a transport of its own, without is_closing().
    is_closing = getattr(transport, "is_closing", None)
    return is_closing is not None and is_closing()

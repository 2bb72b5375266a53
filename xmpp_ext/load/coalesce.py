"""One write per load session and event-loop pass: whatever a session writes in one pass leaves as one TLS record.

The session's ``SessionWriter`` already joins the stanzas our exchange writes
in one pass, but slixmpp writes its own data at once, each ``send_raw`` a TLS
record and a ``send`` system call of its own: above all stream management's
``<a/>``, which Prosody asks for after nearly every stanza it delivers. A
responder then answers a request with two records (the ``<a/>`` for the
request's ``<r/>``, then the answer), a sender likewise (the ``<a/>``, then the
next request). With thousands of sessions each carrying one stanza at a time
those records and system calls are most of what an exchange costs the
generator, and the server pays for each one it reads too.

``coalesce_writes(client)`` makes the client's ``send_raw`` (slixmpp's one way
to the transport: its own stanzas, the stream header and footer, our writer's
flushes) keep what it is given until the end of the event-loop pass, then
write it all at once. Nothing is reordered and nothing waits for more than
the current pass. What was kept for a connection that has gone (cut, or
replaced by STARTTLS or a reconnection) is dropped, as the connection would
have dropped it. ``send_raw`` still raises slixmpp's ``NotConnectedError``
with no connection, as before.
"""

from __future__ import annotations

import asyncio

import slixmpp
from slixmpp.xmlstream.xmlstream import NotConnectedError


class CoalescedWrites:
    """The replacement ``send_raw`` of one client (see the module's description)."""

    def __init__(self, client: slixmpp.ClientXMPP) -> None:
        self._client = client
        self._parts: list[bytes] = []
        self._transport: asyncio.BaseTransport | None = None
        self.writes = 0  # writes made to the transport (for tests)

    def send_raw(self, data: str | bytes) -> None:
        transport = self._client.transport
        if not transport:
            raise NotConnectedError()
        if transport is not self._transport:
            self._parts = []  # kept for a connection that is gone
            self._transport = transport
        self._parts.append(data.encode("utf-8") if isinstance(data, str) else data)
        if len(self._parts) == 1:
            self._client.loop.call_soon(self.flush)

    def flush(self) -> None:
        parts, self._parts = self._parts, []
        transport = self._transport
        if not parts or transport is None or transport is not self._client.transport:
            return
        transport.write(parts[0] if len(parts) == 1 else b"".join(parts))
        self.writes += 1


def coalesce_writes(client: slixmpp.ClientXMPP) -> CoalescedWrites:
    """Route every write of ``client`` through one ``CoalescedWrites`` (an attribute of this instance only)."""
    coalesced = CoalescedWrites(client)
    client.send_raw = coalesced.send_raw  # type: ignore[method-assign]
    return coalesced

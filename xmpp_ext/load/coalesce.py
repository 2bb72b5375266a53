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

The end of the pass is one ``PassBatch`` per event loop: every session's
deferred flush of a pass runs from one loop callback instead of a
``call_soon`` (a handle, a pass through the ready queue) per session and
write. Sessions' ``SessionWriter`` flushes join it (``defer_flushes_to``), so
a stanza written by the exchange leaves in the same pass instead of the one
after; the open-loop schedule runs the batch itself at the end of its tick
(``run``), so the requests it issues leave in the tick that issued them.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable

import slixmpp
from slixmpp.xmlstream.xmlstream import NotConnectedError

#: Rounds of deferred callbacks one run takes (a writer's flush defers the transport write: two); what
#: callbacks defer beyond that runs in the next pass, so no callback can hold the loop.
ROUNDS = 4


class PassBatch:
    """Callbacks to run before the current event-loop pass ends, all from one loop callback."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._due: list[Callable[[], None]] = []
        self._scheduled = False

    def defer(self, callback: Callable[[], None]) -> None:
        self._due.append(callback)
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._run_scheduled)

    def _run_scheduled(self) -> None:
        self._scheduled = False
        self.run()

    def run(self) -> None:
        """Run what is deferred now, and what that defers in turn (``ROUNDS`` at most); one callback's error is
        reported the way the loop reports a callback's, and the others still run."""
        handle_pending, self._scheduled = self._scheduled, True  # what is deferred meanwhile joins this run
        try:
            for _ in range(ROUNDS):
                due, self._due = self._due, []
                if not due:
                    return
                for callback in due:
                    try:
                        callback()
                    except Exception as exc:
                        self._loop.call_exception_handler({"message": "deferred write failed", "exception": exc})
        finally:
            self._scheduled = handle_pending
            if self._due and not handle_pending:
                self._scheduled = True
                self._loop.call_soon(self._run_scheduled)


_batches: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, PassBatch] = weakref.WeakKeyDictionary()


def pass_batch(loop: asyncio.AbstractEventLoop) -> PassBatch:
    """The one PassBatch of ``loop``."""
    batch = _batches.get(loop)
    if batch is None:
        batch = _batches[loop] = PassBatch(loop)
    return batch


class CoalescedWrites:
    """The replacement ``send_raw`` of one client (see the module's description)."""

    def __init__(self, client: slixmpp.ClientXMPP) -> None:
        self._client = client
        self._parts: list[bytes] = []
        self._transport: asyncio.BaseTransport | None = None
        self._batch = pass_batch(client.loop)
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
            self._batch.defer(self.flush)

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

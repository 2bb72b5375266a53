"""Windowed bursts of iq requests, at the cost of the wire and little more.

slixmpp's ``iq.send()`` registers one id matcher per outstanding request and
checks every incoming stanza against all of them, so a window of W costs W
matches per reply; it also builds and serialises a stanza object per request.
For a burst of identical requests this module instead:

* serialises the payload once and sends ``prefix + id + suffix`` strings;
* claims replies in an incoming filter by a dict lookup on the id (checking
  the sender), so they never reach the handler scan;
* keeps at most ``window`` requests in flight and no per-request task, list
  or future: memory does not grow with the burst's length.

Every request ends exactly once, as a result, an error or a time-out.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

import slixmpp
from slixmpp import JID
from slixmpp.xmlstream import ET, tostring
from slixmpp.xmlstream.xmlstream import NotConnectedError

from xmpp_ext.outcomes import Exchange, Status, iq_reply_verdict
from xmpp_ext.patches import quoteattr
from xmpp_ext.plugin import EXAMPLE_TAG

IQ_TAG = "{jabber:client}iq"


class CoalescingWriter:
    """Joins the stanzas written during one event-loop pass into a single send.

    Replies arrive in batches (one TLS record often holds dozens); answering
    each with its own write would cost a TLS record and a system call per
    stanza, here and in the server.
    """

    def __init__(self, client: slixmpp.ClientXMPP) -> None:
        self._client = client
        self._buffer: list[str] = []

    def write(self, data: str) -> None:
        if not self._buffer:
            self._client.loop.call_soon(self.flush)
        self._buffer.append(data)

    def flush(self) -> None:
        if self._buffer:
            data, self._buffer = "".join(self._buffer), []
            with contextlib.suppress(NotConnectedError):  # lost with the connection, like any queued stanza
                self._client.send_raw(data)


class IqPipeline:
    """Sends ``count`` copies of one iq to ``peer`` with at most ``window`` awaiting a reply."""

    def __init__(
        self,
        client: slixmpp.ClientXMPP,
        peer: JID | str,
        payload: ET.Element,
        itype: str,
        timeout: float,
        name: str,
        report: Callable[[Exchange], None],
        expect_error: str | None = None,
        on_silence: Callable[[], None] | None = None,
    ) -> None:
        """``on_silence`` is called when a whole window of requests in a row has timed out with no reply
        at all in between: the peer may just be silent, or the connection may have stalled."""
        self._client = client
        self._peer = JID(peer).full
        self._timeout = timeout
        self._name = name
        self._report = report
        self._expect_error = expect_error
        self._prefix = f"<iq xmlns='jabber:client' type='{itype}' to={quoteattr(self._peer)} id='"
        self._suffix = f"'>{tostring(payload)}</iq>"
        self._id_prefix = f"b{client.new_id()[:8]}-"
        self._next_number = 0
        self._window = 1
        self._expired_in_a_row = 0
        self._on_silence = on_silence
        self._remaining = 0
        # id -> (send time, time-out handle); at most `window` entries.
        self._pending: dict[str, tuple[float, asyncio.TimerHandle]] = {}
        self._done: asyncio.Future[None] | None = None
        self._writer = CoalescingWriter(client)

    async def run(self, count: int, window: int) -> None:
        self._done = self._client.loop.create_future()
        self._remaining = count
        self._window = window
        self._client.add_filter("in", self._claim_reply)
        try:
            for _ in range(min(window, count)):
                self._send_next()
            await self._done
        finally:
            self._client.del_filter("in", self._claim_reply)
            for _sent, timer in self._pending.values():
                timer.cancel()

    def abort(self, detail: str) -> int:
        """End every request in flight as lost with ``detail`` and send no more; returns how many were never sent."""
        unsent, self._remaining = self._remaining, 0
        for iq_id in list(self._pending):
            self._finish(iq_id, Status.LOST, detail, with_latency=False)
        return unsent

    def _send_next(self) -> None:
        if self._remaining == 0:
            if not self._pending and self._done is not None and not self._done.done():
                self._done.set_result(None)
            return
        self._remaining -= 1
        self._next_number += 1
        iq_id = f"{self._id_prefix}{self._next_number}"
        timer = self._client.loop.call_later(self._timeout, self._expire, iq_id)
        self._pending[iq_id] = (time.monotonic(), timer)
        # A request written while disconnected is lost with the connection and ends as a time-out.
        self._writer.write(f"{self._prefix}{iq_id}{self._suffix}")

    def _claim_reply(self, stanza: slixmpp.stanza.RootStanza) -> slixmpp.stanza.RootStanza | None:
        xml = stanza.xml
        if xml.tag != IQ_TAG:
            return stanza
        iq_id = xml.get("id")
        if iq_id not in self._pending or xml.get("from", self._peer) != self._peer:
            return stanza
        itype = xml.get("type")
        if itype == "result":
            status, detail = iq_reply_verdict(itype, xml.find(EXAMPLE_TAG) is not None, self._expect_error)
        elif itype == "error":
            # The stanza is already built: slixmpp's error interface reads it.
            error = stanza["error"]
            status, detail = iq_reply_verdict(
                itype, False, self._expect_error, error["condition"], error["text"], xml.get("from")
            )
        else:
            return stanza  # a get/set reusing our id is not a reply
        self._expired_in_a_row = 0
        self._finish(iq_id, status, detail)
        return None  # claimed: no handler scan for it

    def _expire(self, iq_id: str) -> None:
        if iq_id in self._pending:
            self._expired_in_a_row += 1
            if self._expired_in_a_row == self._window and self._on_silence is not None:
                self._on_silence()
            self._finish(iq_id, Status.LOST, f"no reply within {self._timeout:g}s", with_latency=False)

    @property
    def window(self) -> int:
        return self._window

    def heard_from_server(self) -> None:
        """The connection is alive (e.g. a ping was answered): count silent time-outs afresh."""
        self._expired_in_a_row = 0

    def _finish(self, iq_id: str, status: Status, detail: str, with_latency: bool = True) -> None:
        sent, timer = self._pending.pop(iq_id)
        timer.cancel()
        self._report(Exchange(self._name, status, detail, time.monotonic() - sent if with_latency else None))
        self._send_next()

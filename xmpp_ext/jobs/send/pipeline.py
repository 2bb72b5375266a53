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
import time
from collections.abc import Callable

import slixmpp
from slixmpp import JID
from slixmpp.xmlstream import ET, tostring

from xmpp_ext.jobs.outcomes import Exchange, Status, iq_reply_verdict
from xmpp_ext.plugin import EXAMPLE_TAG
from xmpp_ext.plugin.wire import IQ_TAG, quoteattr
from xmpp_ext.session.reconnect import Refusal
from xmpp_ext.session.streammgmt import SessionWriter

#: Ids of requests declared lost that are remembered, to tell a late reply from a duplicate.
MAX_LOST_IDS = 10_000


class IqPipeline:
    """Sends ``count`` copies of one iq to ``peer`` with at most ``window`` awaiting a reply.

    Across a cut connection (stream management): ``pause`` stops new requests
    while requests in flight keep their time-outs; after a refused resumption
    ``after_refusal`` splits those in flight into lost (they reached the
    server, their fate is unknown) and re-sent (the session sent them again:
    the server proved it never had them); ``unpause`` fills the window again. A reply to a request that already ended
    is swallowed and counted: ``duplicates`` (it had its reply) or ``late``
    (it had been declared lost).
    """

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
        *,
        writer: SessionWriter,
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
        self._writer = writer
        self._paused = False
        self._lost_ids: set[str] = set()  # at most MAX_LOST_IDS
        self._lost_ids_full = False
        self.duplicates = 0  # replies to a request that had already had its reply
        self.late = 0  # replies to a request already declared lost
        self.resent = 0  # requests the session re-sent over a new session after a refused resumption

    async def run(self, count: int, window: int) -> None:
        self._done = self._client.loop.create_future()
        self._remaining = count
        self._window = window
        self._client.add_filter("in", self._claim_reply)
        try:
            self._fill()
            await self._done
        finally:
            self._client.del_filter("in", self._claim_reply)
            for _sent, timer in self._pending.values():
                timer.cancel()

    def abort(self, detail: str) -> int:
        """End every request in flight as lost with ``detail`` and send no more; returns how many were never sent."""
        unsent, self._remaining = self._remaining, 0
        for iq_id in list(self._pending):
            self._finish(iq_id, Status.LOST, detail, with_latency=False, ended_by_stop=True)
        return unsent

    def pause(self) -> None:
        """Send no new request (the connection is gone); those in flight keep their time-outs."""
        self._paused = True

    def unpause(self) -> None:
        """A session is back: fill the window again."""
        self._paused = False
        self._fill()
        self._check_done()

    def after_refusal(self, refusal: Refusal | None, detail: str) -> tuple[int, int]:
        """The server did not resume the stream: decide the fate of every request in flight.

        A request the refusal proves never arrived has been sent again by the
        session over the new one: it gets a fresh time-out. One still held by
        the writer was never written: it goes out as it is. Any other reached
        the server and its reply went with the old session: lost. Returns
        (lost, re-sent).
        """
        never_arrived = set(self._ids_in(refusal.never_arrived())) if refusal is not None else set()
        held = set(self._ids_in(self._writer.pending()))
        lost = resent = 0
        for iq_id in list(self._pending):
            if iq_id in never_arrived:
                _sent, timer = self._pending[iq_id]
                timer.cancel()
                fresh = self._client.loop.call_later(self._timeout, self._expire, iq_id)
                self._pending[iq_id] = (time.monotonic(), fresh)
                resent += 1
            elif iq_id not in held:
                lost += 1
                self._finish(iq_id, Status.LOST, detail, with_latency=False)
        self.resent += resent
        return lost, resent

    def _ids_in(self, stanzas) -> list[str]:
        ids = []
        for stanza in stanzas:
            if isinstance(stanza, str) and stanza.startswith(self._prefix):
                ids.append(stanza[len(self._prefix) : stanza.index("'", len(self._prefix))])
        return ids

    def _fill(self) -> None:
        while not self._paused and self._remaining and len(self._pending) < self._window:
            self._send_next()

    def _check_done(self) -> None:
        if not self._remaining and not self._pending and self._done is not None and not self._done.done():
            self._done.set_result(None)

    def _send_next(self) -> None:
        if self._remaining == 0 or self._paused:
            self._check_done()
            return
        self._remaining -= 1
        self._next_number += 1
        self._start(f"{self._id_prefix}{self._next_number}")

    def _start(self, iq_id: str) -> None:
        timer = self._client.loop.call_later(self._timeout, self._expire, iq_id)
        self._pending[iq_id] = (time.monotonic(), timer)
        # Held by the writer while there is no session; kept by stream management until acknowledged.
        self._writer.write(f"{self._prefix}{iq_id}{self._suffix}")

    def _claim_reply(self, stanza: slixmpp.stanza.RootStanza) -> slixmpp.stanza.RootStanza | None:
        xml = stanza.xml
        if xml.tag != IQ_TAG:
            return stanza
        iq_id = xml.get("id")
        if iq_id not in self._pending or xml.get("from", self._peer) != self._peer:
            return self._claim_ended(stanza, xml, iq_id)
        itype = xml.get("type")
        if itype == "result":
            tag = xml.find(EXAMPLE_TAG)
            status, detail = iq_reply_verdict(itype, tag is not None, self._expect_error)
            self._expired_in_a_row = 0
            self._finish(iq_id, status, detail, some_string=None if tag is None else tag.get("some_string"))
        elif itype == "error":
            # The stanza is already built: slixmpp's error interface reads it.
            error = stanza["error"]
            replier = xml.get("from")
            status, detail = iq_reply_verdict(
                itype, False, self._expect_error, error["condition"], error["text"], replier
            )
            self._expired_in_a_row = 0
            self._finish(
                iq_id,
                status,
                detail,
                condition=error["condition"] or None,
                error_type=error["type"] or None,
                replier=replier,
            )
        else:
            return stanza  # a get/set reusing our id is not a reply
        return None  # claimed: no handler scan for it

    def _claim_ended(self, stanza, xml, iq_id: str | None):
        """A reply to one of our requests that has already ended: counted (duplicate or late), never reported."""
        if (
            not iq_id
            or not iq_id.startswith(self._id_prefix)
            or xml.get("type") not in ("result", "error")
            or xml.get("from", self._peer) != self._peer
        ):
            return stanza
        number = iq_id[len(self._id_prefix) :]
        if not number.isdigit() or not 1 <= int(number) <= self._next_number:
            return stanza
        if iq_id in self._lost_ids or self._lost_ids_full:
            self.late += 1
        else:
            self.duplicates += 1
        return None

    def _expire(self, iq_id: str) -> None:
        if iq_id in self._pending:
            self._expired_in_a_row += 1
            if self._expired_in_a_row == self._window and self._on_silence is not None:
                self._on_silence()
            self._finish(iq_id, Status.LOST, f"no reply within {self._timeout:g}s", with_latency=False)

    @property
    def window(self) -> int:
        return self._window

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    def heard_from_server(self) -> None:
        """The connection is alive (e.g. a ping was answered): count silent time-outs afresh."""
        self._expired_in_a_row = 0

    def _finish(
        self, iq_id: str, status: Status, detail: str, with_latency: bool = True, **reply: str | bool | None
    ) -> None:
        sent, timer = self._pending.pop(iq_id)
        timer.cancel()
        if status is Status.LOST:
            if len(self._lost_ids) < MAX_LOST_IDS:
                self._lost_ids.add(iq_id)
            else:
                self._lost_ids_full = True
        self._report(Exchange(self._name, status, detail, time.monotonic() - sent if with_latency else None, **reply))
        self._send_next()

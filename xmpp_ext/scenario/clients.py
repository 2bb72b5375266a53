"""A slixmpp client that hands every stanza to the script, before slixmpp's own handlers see it.

Once the session has started, each <message/>, <presence/> and <iq/> the
server sends goes into the client's inbox and nowhere else: slixmpp answers
nothing on its own (no feature-not-implemented to an iq, no roster-push
acknowledgement), so what a client says is exactly what the script says.
Before that, stream negotiation (TLS, SASL, bind) is slixmpp's as usual.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque

from slixmpp.xmlstream import ET, StanzaBase

from xmpp_ext.scenario.xmlblock import CLIENT_NS
from xmpp_ext.session import ConnectionSettings, Session, slixmpp_private

log = logging.getLogger(__name__)

STANZAS = frozenset(f"{{{CLIENT_NS}}}{name}" for name in ("message", "presence", "iq"))
#: Unread stanzas a client keeps; a peer flooding it beyond this fails the next receives: step.
MAX_UNREAD = 1000


class ClosedError(Exception):
    """The client's stream ended while the script still expected something on it."""


class ScenarioClient:
    """One scripted account: a session from the session layer, and the inbox its capture fills.

    The capture is an incoming filter (after stream management's counter and
    the depth guard, in the order the session layer builds): from session
    start on it takes every <message/>, <presence/> and <iq/> and ends it
    there, so no slixmpp handler answers anything.
    """

    def __init__(self, settings: ConnectionSettings) -> None:
        self.session = Session(settings, plugins=())
        self.client = self.session.client
        self.inbox: deque[tuple[float, ET.Element]] = deque()
        self.overflowed = False
        self.closed: str | None = None  # why the stream ended, once it has
        self._capturing = False
        self._arrived = asyncio.Event()
        self.client.add_event_handler("session_start", self._start_capturing)
        self.client.add_event_handler("disconnected", self._on_disconnected)
        self.client.add_filter("in", self._capture)

    @property
    def boundjid(self):
        return self.client.boundjid

    def send_raw(self, data: str) -> None:
        self.client.send_raw(data)

    async def start(self) -> None:
        """Log in (ConnectError on failure)."""
        await self.session.start()

    async def stop(self) -> None:
        """Log out, then end slixmpp's send task while the loop still runs."""
        await self.session.close()
        await slixmpp_private.stop_send_task(self.client)

    def _start_capturing(self, _event: object) -> None:
        self._capturing = True

    def _on_disconnected(self, reason: object) -> None:
        if self._capturing:
            self.closed = str(reason or "connection closed")
            self._arrived.set()

    def _capture(self, stanza: StanzaBase) -> StanzaBase | None:
        xml = stanza.xml
        if not (self._capturing and xml.tag in STANZAS):
            return stanza
        if len(self.inbox) >= MAX_UNREAD:
            self.overflowed = True
            return None
        self.inbox.append((time.monotonic(), xml))
        self._arrived.set()
        return None

    async def next_stanza(self, deadline: float) -> ET.Element | None:
        """The oldest unread stanza, waiting until ``deadline`` (loop time) at most; None when none came."""
        while True:
            if self.overflowed:
                raise ClosedError(f"more than {MAX_UNREAD} unread stanzas arrived: the rest were dropped")
            if self.inbox:
                return self.inbox.popleft()[1]
            if not await self._next_arrival(deadline):
                return None

    async def _next_arrival(self, deadline: float) -> bool:
        """Wait for the next stanza to arrive, until ``deadline`` (loop time); False when none came in time.

        :raises ClosedError: the connection is closed, so none can come.
        """
        if self.closed is not None:
            raise ClosedError(f"the connection was closed ({self.closed})")
        self._arrived.clear()
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            return False
        try:
            async with asyncio.timeout(remaining):  # not wait_for: see session/login.py
                await self._arrived.wait()
        except TimeoutError:
            return False
        return True

    def take(self, predicate) -> ET.Element | None:
        """Remove and return the first unread stanza ``predicate`` accepts (for the runner's own pings)."""
        for entry in self.inbox:
            if predicate(entry[1]):
                self.inbox.remove(entry)
                return entry[1]
        return None

    async def wait_for(self, predicate, deadline: float) -> ET.Element | None:
        """Wait until a stanza ``predicate`` accepts arrives and take it; others stay unread."""
        while True:
            found = self.take(predicate)
            if found is not None:
                return found
            if not await self._next_arrival(deadline):
                return None

"""One outage of a session: connection attempts with the policy's back-off until the session is back.

Started by ``Session`` when a connection drops; ends when the stream is
resumed or a new session starts (``run`` returns None), or with the reason the
session is lost for good (a final stream error, or the policy's deadline).
While it runs it notes what a ``<failed/>`` answering our ``<resume/>`` says,
before slixmpp forgets its queue (``refusal``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import slixmpp
from slixmpp.xmlstream import StanzaBase

from xmpp_ext.session import streammgmt
from xmpp_ext.session.reconnect import AttemptFailed, Lost, ReconnectPolicy, Refusal, is_final
from xmpp_ext.session.settings import ConnectionSettings
from xmpp_ext.session.streammgmt import SESSION_READY, announce_ready_sessions
from xmpp_ext.util.display import printable

log = logging.getLogger(__name__)

SM_FAILED_TAG = "{urn:xmpp:sm:3}failed"


class Outage:
    def __init__(
        self,
        client: slixmpp.ClientXMPP,
        settings: ConnectionSettings,
        policy: ReconnectPolicy,
        started: float,
        emit: Callable[[AttemptFailed], None],
        take_stream_error: Callable[[], tuple[str, str] | None],
    ) -> None:
        """``take_stream_error``: the session's last stream error (condition, line), forgotten once taken."""
        self._client = client
        self._settings = settings
        self._policy = policy
        self._started = started
        self._emit = emit
        self.refusal: Refusal | None = None  # what the last <failed/> said, with our unacked stanzas then
        self._take_stream_error = take_stream_error

    async def run(self, cause: str, given_up: asyncio.Future) -> Lost | None:
        """Attempts until the session is back (None) or lost (the reason); stops early once ``given_up`` is set."""
        policy = self._policy
        deadline = None if policy.give_up_after is None else self._started + policy.give_up_after
        # Only while reconnecting: a <failed/> answers a <resume/>, and the fast paths pay nothing meanwhile.
        self._client.add_filter("in", self._watch_failed)
        delays = policy.delays()
        next(delays)  # the first attempt is at once
        try:
            while not given_up.done():
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return Lost(f"{cause}; no session again within {policy.give_up_after:g}s of the cut")
                log.debug("reconnecting after a cut (%s)", cause)
                failure = await self._attempt(remaining, given_up)
                if failure is None:
                    return None
                condition, why = failure
                if condition is not None and is_final(condition):
                    return Lost(why, condition)
                delay = next(delays)
                self._emit(AttemptFailed(why, delay))
                log.debug("reconnection attempt failed (%s); next in %g s", why, delay)
                if deadline is not None:
                    delay = min(delay, max(0.0, deadline - time.monotonic()))
                await asyncio.wait({given_up}, timeout=delay)
            return None
        finally:
            self._client.del_filter("in", self._watch_failed)

    async def _attempt(self, remaining: float | None, given_up: asyncio.Future) -> tuple[str | None, str] | None:
        """One connection attempt: None once the stream is resumed or a new session has started,
        else the failure's (stream error condition or None, reason)."""
        client = self._client
        outcome: asyncio.Future[str | None] = client.loop.create_future()

        def settle(reason: Callable[[object], str | None]) -> Callable[[object], None]:
            return lambda event: outcome.done() or outcome.set_result(reason(event))

        handlers = {
            "session_resumed": settle(lambda _event: None),
            SESSION_READY: settle(lambda _event: None),
            "connection_failed": settle(lambda error: f"connection failed ({printable(error)})"),
            "disconnected": settle(lambda reason: printable(reason or "connection closed")),
        }
        announce_ready_sessions(client)
        for event, handler in handlers.items():
            client.add_event_handler(event, handler)
        failure: tuple[str | None, str] | None = (None, "no session")
        timeout = self._settings.connect_timeout
        if remaining is not None:
            timeout = min(remaining, timeout)
        try:
            self._take_stream_error()  # one from before this attempt is not its failure
            host, port = self._settings.endpoint() or (None, None)
            client.connect(host, port)
            done, _ = await asyncio.wait({outcome, given_up}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            stream_error = self._take_stream_error()
            if outcome in done and outcome.result() is None:
                failure = None
            elif stream_error is not None:
                failure = stream_error
            elif outcome in done:
                failure = (None, outcome.result() or "no session")
            else:
                failure = (None, f"no session within {timeout:g}s")
            return failure
        finally:
            for event, handler in handlers.items():
                client.del_event_handler(event, handler)
            if failure is not None:
                # slixmpp would go on retrying by itself, backing off up to 300 s: our loop decides.
                client.cancel_connection_attempt()
                if client.transport is not None:
                    client.abort()

    def _watch_failed(self, stanza: StanzaBase) -> StanzaBase:
        """Incoming filter: note what a <failed/> says before slixmpp forgets its queue."""
        xml = stanza.xml
        if xml.tag == SM_FAILED_TAG:
            text = xml.get("h")
            h = int(text) if text is not None and text.isdigit() and len(text) <= 10 else None
            conditions = [child.tag.partition("}")[2] for child in xml if not child.tag.endswith("}text")]
            cause = printable(conditions[0][:64]) if conditions else "no condition given"
            self.refusal = Refusal(cause, h, streammgmt.unacked(self._client))
        return stanza

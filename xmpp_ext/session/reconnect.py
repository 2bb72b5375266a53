"""Keep a client connected across cuts, so that stream management (XEP-0198) can resume its session.

slixmpp reports a dropped connection (``disconnected``) and leaves it there.
``StayConnected`` connects again at once to the same address, then with
back-off (0.25 s doubling to 2 s) while each new connection is lost before
its session is back, for ``patience`` seconds at most. With stream
management on and the server still holding the session, slixmpp resumes it:
what the server had not acknowledged is sent again, what it queued for the
client arrives, and requests in flight get their replies. When resumption is
refused, slixmpp starts a new session instead.

It never fights the user or the server: a ``disconnect()`` of the client
(directly or through ``session.client.disconnect``) stops it first, and so
does a stream error other than the transient ones (``system-shutdown``,
``reset``, ``connection-timeout``), which means the server ended the session
on purpose (``conflict``, ``policy-violation``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import slixmpp

from xmpp_ext.session.client import ConnectionSettings

log = logging.getLogger(__name__)

TRANSIENT_STREAM_ERRORS = frozenset({"system-shutdown", "reset", "connection-timeout"})
FIRST_RETRY_DELAY = 0.25
MAX_RETRY_DELAY = 2.0
DEFAULT_PATIENCE = 30.0


class StayConnected:
    """Reconnects ``client`` (connected with ``settings``) whenever its connection drops, until ``stop()``."""

    def __init__(
        self, client: slixmpp.ClientXMPP, settings: ConnectionSettings, patience: float = DEFAULT_PATIENCE
    ) -> None:
        self.client = client
        self.settings = settings
        self.patience = patience
        self.reconnections = 0  # connections lost and brought back (or given up on)
        self.gave_up: str | None = None  # why the last reconnection ended without a session
        self._stopped = False
        self._ended_on_purpose: str | None = None
        self._task: asyncio.Future[None] | None = None
        self._disconnect = client.disconnect
        # The user's own disconnect, or the fixture's at teardown, ends the watch before the stream closes.
        client.disconnect = self._disconnect_on_purpose  # type: ignore[method-assign]
        client.add_event_handler("disconnected", self._on_disconnected)
        client.add_event_handler("stream_error", self._on_stream_error)

    def stop(self) -> None:
        """No more reconnections; one under way is abandoned."""
        self._stopped = True
        if self._task is not None and not self._task.done():
            self._task.cancel()
            self.client.cancel_connection_attempt()

    def _disconnect_on_purpose(self, *args, **kwargs) -> asyncio.Future:
        self.stop()
        return self._disconnect(*args, **kwargs)

    def _on_stream_error(self, error: slixmpp.stanza.StreamError) -> None:
        if error["condition"] not in TRANSIENT_STREAM_ERRORS:
            self._ended_on_purpose = f"stream error {error['condition']}"

    def _on_disconnected(self, reason: object) -> None:
        if self._stopped or (self._task is not None and not self._task.done()):
            return  # ours, or an attempt of the reconnection under way failing: it deals with it
        if self._ended_on_purpose is not None:
            log.info("%s: not reconnecting after %s", self.client.boundjid, self._ended_on_purpose)
            return
        log.info("%s: connection lost (%s); reconnecting", self.client.boundjid, reason or "closed")
        self.reconnections += 1
        self._task = asyncio.ensure_future(self._reconnect())

    async def _reconnect(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.patience
        host, port = self.settings.endpoint() or (None, None)
        delay = 0.0
        while not (self._stopped or self._ended_on_purpose):
            if await self._attempt(host, port, deadline):
                self.gave_up = None
                return
            remaining = deadline - loop.time()
            if remaining <= 0:
                self.gave_up = f"no session again within {self.patience:g}s"
                log.warning("%s: %s; giving up", self.client.boundjid, self.gave_up)
                self.client.cancel_connection_attempt()
                return
            delay = min(MAX_RETRY_DELAY, delay * 2) if delay else FIRST_RETRY_DELAY
            await asyncio.sleep(min(delay, remaining))

    async def _attempt(self, host: str | None, port: int | None, deadline: float) -> bool:
        """One connection: True once the session is back (resumed or new), False if it was lost first."""
        outcome: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

        def settle(value: bool) -> Callable[[object], None]:
            return lambda _event: outcome.done() or outcome.set_result(value)

        handlers = {"session_resumed": settle(True), "session_start": settle(True), "disconnected": settle(False)}
        for event, handler in handlers.items():
            self.client.add_event_handler(event, handler)
        try:
            self.client.connect(host, port)
            return await asyncio.wait_for(outcome, max(0.0, deadline - asyncio.get_running_loop().time()))
        except TimeoutError:
            return False
        finally:
            for event, handler in handlers.items():
                self.client.del_event_handler(event, handler)

"""A burst: ``count`` copies of one iq step through the pipeline, across cuts, with stalls detected.

The pipeline sends and claims; this module steers it through the session's
events (a cut pauses it, a resumption or new session unpauses it, a refused
resumption settles what was in flight) and tells a silent peer from a
stalled connection: when a whole window times out with no reply at all, the
server is pinged (XEP-0199), and no answer to that ends the run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.xmlstream import ET

from xmpp_ext.jobs.outcomes import Exchange
from xmpp_ext.jobs.send.pipeline import IqPipeline
from xmpp_ext.jobs.send.steps import Step
from xmpp_ext.session import Cut, NewSession, Resumed, Session, SessionEvent

PING_NAMESPACE = "urn:xmpp:ping"  # XEP-0199: every server answers it
#: A ping gets at least this long: behind a server's rate limit it waits its turn like everything we sent.
STALL_PING_TIMEOUT = 10.0


class Burst:
    """One burst over ``session``; ``run`` returns when every request has ended or ``stalled`` is set."""

    def __init__(
        self,
        session: Session,
        to: str,
        step: Step,
        timeout: float,
        report: Callable[[Exchange], None],
        on_refusal: Callable[[int, int], None] | None = None,
    ) -> None:
        """``on_refusal(lost, resent)``: after a refused resumption, how the requests in flight ended."""
        self._session = session
        self._timeout = timeout
        self._on_refusal = on_refusal or (lambda _lost, _resent: None)
        self.pipeline = IqPipeline(
            session.client,
            to,
            step.tag.xml,
            step.itype,
            timeout,
            step.name,
            report,
            step.expect_error,
            writer=session.writer,
            on_silence=self._check_connection,
        )
        #: Set with a reason when the connection stalled (no reply, not even to a ping).
        self.stalled: asyncio.Future[str] = session.client.loop.create_future()
        self._pinging: asyncio.Future[None] | None = None
        session.add_listener(self._on_session_event)

    async def run(self, count: int, window: int) -> None:
        try:
            await self.pipeline.run(count, window)
        finally:
            if self._pinging is not None:
                self._pinging.cancel()

    def _on_session_event(self, event: SessionEvent) -> None:
        match event:
            case Cut():
                self.pipeline.pause()
            case Resumed():
                self.pipeline.unpause()
            case NewSession(refusal=refusal):
                cause = refusal.cause if refusal is not None else "the stream could not be resumed"
                detail = f"resumption refused ({cause}): in flight, fate unknown"
                lost, resent = self.pipeline.after_refusal(refusal, detail)
                self._on_refusal(lost, resent)
                self.pipeline.unpause()

    def _check_connection(self) -> None:
        """A whole window timed out without a reply: ping the server to tell a silent peer from a dead stream.

        Without this a stalled connection (socket open, nothing forwarded) would
        swallow one request per expired slot until the burst's end, for hours.
        """
        if self._pinging is not None and not self._pinging.done():
            return
        client = self._session.client

        async def ping() -> None:
            iq = client.make_iq_get(ito=client.boundjid.domain)
            iq.xml.append(ET.Element(f"{{{PING_NAMESPACE}}}ping"))
            try:
                await iq.send(timeout=max(self._timeout, STALL_PING_TIMEOUT))
            except IqError:
                pass  # any answer, even an error, shows the stream is alive
            except IqTimeout:
                if not self.stalled.done():
                    self.stalled.set_result(
                        f"connection stalled: no reply to {self.pipeline.window} requests, nor to a ping of the server"
                    )
                return
            self.pipeline.heard_from_server()

        self._pinging = asyncio.ensure_future(ping())

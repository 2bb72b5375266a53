"""The send job: log in, find the peer, run the steps (or a burst of one), count every exchange.

A run cut short (the session lost for good, a stalled connection, SIGINT or
SIGTERM) returns with its ``stop`` set: requests in flight end as lost, the
rest are counted unsent, and the session is closed politely either way.
Across cuts the session (``xmpp_ext.session``) reconnects within the run's
``timeout`` and resumes the stream; the job only hears what happened.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import Enum

from slixmpp import JID

from xmpp_ext.jobs.outcomes import Exchange, Status, Tally
from xmpp_ext.jobs.send.exchanges import REPLY_PLUGIN, Exchanges
from xmpp_ext.jobs.send.resolve import ensure_supported, resolve_bare_jid
from xmpp_ext.jobs.send.steps import Step
from xmpp_ext.session import (
    ConnectionSettings,
    Lost,
    NewSession,
    ReconnectPolicy,
    Resumed,
    Session,
    SessionEvent,
    StreamManagement,
)
from xmpp_ext.util.stopsignals import on_stop_signals

SENDER_PLUGINS = ("xep_0030", "example_tag")


class StopKind(Enum):
    CONNECTION_LOST = "connection lost"
    INTERRUPTED = "interrupted"


@dataclass(frozen=True)
class RunStop:
    """Why a run ended before every request was sent: in-flight requests are lost, ``unsent`` never went out."""

    kind: StopKind
    reason: str  # e.g. "stream error policy-violation: ...", "SIGINT"
    unsent: int = 0

    @property
    def detail(self) -> str:
        """How a request in flight at that moment ended."""
        return f"{self.kind.value} ({self.reason})"


@dataclass
class SendResult:
    """What a send run did: every exchange counted, and how it stopped if it stopped early."""

    tally: Tally
    stop: RunStop | None = None


@dataclass(frozen=True)
class SendOptions:
    to: JID
    timeout: float = 10.0
    repeat: int | None = None  # a burst of this many copies of the (single) step
    window: int = 1
    subscribe: bool = False  # for a bare `to`: ask for a presence subscription
    check_support: bool = False  # ask the peer's disco#info first
    stream_management: bool = True  # XEP-0198 acks and resumption, when the server offers them


class Sender:
    """Runs steps against one peer over a session, until they end or the run is stopped."""

    def __init__(
        self,
        session: Session,
        to: JID,
        timeout: float,
        tally: Tally,
        on_event: Callable[[dict[str, object]], None] | None = None,
    ) -> None:
        self.session = session
        self.to = to
        self.timeout = timeout
        self.tally = tally
        self._on_event = on_event or (lambda _event: None)
        self.exchanges = Exchanges(session.client, to, timeout)
        # Set when the run must end early: the session is lost for good (no reply can arrive after
        # that, so waiting out every time-out would only make the failure slow), or the user interrupted it.
        self._stopped: asyncio.Future[RunStop] = session.client.loop.create_future()
        self._refused_lost = 0  # in flight when a resumption was refused, for the next event line
        session.add_listener(self._on_session_event)
        if session.lost.done():
            self._on_session_event(session.lost.result())

    def stop(self, kind: StopKind, reason: str) -> None:
        """End the run early: requests in flight end as lost, the rest are not sent."""
        if not self._stopped.done():
            self._stopped.set_result(RunStop(kind, reason))

    def _on_session_event(self, event: SessionEvent) -> None:
        match event:
            case Lost(reason=reason):
                self.stop(StopKind.CONNECTION_LOST, reason)
            case Resumed(after_s=after, resent=resent):
                self._on_event({"event": "resumed", "after_s": after, "resent": resent})
            case NewSession(after_s=after, refusal=refusal, resent=resent):
                if refusal is not None:
                    lost, self._refused_lost = self._refused_lost, 0
                    self._on_event(
                        {"event": "resumption_refused", "cause": refusal.cause, "h": refusal.h, "lost": lost}
                    )
                self._on_event({"event": "new_session", "after_s": after, "resent": resent})

    async def run_all(self, steps: list[Step], report: Callable[[Exchange], None]) -> RunStop | None:
        """Run ``steps`` in order; how the run stopped if the session was lost or ``stop`` was called."""
        for index, step in enumerate(steps):
            exchange = asyncio.ensure_future(self.exchanges.run(step))
            await asyncio.wait({exchange, self._stopped}, return_when=asyncio.FIRST_COMPLETED)
            if exchange.done():
                report(exchange.result())
                continue
            exchange.cancel()
            stopped = self._stopped.result()
            report(Exchange(step.name, Status.LOST, stopped.detail, ended_by_stop=True))
            return replace(stopped, unsent=len(steps) - index - 1)
        return None

    async def burst(self, step: Step, count: int, window: int, report: Callable[[Exchange], None]) -> RunStop | None:
        """Send ``count`` copies of an iq step with at most ``window`` awaiting their reply.

        If the session is lost, the connection stalls or ``stop`` is called,
        requests in flight end as lost at once, the rest are not sent, and that
        stop is returned.
        """

        from xmpp_ext.jobs.send.burst import Burst  # here: a one-shot send needs none of the burst's machinery

        def refused(lost: int, _resent: int) -> None:
            self._refused_lost = lost

        burst = Burst(self.session, self.to.full, step, self.timeout, report, on_refusal=refused)
        running = asyncio.ensure_future(burst.run(count, window))
        burst.stalled.add_done_callback(lambda stalled: self.stop(StopKind.CONNECTION_LOST, stalled.result()))
        try:
            await asyncio.wait({running, self._stopped}, return_when=asyncio.FIRST_COMPLETED)
            if running.done():
                running.result()
                return None
            stopped = self._stopped.result()
            unsent = burst.pipeline.abort(stopped.detail)
            await running
            return replace(stopped, unsent=unsent)
        finally:
            self.tally.duplicates += burst.pipeline.duplicates
            self.tally.late += burst.pipeline.late


async def send(
    settings: ConnectionSettings,
    options: SendOptions,
    steps: list[Step],
    on_exchange: Callable[[Exchange], None],
    on_resolved: Callable[[JID, JID], None] | None = None,
    on_event: Callable[[dict[str, object]], None] | None = None,
) -> SendResult:
    """The send job: log in, find the peer, run ``steps`` (or a burst of the first), count every exchange.

    ``on_event`` hears of reconnections (``{"event": "resumed", "after_s": 0.4, "resent": 37}``,
    ``resumption_refused``, ``new_session``).

    :raises ConnectError: no session.
    :raises ResolveError: a bare ``to`` has no online resource announcing the extension.
    :raises NotSupported: with ``check_support``, the peer does not announce it.
    """
    tally = Tally()

    def report(exchange: Exchange) -> None:
        tally.add(exchange)
        on_exchange(exchange)

    this_task = asyncio.current_task()
    sender: Sender | None = None
    signals: list[str] = []

    def interrupt(signum: signal.Signals) -> None:
        signals.append(signum.name)
        if sender is not None:
            sender.stop(StopKind.INTERRUPTED, signum.name)
        elif this_task is not None:  # still logging in or finding the peer: nothing is in flight
            this_task.cancel()

    awaits_message_replies = any(step.kind == "message" and step.await_reply for step in steps)
    plugins = (*SENDER_PLUGINS, REPLY_PLUGIN) if awaits_message_replies else SENDER_PLUGINS
    # A cut is survived only by resuming: what was in flight on a stream that is gone has no way back.
    session = Session(
        settings,
        plugins,
        stream_management=StreamManagement() if options.stream_management else None,
        reconnect=ReconnectPolicy(give_up_after=options.timeout, resumable_only=True),
    )
    with on_stop_signals(interrupt):
        try:
            async with session:
                client = session.client
                to = options.to
                # Messages to a bare JID are routed by the server (RFC 6121 §8.5.2); iqs are not.
                if not to.resource and any(step.kind == "iq" for step in steps):
                    to = await resolve_bare_jid(client, to, options.timeout, options.subscribe)
                    if on_resolved is not None:
                        on_resolved(options.to, to)
                elif options.check_support and to.resource:
                    await ensure_supported(client, to, options.timeout)
                sender = Sender(session, to, options.timeout, tally, on_event)
                tally.started = time.monotonic()
                try:
                    if options.repeat:
                        stop = await sender.burst(steps[0], options.repeat, options.window, report)
                    else:
                        stop = await sender.run_all(steps, report)
                finally:
                    tally.finished = time.monotonic()
                    session.stop_reconnecting()  # from here on, a disconnection is our logging out
        except asyncio.CancelledError:
            if not signals:
                raise
            stop = RunStop(StopKind.INTERRUPTED, signals[0], unsent=options.repeat or len(steps))
    recoveries = session.recoveries
    tally.reconnections, tally.resumed, tally.resent = recoveries.cuts, recoveries.resumed, recoveries.resent
    tally.resumption_refused = recoveries.refused
    if stop is not None:
        tally.unsent = stop.unsent
    return SendResult(tally, stop)

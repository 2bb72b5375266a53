"""The send job: log in, find the peer, run the steps (or a burst of one), count every exchange.

A run cut short (the session lost for good, a stalled connection, SIGINT or
SIGTERM) returns with its ``stop`` set: requests in flight end as lost, the
rest are counted unsent, and the session is closed politely either way.
Across cuts the session (``xmpp_ext.session``) reconnects within the run's
``timeout`` and resumes the stream; the job only hears what happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from enum import Enum
from typing import TYPE_CHECKING, TypeVar

from slixmpp import JID

from xmpp_ext.jobs.outcomes import Exchange, Status, Tally
from xmpp_ext.jobs.send.exchanges import REPLY_PLUGIN, Exchanges
from xmpp_ext.jobs.send.resolve import ensure_supported, resolve_bare_jid
from xmpp_ext.jobs.send.steps import Step
from xmpp_ext.plugin import NAMESPACE
from xmpp_ext.session import (
    ConnectionSettings,
    Cut,
    Lost,
    NewSession,
    ReconnectPolicy,
    Resumed,
    Session,
    SessionEvent,
    StreamManagement,
)
from xmpp_ext.util.stopsignals import on_stop_signals

T = TypeVar("T")

if TYPE_CHECKING:  # imported when a burst runs: a one-shot send needs none of its machinery
    from xmpp_ext.jobs.send.burst import Burst
    from xmpp_ext.jobs.send.raw import RawExchanges

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
    feature: str = NAMESPACE  # what the peer must announce: for check_support, and to pick a bare JID's resource
    resolve_bare: bool = True  # an iq to a bare `to` goes to one of its resources announcing `feature`
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
        self._raw: RawExchanges | None = None  # send --raw: made for the first raw step
        # Set when the run must end early: the session is lost for good (no reply can arrive after
        # that, so waiting out every time-out would only make the failure slow), or the user interrupted it.
        self._stopped: asyncio.Future[RunStop] = session.client.loop.create_future()
        self._burst: Burst | None = None
        session.add_listener(self._on_session_event)
        if session.lost.done():
            self._on_session_event(session.lost.result())

    def stop(self, kind: StopKind, reason: str) -> None:
        """End the run early: requests in flight end as lost, the rest are not sent."""
        if not self._stopped.done():
            self._stopped.set_result(RunStop(kind, reason))

    def _on_session_event(self, event: SessionEvent) -> None:
        # The burst first: what it does with the requests in flight is part of what the lines say.
        retried = self._burst.on_session_event(event) if self._burst is not None else 0
        match event:
            case Lost(reason=reason):
                self.stop(StopKind.CONNECTION_LOST, reason)
            case Cut(reason=reason):
                self._on_event({"event": "cut", "cause": reason})
            case Resumed(after_s=after, resent=resent):
                self._on_event({"event": "resumed", "after_s": after, "resent": resent})
            case NewSession(after_s=after, refusal=refusal, resent=resent):
                if refusal is not None:
                    self._on_event(
                        {"event": "resumption_refused", "cause": refusal.cause, "h": refusal.h, "retried": retried}
                    )
                self._on_event({"event": "new_session", "after_s": after, "resent": resent})

    async def run_all(self, steps: list[Step], report: Callable[[Exchange], None]) -> RunStop | None:
        """Run ``steps`` in order; how the run stopped if the session was lost or ``stop`` was called."""
        for index, step in enumerate(steps):
            exchange = asyncio.ensure_future(self._exchanges_for(step).run(step))
            await asyncio.wait({exchange, self._stopped}, return_when=asyncio.FIRST_COMPLETED)
            if exchange.done():
                report(exchange.result())
                continue
            exchange.cancel()
            stopped = self._stopped.result()
            report(Exchange(step.name, Status.LOST, stopped.detail, ended_by_stop=True))
            return replace(stopped, unsent=len(steps) - index - 1)
        return None

    def _exchanges_for(self, step: Step) -> Exchanges | RawExchanges:
        if step.payload is None:
            return self.exchanges
        if self._raw is None:
            from xmpp_ext.jobs.send.raw import RawExchanges  # here: the tutorial's steps need none of it

            self._raw = RawExchanges(self.session.client, self.to, self.timeout)
        return self._raw

    async def burst(self, step: Step, count: int, window: int, report: Callable[[Exchange], None]) -> RunStop | None:
        """Send ``count`` copies of an iq step with at most ``window`` awaiting their reply.

        If the session is lost, the connection stalls or ``stop`` is called,
        requests in flight end as lost at once, the rest are not sent, and that
        stop is returned.
        """

        from xmpp_ext.jobs.send.burst import Burst  # here: a one-shot send needs none of the burst's machinery

        burst = self._burst = Burst(self.session, self.to.full, step, self.timeout, report)
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
            self.tally.retried += burst.pipeline.retried
            self._burst = None


class _LostBeforeSending(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason


async def _unless_lost(session: Session, work: Awaitable[T]) -> T:
    """``work`` (finding the peer), unless the session is lost for good first.

    The loss is then the answer, at once: waiting out the time-out of a question that can no longer be
    answered would end in a misleading "no online resource" or "does not answer".
    """
    task = asyncio.ensure_future(work)
    await asyncio.wait({task, session.lost}, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        return task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    raise _LostBeforeSending(session.lost.result().reason)


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
    :raises ResolveError: a bare ``to`` has no online resource announcing ``options.feature``.
    :raises NotSupported: with ``check_support``, the peer does not announce ``options.feature``.
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
                if options.resolve_bare and not to.resource and any(step.kind == "iq" for step in steps):
                    to = await _unless_lost(
                        session, resolve_bare_jid(client, to, options.timeout, options.subscribe, options.feature)
                    )
                    if on_resolved is not None:
                        on_resolved(options.to, to)
                elif options.check_support and (to.resource or not options.resolve_bare):
                    await _unless_lost(session, ensure_supported(client, to, options.timeout, options.feature))
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
        except _LostBeforeSending as lost:
            stop = RunStop(StopKind.CONNECTION_LOST, lost.reason, unsent=options.repeat or len(steps))
    recoveries = session.recoveries
    tally.reconnections, tally.resumed, tally.resent = recoveries.cuts, recoveries.resumed, recoveries.resent
    tally.resumption_refused = recoveries.refused
    tally.new_sessions = recoveries.new_sessions
    if stop is not None:
        tally.unsent = stop.unsent
    return SendResult(tally, stop)

"""One account's connection for the whole of a job: built, logged in, kept alive, closed.

``Session`` is what every job, the scenario clients, the pytest plugin and
the benchmarks get their client from. It builds the client (``build``: filter
and plugin order), logs in (``login``: one-line failures), writes the fast
paths' stanzas (``streammgmt.SessionWriter``) and, when the job asks for it,
follows the one reconnection policy (``reconnect``) after a cut: resume the
stream if the server still has it, else start a new session and send again
what the server's ``h`` proves never arrived. The job hears of it through a
few events (``Cut``, ``AttemptFailed``, ``Resumed``, ``NewSession``, ``Lost``)
and ``lost``, a future set when the session is over for good.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass

import slixmpp
from slixmpp.xmlstream import StanzaBase

from xmpp_ext.session import slixmpp_private, streammgmt
from xmpp_ext.session.build import DEFAULT_PLUGINS, Plugins, build_client
from xmpp_ext.session.login import describe_stream_error, disconnect, login
from xmpp_ext.session.outage import Outage
from xmpp_ext.session.reconnect import (
    Cut,
    Lost,
    NewSession,
    ReconnectPolicy,
    Refusal,
    Resumed,
    SessionEvent,
    is_final,
)
from xmpp_ext.session.settings import ConnectionSettings
from xmpp_ext.session.streammgmt import SessionWriter, StreamManagement, on_session_ready
from xmpp_ext.session.verify import ResumptionCheck
from xmpp_ext.util.display import printable

log = logging.getLogger(__name__)


@dataclass
class Recoveries:
    """What happened to a session's connection, for summaries."""

    cuts: int = 0  # connections lost and come back from (or tried to)
    resumed: int = 0  # streams the server resumed
    new_sessions: int = 0  # new sessions after a cut (the stream was not resumed)
    resent: int = 0  # stanzas sent again: by slixmpp on resumption, by us after a refused one
    refused: str | None = None  # the last refused resumption's cause
    broken_resumptions: int = 0  # resumed streams that did not answer an ack request (dropped for a new session)


class Session:
    """A client logged in to one account, with one reconnection policy (``reconnect``; None: a cut is the end)."""

    def __init__(
        self,
        settings: ConnectionSettings,
        plugins: Plugins = DEFAULT_PLUGINS,
        *,
        stream_management: StreamManagement | None = None,
        reconnect: ReconnectPolicy | None = None,
        on_event: Callable[[SessionEvent], None] | None = None,
        client_class: type[slixmpp.ClientXMPP] = slixmpp.ClientXMPP,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        """``tls_context``: a TLS context shared with other sessions (see ``build_client``)."""
        self.settings = settings
        self.client = build_client(
            settings, plugins, stream_management=stream_management, client_class=client_class, tls_context=tls_context
        )
        self.writer = SessionWriter(self.client)
        self.policy = reconnect
        self.recoveries = Recoveries()
        self._listeners: list[Callable[[SessionEvent], None]] = [on_event] if on_event else []
        self._lost: asyncio.Future[Lost] | None = None
        self._started = False
        self._closing = False
        self._stream_error: tuple[str, str] | None = None  # (condition, line) of the last stream error
        self._reconnecting: asyncio.Future[None] | None = None
        self._outage: Outage | None = None
        self._outage_started: float | None = None
        self._refusal: Refusal | None = None  # why the next new session must send things again
        self._refusals = 0
        self._check: ResumptionCheck | None = None
        client = self.client
        client.add_event_handler("stream_error", self._on_stream_error)
        client.add_event_handler("disconnected", self._on_disconnected)
        client.add_event_handler("session_resumed", self._on_resumed)
        on_session_ready(client, self._on_new_session)
        client.add_event_handler("sm_failed", self._on_sm_failed)

    # -- the job's side -----------------------------------------------------------

    def add_listener(self, listener: Callable[[SessionEvent], None]) -> None:
        self._listeners.append(listener)

    @property
    def lost(self) -> asyncio.Future[Lost]:
        """Set (never raised) when the session is over for good: a final stream error, or no way back."""
        if self._lost is None:
            self._lost = self.client.loop.create_future()
        return self._lost

    async def start(self) -> Session:
        """Log in; raises ConnectError (one line, with a ``cause``) when there is no first session."""
        self.lost  # noqa: B018  (made now, on the running loop)
        await login(self.client, self.settings)
        self._started = True
        return self

    def stop_reconnecting(self) -> None:
        """From now on a disconnection is ours (logging out), not a cut to recover from."""
        self._closing = True
        if self._reconnecting is not None:
            self._reconnecting.cancel()

    async def close(self, wait: float = 2.0) -> None:
        """Log out politely, bounded by ``wait`` seconds; ends any reconnection under way."""
        self.stop_reconnecting()
        await disconnect(self.client, wait)

    async def __aenter__(self) -> Session:
        return await self.start()

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    @property
    def reconnecting(self) -> bool:
        return self._outage_started is not None

    # -- events from slixmpp -------------------------------------------------------

    def _emit(self, event: SessionEvent) -> None:
        if isinstance(event, Lost) and not self.lost.done():
            self.lost.set_result(event)
        for listener in self._listeners:
            listener(event)

    def _on_stream_error(self, error: slixmpp.stanza.StreamError) -> None:
        self._stream_error = (error["condition"], describe_stream_error(error))

    def _take_stream_error(self) -> tuple[str, str] | None:
        """The last stream error (condition, line), forgotten now: each one explains one disconnection."""
        error, self._stream_error = self._stream_error, None
        return error

    def _on_disconnected(self, reason: object) -> None:
        if not self._started or self._closing or self.lost.done():
            return
        if self._reconnecting is not None and not self._reconnecting.done():
            return  # a reconnection attempt failing: the outage deals with it
        condition, cause = self._take_stream_error() or (None, printable(reason or "connection closed"))
        if self._check is not None and not self._check.done:
            if condition is not None:
                self._check.finish(False)  # the server closed the resumed stream with an error: broken
            else:  # a plain cut before the ack came: resume again
                self._check.abandon()
                self._check = None
                self.writer.release()
        if condition is not None and is_final(condition):
            self._emit(Lost(cause, condition))
        elif self.policy is None or (self.policy.resumable_only and not self._can_resume() and self._refusal is None):
            self._emit(Lost(cause))
        else:
            if self._outage_started is None:  # else: the same outage goes on (a resumed stream found broken)
                self.recoveries.cuts += 1
                self._outage_started = time.monotonic()
                self._emit(Cut(cause, 0.0))
            self._reconnecting = asyncio.ensure_future(self._reconnect(cause))

    def _can_resume(self) -> bool:
        return (
            streammgmt.enabled(self.client)
            and streammgmt.state(self.client).resumable
            and self._refusals < (self.policy.max_refusals if self.policy else 0)
        )

    def _on_resumed(self, _event: object) -> None:
        self._refusals = 0
        if self._outage_started is None:
            return
        if self.policy is not None and self.policy.verify_within:
            # Trusted once the server answers an ack request: until then our writes wait.
            self.writer.hold()
            self._check = ResumptionCheck(self.client, self.policy.verify_within, self._checked)
            return
        self._resumed(streammgmt.state(self.client).unacked)  # slixmpp re-sent exactly these on <resumed/>

    def _checked(self, answered: bool) -> None:
        check, self._check = self._check, None
        assert check is not None
        if answered:
            self.writer.release()
            self._resumed(len(check.unacked))
            return
        # The server may not have handled what we wrote after <resumed h=X/> (a broken parser), or may have
        # (a slow server): X proves nothing about it. Start a new session (resuming again would feed the same
        # broken parser); what was in flight is asked again by the job, under new ids.
        self.recoveries.broken_resumptions += 1
        self._refusal = Refusal("resumed stream did not answer an ack request", None, check.unacked)
        slixmpp_private.forget_stream(self.client)
        self.writer.release()  # held by the writer until the new session starts
        if self.client.transport is not None:
            self.client.abort()

    def _resumed(self, resent: int) -> None:
        after = time.monotonic() - (self._outage_started or time.monotonic())
        self._outage_started = None
        self.recoveries.resumed += 1
        self.recoveries.resent += resent
        self._emit(Resumed(round(after, 3), resent))

    def _on_new_session(self, _event: object) -> None:
        """A new session is back once every stream feature is negotiated (``SESSION_READY``): what we send
        again goes out counted by stream management."""
        if self._outage_started is None or not self._started:
            return
        after = time.monotonic() - self._outage_started
        self._outage_started = None
        refusal, self._refusal = self._refusal, None
        resend = refusal.to_send_again() if refusal is not None else []
        for stanza in resend:
            if isinstance(stanza, str):
                self.writer.write(stanza)
            elif isinstance(stanza, StanzaBase):
                self.client.send(stanza)
        self.recoveries.new_sessions += 1
        self.recoveries.resent += len(resend)
        self._emit(NewSession(round(after, 3), refusal, len(resend)))

    def _on_sm_failed(self, _stanza: object) -> None:
        if not self._started or self._closing or self.lost.done():
            return
        self._refusals += 1
        if self._outage_started is None:
            # Not an answer to <resume/>: the server refused <enable/> on a new session (the session goes on
            # without stream management), or (a broken server) sent <failed/> mid-stream, where slixmpp turns
            # acks off but keeps the stream: nothing would be re-sent after the next cut. If the stream can
            # still be resumed, treat it as a cut now (bounded by the refusals).
            self.recoveries.refused = "failed outside resumption"
            if self.policy is not None and self._can_resume() and self.client.transport is not None:
                self.client.abort()
            return
        refusal = (self._outage.refusal if self._outage is not None else None) or Refusal("failed", None)
        self._refusal = refusal
        self.recoveries.refused = refusal.cause
        if self.policy is not None and self._refusals >= self.policy.max_refusals:
            self._emit(Lost(f"resumption refused {self._refusals} times ({refusal.cause})"))
            self.stop_reconnecting()

    # -- reconnecting ---------------------------------------------------------------

    async def _reconnect(self, cause: str) -> None:
        assert self.policy is not None and self._outage_started is not None
        self._outage = Outage(
            self.client, self.settings, self.policy, self._outage_started, self._emit, self._take_stream_error
        )
        lost = await self._outage.run(cause, self.lost)
        if lost is not None:
            self._emit(lost)

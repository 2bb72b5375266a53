"""Stream management (XEP-0198) for our clients, with counters that stay exact beside the fast paths.

slixmpp's ``xep_0198`` counts handled inbound stanzas (``h``) in an incoming
filter and records outbound ones in an ``out_sync`` filter. Our fast paths
live beside both:

* Inbound, the depth guard, the pipeline's reply claiming and the
  responder's fast answers are incoming filters that swallow stanzas (return
  None). Filters run in the order they were added, so ``register`` is called
  by ``xmpp_ext.session.build`` before any other filter exists: the counter
  is first, and every stanza is counted exactly once whichever filter ends
  it. Nothing reorders filters afterwards.
* Outbound, the fast paths write serialised stanzas with ``send_raw``, which
  no filter sees: slixmpp would neither count them nor keep them for
  re-sending, and the server's ``h`` would then free the wrong entries of its
  queue. ``track_raw`` records such a stanza exactly as the ``out_sync``
  filter records a stanza object, and asks for an ack every ``window``
  stanzas as slixmpp does. ``SessionWriter`` (a coalescing writer for the fast
  paths) calls it at the moment it writes, so the wire carries stanzas in the
  order they were counted, and writes only inside a session.

The plugin's state is read and written through ``slixmpp_private`` (slixmpp 1.17).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

import slixmpp
from slixmpp.plugins.xep_0198.stream_management import MAX_SEQ

from xmpp_ext.session import slixmpp_private
from xmpp_ext.session.slixmpp_private import SM_PLUGIN as PLUGIN
from xmpp_ext.session.slixmpp_private import StreamManagementState

log = logging.getLogger(__name__)

__all__ = ["MAX_SEQ", "PLUGIN", "SessionWriter", "StreamManagement", "StreamState"]

#: Ask the server for an ack after this many stanzas sent (slixmpp's default is 5: one <r/> per
#: five stanzas is a fifth more round trips in a burst; 16 keeps the re-sent tail short all the same).
DEFAULT_ACK_WINDOW = 16
REQUEST_ACK = "<r xmlns='urn:xmpp:sm:3'/>"
#: The event a client fires once a new session has negotiated every stream feature (``announce_ready_sessions``).
#: slixmpp's ``session_start`` comes earlier, at resource binding, before stream management sends ``<enable/>``:
#: what a job sent then would be neither counted nor kept, and a cut before ``<enabled/>`` could not be resumed.
#: Not fired for a resumed stream (no new session: ``session_resumed`` says it).
SESSION_READY = "xmppext_session_ready"
_ANNOUNCING = "_xmppext_announces_ready_sessions"


@dataclass(frozen=True)
class StreamManagement:
    """How a session uses XEP-0198: resumption on or off, and how often to ask for acks."""

    resume: bool = True
    window: int = DEFAULT_ACK_WINDOW

    def __post_init__(self) -> None:
        if self.window < 1:
            raise ValueError("the ack window must be at least 1 stanza")


@dataclass(frozen=True)
class StreamState:
    """What stream management knows at one moment (for progress lines, tests and the design's checks)."""

    enabled: bool  # inbound counting is on for this stream
    resumable: bool  # a stream id to resume with is known
    handled: int  # h: inbound stanzas handled, mod 2**32
    sent: int  # outbound stanzas counted, mod 2**32
    acked: int  # the last h the server acknowledged
    unacked: int  # stanzas kept for re-sending


def register(client: slixmpp.ClientXMPP, config: StreamManagement) -> None:
    """Register ``xep_0198`` on a client that has no incoming filter yet, so its counter runs first."""
    if client.is_component:  # slixmpp's plugin does nothing for components (no feature negotiation)
        raise ValueError("stream management is for client connections, not components")
    client.register_plugin(PLUGIN, {"allow_resume": config.resume, "window": config.window})
    _state(client).set_window(config.window)


def announce_ready_sessions(client: slixmpp.ClientXMPP) -> None:
    """Have ``client`` fire ``SESSION_READY`` (once set up, later calls do nothing).

    Called wherever a listener is added (``on_session_ready``) and by ``build_client``, so that a client built
    another way (a plain slixmpp client given to ``login``) announces its sessions too.
    """
    if getattr(client, _ANNOUNCING, False):
        return

    def negotiated(_event: object) -> None:
        if client.sessionstarted:  # else the features that follow a resumption
            client.event(SESSION_READY)

    client.add_event_handler("stream_negotiated", negotiated)
    setattr(client, _ANNOUNCING, True)


def on_session_ready(client: slixmpp.ClientXMPP, handler: Callable[[object], object]) -> None:
    """Call ``handler`` each time a new session of ``client`` is ready (``SESSION_READY``)."""
    announce_ready_sessions(client)
    client.add_event_handler(SESSION_READY, handler)


def enabled(client: slixmpp.ClientXMPP) -> bool:
    """Whether stream management is registered on ``client`` (not whether the server accepted it)."""
    return client.plugin.get(PLUGIN, None) is not None


def _state(client: slixmpp.ClientXMPP) -> StreamManagementState:
    return StreamManagementState(client.plugin[PLUGIN])


def track_raw(client: slixmpp.ClientXMPP, stanza: str) -> str:
    """Count one stanza being written now with ``send_raw``; returns what to write.

    That is ``stanza`` itself, followed by an ack request when the window is
    full. Call it once per stanza (not per batch: the server counts stanzas),
    right when it goes to the connection: the server acknowledges a count and
    slixmpp frees that many of its oldest kept stanzas, so counting order must
    be wire order (``SessionWriter`` does both). Without stream management, or
    before it is negotiated, it changes nothing.

    Kept also while the stream can still be resumed though the connection is
    gone: slixmpp re-sends it once ``<resumed h=.../>`` shows it never arrived.
    """
    if not enabled(client):
        return stanza
    state = _state(client)
    if not state.counting_out:
        return stanza
    return stanza + REQUEST_ACK if state.count_out(stanza, MAX_SEQ) else stanza


def request_ack(client: slixmpp.ClientXMPP) -> None:
    """Ask the server for its ``h`` now (answered with an ``<a/>`` that frees the acknowledged stanzas)."""
    if client.transport is not None and enabled(client):
        client.plugin[PLUGIN].request_ack()


def state(client: slixmpp.ClientXMPP) -> StreamState:
    current = _state(client)
    return StreamState(
        enabled=current.enabled_in,
        resumable=current.resumable,
        handled=current.handled,
        sent=current.sent,
        acked=current.acked,
        unacked=len(current.unacked),
    )


def unacked(client: slixmpp.ClientXMPP) -> list[tuple[int, object]]:
    """A copy of the ``(seq, stanza)`` pairs not yet acknowledged by the server, oldest first."""
    return list(_state(client).unacked) if enabled(client) else []


def counter_is_first(client: slixmpp.ClientXMPP) -> bool:
    """Whether the ``h`` counter runs before every other incoming filter (what ``register`` ensures)."""
    filters = slixmpp_private.incoming_filters(client)
    return bool(filters) and filters[0] == slixmpp_private.sm_counter(client)


class SessionWriter:
    """Joins the stanzas written during one event-loop pass into one write, counted for stream management.

    The fast paths' writer (the pipeline's requests, the responder's answers):
    stanzas written during one event-loop pass go out in one write (one TLS record
    and one system call for dozens of stanzas), and stream management stays right:

    * each stanza is counted (``track_raw``) when it goes to the connection,
      not when it is handed over, so counting order is wire order;
    * while slixmpp still has stanzas queued (right after a resumption, the
      ones it re-sends), ours wait until its queue is written;
    * outside a session (cut off, or negotiating a new stream) nothing is
      written: into a dead connection it would be lost, into a stream not yet
      authenticated the server would close it. The stanzas wait, at most
      ``MAX_HELD``, and go out after ``session_resumed``, or once a new session
      has negotiated every stream feature (slixmpp starts the session at
      resource binding, before ``<enable/>``: stanzas written in between would
      be neither counted nor kept for re-sending).
    """

    MAX_HELD = 65536

    def __init__(self, client: slixmpp.ClientXMPP) -> None:
        self._client = client
        self._buffer: list[str] = []
        self._scheduled = False
        self._after_queue: asyncio.Future | None = None
        self._held_back = False  # until a resumed stream has shown it parses what we send
        self._negotiating = False  # a new session whose stream management is not negotiated yet
        self.dropped = 0  # stanzas refused because MAX_HELD were waiting
        self._defer: Callable[[Callable[[], None]], object] | None = None  # None: the loop's call_soon
        client.add_event_handler("session_start", self._session_negotiating)
        on_session_ready(client, self._session_back)
        client.add_event_handler("session_resumed", self._session_back)

    def write(self, data: str) -> bool:
        """Queue one stanza; False (and counted in ``dropped``) if MAX_HELD are already waiting."""
        if len(self._buffer) >= self.MAX_HELD:
            self.dropped += 1
            return False
        self._buffer.append(data)
        if not self._scheduled:
            self._scheduled = True
            (self._defer or self._client.loop.call_soon)(self.flush)
        return True

    def defer_flushes_to(self, defer: Callable[[Callable[[], None]], object]) -> None:
        """Have ``defer(flush)`` schedule the flush instead of the loop's ``call_soon``; it must run it before the
        event-loop pass ends (a load worker runs every session's flushes of a pass from one loop callback)."""
        self._defer = defer

    @property
    def held(self) -> int:
        return len(self._buffer)

    def pending(self) -> list[str]:
        """The stanzas waiting to be written, oldest first (a copy)."""
        return list(self._buffer)

    def hold(self) -> None:
        """Write nothing until ``release`` (a resumed stream not yet trusted)."""
        self._held_back = True

    def release(self) -> None:
        self._held_back = False
        self.flush()

    def flush(self) -> None:
        self._scheduled = False
        if not self._buffer or self._held_back or self._negotiating or not slixmpp_private.in_session(self._client):
            return  # kept until the session is back
        if not slixmpp_private.send_queue_empty(self._client):
            if self._after_queue is None or self._after_queue.done():
                self._after_queue = asyncio.ensure_future(self._flush_after_queue())
            return
        stanzas, self._buffer = self._buffer, []
        self._client.send_raw("".join(track_raw(self._client, stanza) for stanza in stanzas))

    async def _flush_after_queue(self) -> None:
        await slixmpp_private.send_queue_written(self._client)
        self.flush()

    def _session_negotiating(self, _event: object) -> None:
        self._negotiating = True

    def _session_back(self, _event: object) -> None:
        self._negotiating = False
        self.flush()

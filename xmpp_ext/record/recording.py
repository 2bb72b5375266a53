"""What a recording holds, and how one connection's traffic becomes it.

A recording is a list of events in the order the proxy saw them: a session
connects (its resource is bound), sends a stanza, receives a stanza,
disconnects. Only what follows resource binding is kept, and of that only
stanzas (``<message/>``, ``<presence/>``, ``<iq/>``): stream negotiation,
STARTTLS, SASL, stream features, binding, the legacy session iq, stream
management (XEP-0198) and client state (XEP-0352) are read only to follow the
connection, and never stored. So no password and no SASL payload is ever in a
recording (a client that types its password into a message is another matter:
the normaliser looks for that).

Bounds: at most MAX_SESSIONS sessions and MAX_STANZAS stanzas (MAX_BYTES in
all); past them the recording stops growing and says so (``truncated``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from slixmpp.xmlstream import ET

from xmpp_ext.record.stream import Closed, Element, Event, StreamObserver, StreamUnreadable

CLIENT_NS = "jabber:client"
TLS_NS = "urn:ietf:params:xml:ns:xmpp-tls"
SASL_NS = "urn:ietf:params:xml:ns:xmpp-sasl"
BIND_NS = "urn:ietf:params:xml:ns:xmpp-bind"
SESSION_NS = "urn:ietf:params:xml:ns:xmpp-session"
SM_NS = "urn:xmpp:sm:3"
STANZAS = frozenset(f"{{{CLIENT_NS}}}{name}" for name in ("message", "presence", "iq"))

MAX_SESSIONS = 200
# A script longer than `xmppext scenario` reads (1 MB) is of little use, and parsed stanzas take several times
# their size in memory: these keep a recording within a few tens of MiB.
MAX_STANZAS = 10_000
MAX_BYTES = 4 * 1024 * 1024


@dataclass(eq=False)
class Session:
    """One bound resource: a client logged in as ``jid`` (the full JID the server bound)."""

    number: int
    jid: str
    connection: object = field(default=None, repr=False)  # the ConnectionRecorder it lives on now

    @property
    def bare(self) -> str:
        return self.jid.partition("/")[0]

    @property
    def localpart(self) -> str:
        return self.bare.partition("@")[0]


@dataclass(eq=False)
class Step:
    """One event: ``kind`` is "connects", "disconnects", "sends" or "receives" (these two with ``stanza``)."""

    at: float  # time.monotonic()
    session: Session
    kind: str
    stanza: ET.Element | None = None
    cancelled: bool = False  # a disconnect undone by a stream resumption (XEP-0198)


@dataclass
class Recording:
    steps: list[Step] = field(default_factory=list)
    sessions: list[Session] = field(default_factory=list)
    truncated: str = ""  # why the recording stopped growing, if it did
    notes: list[str] = field(default_factory=list)  # sessions whose stanzas stopped being recorded, and why
    ended_at: float | None = None
    on_session: Callable[[Step], None] | None = field(default=None, repr=False)  # told of connects/disconnects
    _stanzas: int = 0
    _bytes: int = 0
    _resumable: dict[str, Session] = field(default_factory=dict)  # XEP-0198 id -> session
    _last_disconnect: dict[int, Step] = field(default_factory=dict)  # id(session) -> its latest disconnect

    def connection(self) -> ConnectionRecorder:
        """The recorder of one new client connection."""
        return ConnectionRecorder(self)

    def end(self) -> None:
        """Recording stops: every session still connected disconnects here."""
        now = time.monotonic()
        self.ended_at = now
        connected: dict[int, Session] = {}
        for step in self.steps:
            if step.kind == "connects":
                connected[id(step.session)] = step.session
            elif step.kind == "disconnects" and not step.cancelled:
                connected.pop(id(step.session), None)
        for session in connected.values():
            self.steps.append(Step(now, session, "disconnects"))

    # -- what connections report ---------------------------------------------------

    def _bound(self, jid: str) -> Session | None:
        if len(self.sessions) >= MAX_SESSIONS:
            self.truncated = self.truncated or f"more than {MAX_SESSIONS} sessions"
            return None
        session = Session(len(self.sessions) + 1, jid)
        self.sessions.append(session)
        self._add(Step(time.monotonic(), session, "connects"))
        return session

    def _stanza(self, session: Session, kind: str, stanza: ET.Element) -> None:
        if self.truncated:
            return
        size = len(ET.tostring(stanza))
        if self._stanzas >= MAX_STANZAS or self._bytes + size > MAX_BYTES:
            self.truncated = f"more than {MAX_STANZAS} stanzas or {MAX_BYTES // (1024 * 1024)} MiB"
            return
        self._stanzas += 1
        self._bytes += size
        self.steps.append(Step(time.monotonic(), session, kind, stanza))

    def _closed(self, session: Session) -> None:
        step = Step(time.monotonic(), session, "disconnects")
        self._add(step)
        self._last_disconnect[id(session)] = step

    def _add(self, step: Step) -> None:
        self.steps.append(step)
        if self.on_session is not None:
            self.on_session(step)

    def _resumed(self, session: Session) -> None:
        """The session goes on over a new connection (XEP-0198): its connection's loss was no disconnect."""
        step = self._last_disconnect.pop(id(session), None)
        if step is not None:
            step.cancelled = True


class ConnectionRecorder:
    """Follows one client connection from both sides and reports its session's stanzas to the recording.

    The proxy feeds it bytes (``from_client``, ``from_server``) before
    forwarding them, and learns from its answers when the connection must
    switch to TLS. Before a session exists the bytes must be read (to follow
    STARTTLS and SASL): unreadable bytes then end the connection. Once bound,
    a stanza this cannot read only ends the recording of this connection.
    """

    def __init__(self, recording: Recording) -> None:
        self.recording = recording
        self.client_side = StreamObserver()
        self.server_side = StreamObserver()
        self.session: Session | None = None
        self.bind_id: str | None = None
        self.session_iq_ids: set[str] = set()
        self.resuming: str | None = None  # XEP-0198 previd the client asked to resume
        self.problem = ""  # why this connection's stanzas are no longer recorded
        self.negotiating = True  # until a resource is bound (or a stream resumed), recorded or not
        self._restart = False
        self.ended = False

    def from_client(self, data: bytes) -> None:
        for event in self._read(self.client_side, data):
            if isinstance(event, Element):
                self._client_element(event.element)
            elif isinstance(event, Closed):
                # The client closed its stream: it disconnects now, before the server tells its contacts
                # (who receive "unavailable" before the TCP connection is gone). What the server still
                # writes to it is not recorded: a replay's client has left by then.
                self.closed()

    def from_server(self, data: bytes) -> bool:
        """Read what the server sends; True when it said ``<proceed/>``: both sides must now switch to TLS."""
        proceed = False
        for event in self._read(self.server_side, data):
            if isinstance(event, Element):
                proceed = self._server_element(event.element) or proceed
        if self._restart or proceed:
            # Both sides start a new document next (after TLS, or the client's stream restart after SASL);
            # this runs before the bytes are forwarded, so before the client can send its new header.
            self._restart = False
            self.server_side.restart()
            self.client_side.restart()
        return proceed

    def closed(self) -> None:
        """The connection is gone; a session on it disconnects (unless it is resumed later)."""
        if self.ended:
            return
        self.ended = True
        # A session resumed elsewhere (XEP-0198) did not disconnect when its old connection went.
        if self.session is not None and self.session.connection is self:
            self.recording._closed(self.session)

    # -- internals -----------------------------------------------------------------

    def _read(self, observer: StreamObserver, data: bytes) -> list[Event]:
        if self.problem:
            return []
        try:
            return observer.feed(data)
        except StreamUnreadable as exc:
            if self.session is None:
                raise  # negotiation cannot be followed: the proxy ends the connection
            self.problem = str(exc)
            self.recording.notes.append(f"{self.session.jid}: stopped recording its stanzas ({exc})")
            return []

    def _client_element(self, element: ET.Element) -> None:
        if self.ended:
            return
        if self.session is None:
            self._client_negotiation(element)
        elif element.tag in STANZAS:
            if element.tag == f"{{{CLIENT_NS}}}iq" and element.find(f"{{{SESSION_NS}}}session") is not None:
                self.session_iq_ids.add(element.get("id", ""))  # RFC 3921's session establishment: setup
                return
            self.recording._stanza(self.session, "sends", element)

    def _client_negotiation(self, element: ET.Element) -> None:
        if element.tag == f"{{{CLIENT_NS}}}iq" and element.find(f"{{{BIND_NS}}}bind") is not None:
            self.bind_id = element.get("id")
        elif element.tag == f"{{{SM_NS}}}resume":
            self.resuming = element.get("previd")
        # Everything else before binding (starttls, auth, response, enable...) is read and dropped.

    def _server_element(self, element: ET.Element) -> bool:
        if self.ended:
            return False
        if element.tag == f"{{{TLS_NS}}}proceed":
            return True
        if element.tag == f"{{{SASL_NS}}}success":
            self._restart = True
            return False
        if self.session is None:
            self._server_negotiation(element)
            return False
        if element.tag == f"{{{SM_NS}}}enabled" and element.get("resume") in ("true", "1") and element.get("id"):
            self.recording._resumable[element.get("id")] = self.session
        elif element.tag in STANZAS:
            if element.get("id") in self.session_iq_ids and element.get("type") in ("result", "error"):
                return False
            self.recording._stanza(self.session, "receives", element)
        return False

    def _server_negotiation(self, element: ET.Element) -> None:
        if element.tag == f"{{{CLIENT_NS}}}iq" and self.bind_id is not None and element.get("id") == self.bind_id:
            jid = element.findtext(f"{{{BIND_NS}}}bind/{{{BIND_NS}}}jid")
            if element.get("type") == "result" and jid:
                self.negotiating = False
                self.session = self.recording._bound(jid.strip())
                if self.session is None:
                    self.problem = self.recording.truncated
                else:
                    self.session.connection = self
        elif element.tag == f"{{{SM_NS}}}resumed" and self.resuming:
            session = self.recording._resumable.get(self.resuming)
            self.negotiating = False
            if session is not None:
                self.session = session
                session.connection = self
                self.recording._resumed(session)

"""The respond job: answer example_tag requests and messages until told to stop.

* iq get/set carrying the tag: one decision (``Responder.decide``) for every
  request — who may ask first (``--allow``: forbidden), then what was asked
  (invalid: bad-request), else a result carrying the tag, filled like the
  tutorial's responder. Every answer is logged and counted.
* Every reply is measured as it will be written before it is sent: a reply
  that would exceed what the server accepts (XEP-0478's announced limit, or
  the 10,000 bytes RFC 6120 §13.12 lets every server assume) is replaced by a
  smaller one or not sent, so no request can make our own output cost the
  responder its stream.
* a message carrying the tag: a message back to its sender carrying the tag
  (text = the original body) and a XEP-0461 <reply/> naming the original.
  Messages that are themselves replies, and our own, are never answered, so
  two responders cannot talk to each other forever; nor are headlines, which
  expect no reply (RFC 6121 §5.2.2).
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

import slixmpp
from slixmpp.xmlstream import tostring

from xmpp_ext.plugin import EXAMPLE_TAG, ExampleTag
from xmpp_ext.plugin.payload import request_payload_problem
from xmpp_ext.plugin.streamlimits import SAFE_STANZA_BYTES, watch_stanza_limit
from xmpp_ext.plugin.wire import IQ_TAG, quoteattr, wire_size
from xmpp_ext.session import streammgmt
from xmpp_ext.session.client import ConnectError, ConnectionSettings, build_client, connect, disconnect
from xmpp_ext.util.display import printable
from xmpp_ext.util.stopsignals import on_stop_signals

log = logging.getLogger(__name__)

RESPONDER_PLUGINS = ("xep_0030", "xep_0461", "example_tag")
DEFAULT_RESOURCE = "xmppext"
REPLY_NAMESPACE = "urn:xmpp:reply:0"
MAX_RECONNECT_DELAY = 30.0
#: Exchange lines ``respond`` prints per second without -v; the others are summed up in one line a second.
LINES_PER_SECOND = 20
#: Characters of a received tag -v shows (attributes and text), escaped for the terminal.
MAX_SHOWN_RECEIVED = 200


class LineBudget:
    """At most ``per_second`` lines in any second; the others counted by kind and summed up once a second.

    A burst of 20,000 requests would otherwise print 20,000 lines, costing the
    responder (and the terminal) more than answering them.
    """

    def __init__(
        self, echo: Callable[[str], None], loop: asyncio.AbstractEventLoop, per_second: int = LINES_PER_SECOND
    ) -> None:
        self._echo = echo
        self._loop = loop
        self._per_second = per_second
        self._window_start = -math.inf
        self._shown = 0
        self._held: dict[str, int] = {}  # kind of line -> count; the kinds are few fixed phrases
        self._flushing: asyncio.TimerHandle | None = None

    def allow(self) -> bool:
        """Whether one more line may be printed now (if not, ``hold`` it)."""
        now = time.monotonic()
        if now - self._window_start >= 1.0:
            self._window_start = now
            self._shown = 0
        if self._shown < self._per_second:
            self._shown += 1
            return True
        return False

    def hold(self, kind: str) -> None:
        self._held[kind] = self._held.get(kind, 0) + 1
        if self._flushing is None:
            delay = max(0.0, self._window_start + 1.0 - time.monotonic())
            self._flushing = self._loop.call_later(delay, self.flush)

    def flush(self) -> None:
        """Print the summing-up line now, if any line was held."""
        if self._flushing is not None:
            self._flushing.cancel()
            self._flushing = None
        if self._held:
            held, self._held = self._held, {}
            parts = ", ".join(f"{count:,} {kind}" for kind, count in held.items())
            self._echo(f"... {sum(held.values()):,} more in the last second: {parts}")


@dataclass(frozen=True)
class RespondOptions:
    reply_string: str = "Reply_string"
    allow: frozenset[str] = field(default_factory=frozenset)  # bare JIDs; empty: everyone
    count: int | None = None  # stop after this many answers
    duration: float | None = None  # stop after this many seconds
    ready_fifo: Path | None = None  # also write the READY line here (run-pair reads it)
    delay: float = 0.0  # answer iqs only after this many seconds (a slow peer, for tests)
    stream_management: bool = True  # XEP-0198 acks and resumption, when the server offers them


class Answer(Enum):
    RESULT = "result"
    FORBIDDEN = "forbidden"
    BAD_REQUEST = "bad-request"


class Responder:
    """Answers on a connected (or reconnecting) client; ``run`` owns its lifetime."""

    def __init__(
        self,
        client: slixmpp.ClientXMPP,
        options: RespondOptions,
        echo: Callable[[str], None],
        verbose: bool = True,
        every_line: bool = False,
    ) -> None:
        """``verbose``: lines about exchanges, at most ``LINES_PER_SECOND`` a second, the rest summed up;
        ``every_line`` (-v): every one of them, and what each request carried."""
        self.client = client
        self.verbose = verbose
        self.every_line = every_line
        self._lines = LineBudget(echo, client.loop)
        self.options = options
        self.echo = echo
        self.answered = 0
        self.reply_budget = SAFE_STANZA_BYTES
        self._stop = asyncio.Event()
        self._stopping = False
        self._failed_sessions = 0
        self._had_session = False
        self._outage_started: float | None = None
        self._fatal: str | None = None  # why the responder must not reconnect (e.g. conflict)
        self._stream_error = ""
        self._reconnecting: asyncio.Future[None] | None = None
        self._waiting = 0  # requests held back by --delay
        self.most_waiting = 0
        client.add_event_handler("session_start", self._on_session_start)
        client.add_event_handler("session_resumed", self._on_session_resumed)
        client.add_event_handler("disconnected", self._on_disconnected)
        client.add_event_handler("stream_error", self._on_stream_error)
        watch_stanza_limit(client, self._on_stanza_limit)
        client.add_event_handler("connection_failed", self._on_connection_failed)
        # The reply's tag is the same for every request: serialise it once.
        reply_tag = ExampleTag()
        reply_tag.fill_interfaces(True, options.reply_string)
        self._reply_tag = tostring(reply_tag.xml)
        self._result_description = f"answered result (some_string={options.reply_string!r})"
        self._writer = streammgmt.SessionWriter(client)
        client.add_filter("in", self._answer_request)
        client.add_event_handler("example_tag_message", self._on_message)

    def stop(self) -> None:
        self._stop.set()

    async def run(self, settings: ConnectionSettings) -> None:
        """Log in, answer until stopped. A stop signal while logging in ends the attempt at once.

        :raises ConnectError: no first session, or another client took over our full JID.
        """
        this_task = asyncio.current_task()
        signalled: list[int] = []

        def on_signal(signum: int) -> None:
            signalled.append(signum)
            self.stop()
            if not self._had_session and this_task is not None:
                this_task.cancel()  # still logging in: nothing to finish

        try:
            with on_stop_signals(on_signal):
                try:
                    await connect(self.client, settings)
                except asyncio.CancelledError:
                    if not signalled:
                        raise
                    return
                if self.options.duration is not None:
                    asyncio.get_running_loop().call_later(self.options.duration, self.stop)
                await self._stop.wait()
        finally:
            self._stopping = True
            await disconnect(self.client)
        if self._fatal:
            raise ConnectError(self._fatal)

    # -- session ---------------------------------------------------------------

    def _on_session_start(self, _event: object) -> None:
        self._had_session = True
        self._failed_sessions = 0
        if self._outage_started is not None:
            self.echo(f"reconnected after {time.monotonic() - self._outage_started:.1f}s")
            self._outage_started = None
        self.client.send_presence()
        ready = f"READY {self.client.boundjid.full}"
        # The FIFO first: whoever watches our output may act on READY (even stop us) the moment it appears.
        if self.options.ready_fifo is not None:
            _write_line(self.options.ready_fifo, ready)
        self.echo(ready)

    def _on_session_resumed(self, _event: object) -> None:
        # The server kept our session: same full JID, presence and queued requests (answered now, once).
        self._failed_sessions = 0
        after = "" if self._outage_started is None else f" after {time.monotonic() - self._outage_started:.1f} s"
        self._outage_started = None
        # Right after <resumed/>, slixmpp has just re-sent exactly what its queue still holds.
        resent = streammgmt.state(self.client).unacked
        self.echo(f"RESUMED {self.client.boundjid.full}{after}, {resent} re-sent")

    def _on_stanza_limit(self, max_bytes: int) -> None:
        self.reply_budget = max_bytes

    def _on_stream_error(self, error: slixmpp.stanza.StreamError) -> None:
        text = f": {error['text']}" if error["text"] else ""
        self._stream_error = f"stream error {error['condition']}{printable(text)}"
        if error["condition"] == "conflict":
            # Another client logged in with our full JID; reconnecting would only knock it off in turn, forever.
            self._fatal = (
                f"another client logged in as {self.client.boundjid.full} ({self._stream_error}); stopping. "
                "Give each responder its own resource (-j user@domain/resource)"
            )

    def _on_disconnected(self, reason: object) -> None:
        # Before the first session, connect() reports failures itself (exit 3).
        if self._stopping or not self._had_session:
            return
        cause = self._stream_error or printable(reason or "connection closed")
        self._stream_error = ""
        if self._fatal:  # the error line says why, once
            self.stop()
            return
        if self._outage_started is None:
            self._outage_started = time.monotonic()
        self._schedule_reconnect(f"disconnected ({cause})")

    def _on_connection_failed(self, error: object) -> None:
        # slixmpp would retry on its own, backing off up to 300 s in silence: keep to our cap, and say so.
        if self._stopping or not self._had_session:
            return
        self.client.cancel_connection_attempt()
        self._schedule_reconnect(f"reconnection failed ({printable(error)})")

    def _schedule_reconnect(self, what: str) -> None:
        delay = min(MAX_RECONNECT_DELAY, 0.5 * 2**self._failed_sessions)
        self._failed_sessions += 1
        self.echo(f"{what}; reconnecting in {delay:g}s")
        self._reconnecting = asyncio.ensure_future(self._reconnect(delay))

    async def _reconnect(self, delay: float) -> None:
        try:
            await asyncio.wait_for(self._stop.wait(), delay)
            return  # asked to stop while waiting
        except TimeoutError:
            pass
        host, port = self.client.custom_address or (None, None)
        self.client.connect(host, port)

    # -- answering -------------------------------------------------------------

    def _allowed(self, sender: str) -> bool:
        return not self.options.allow or sender.partition("/")[0] in self.options.allow

    def decide(self, iq: slixmpp.Iq) -> tuple[Answer, str | None]:
        """How to answer an iq get/set carrying the tag: who may ask first, then what they asked."""
        # No 'from' means the stanza comes from our own account (RFC 6120 §8.1.2.1).
        requester = iq.xml.get("from") or self.client.boundjid.bare
        if not self._allowed(requester):
            return Answer.FORBIDDEN, "not allowed to use this responder"
        problem = request_payload_problem(iq.xml) or iq["example_tag"].validation_problem()
        if problem is not None:
            return Answer.BAD_REQUEST, problem
        return Answer.RESULT, None

    def _answer_request(self, stanza: slixmpp.stanza.RootStanza) -> slixmpp.stanza.RootStanza | None:
        """Incoming filter: every iq get/set carrying the tag is answered here, before the handler scan."""
        xml = stanza.xml
        itype = xml.get("type")
        if xml.tag != IQ_TAG or itype not in ("get", "set") or xml.find(EXAMPLE_TAG) is None:
            return stanza
        requester = xml.get("from")
        # Who asked, as the lines name it; made safe for the terminal only when a line is built (not per request).
        asker = requester or self.client.boundjid.bare
        if self.every_line:
            self.echo(f"received iq {itype} from {printable(asker)}: {describe_tag(xml.find(EXAMPLE_TAG))}")
        answer, problem = self.decide(stanza)
        if answer is Answer.RESULT:
            to = f" to={quoteattr(requester)}" if requester else ""
            reply = (
                f"<iq xmlns='jabber:client' type='result'{to} id={quoteattr(xml.get('id', ''))}>{self._reply_tag}</iq>"
            )
            if len(reply.encode()) > self.reply_budget:
                # Only an id or a JID far beyond any sane size gets here; an error would have to echo it too.
                self._answered("iq", itype, asker, "not answered (its id would make the reply too large)")
                return None
            if self.options.delay:
                self._waiting += 1
                self.most_waiting = max(self.most_waiting, self._waiting)
                self.client.loop.call_later(self.options.delay, self._answer_late, reply, itype, asker)
            else:
                self._writer.write(reply)
                self._answered("iq", itype, asker, self._result_description)
            return None
        condition, etype = ("forbidden", "auth") if answer is Answer.FORBIDDEN else ("bad-request", "modify")
        self.client.plugin["example_tag"].refuse(stanza, condition, problem, etype=etype)
        why = "not in --allow" if answer is Answer.FORBIDDEN else printable(problem)
        self._answered("iq", itype, asker, f"refused with {condition} ({why})")
        return None

    def _answer_late(self, reply: str, itype: str, requester: str) -> None:
        self._waiting -= 1
        self._writer.write(reply)
        self._answered("iq", itype, requester, self._result_description)

    def _on_message(self, msg: slixmpp.Message) -> None:
        author = msg["from"]
        what = f"message from {printable(author)}"  # messages are rare: no need to save this formatting
        if author == self.client.boundjid:
            return
        if msg.xml.find(f"{{{REPLY_NAMESPACE}}}reply") is not None:
            log.info("%s is itself a reply: not answered", what)
            return
        if msg["type"] == "headline":  # RFC 6121 §5.2.2: a notification to which no reply is expected
            if self.verbose:
                self.echo(f"{what}: ignored (a headline expects no reply)")
            return
        if not self._allowed(str(author)):
            if self.verbose:
                self.echo(f"{what}: ignored (not in --allow)")
            return
        reply = self._message_reply(msg)
        if reply is None:
            self._answered("message", "", author, "not answered (a reply would be too large)")
            return
        reply.send()
        named = f" to {printable(msg['id'])}" if reply.xml.find(f"{{{REPLY_NAMESPACE}}}reply") is not None else ""
        if not msg["id"]:
            named = " (it has no id to name)"
        self._answered("message", "", author, f"answered with a reply{named}")

    def _message_reply(self, msg: slixmpp.Message) -> slixmpp.Message | None:
        """A tagged message back to the author, echoing its body while the reply stays within the budget."""
        author = msg["from"]
        mtype = msg["type"] if msg["type"] in ("chat", "normal") else "chat"
        # Smaller and smaller: without the echoed body, then without the XEP-0461 element (which echoes the id).
        reply_id = self.client.new_id()
        for echo_body, name_it in ((True, True), (False, True), (False, False)):
            reply = self.client.make_message(mto=author, mbody=self.options.reply_string, mtype=mtype)
            reply["id"] = reply_id
            text = (msg["body"] or None) if echo_body else None
            reply["example_tag"].fill_interfaces(True, self.options.reply_string, text=text)
            if msg["id"] and name_it:  # XEP-0461 names the message answered by its id; without one, no <reply/>
                reply["reply"]["id"] = msg["id"]
                reply["reply"]["to"] = author
            if wire_size(reply) <= self.reply_budget:
                return reply
        return None

    def _answered(self, kind: str, itype: str, requester: object, how: str) -> None:
        """Count an answer and, when shown, say it; ``requester`` comes from the peer and is escaped here."""
        self.answered += 1
        if self.verbose:  # the line is only built when it is shown
            if self.every_line or self._lines.allow():
                self.echo(f"{kind} {itype + ' ' if itype else ''}from {printable(requester)}: {how}")
            else:  # "answered result", "refused with bad-request", ...: the fixed start of `how`
                self._lines.hold(f"{kind} {itype + ' ' if itype else ''}{how.partition(' (')[0]}")
        if self.options.count is not None and self.answered >= self.options.count:
            self.stop()

    def flush_lines(self) -> None:
        """Print the summing-up of lines held back (before the last words)."""
        self._lines.flush()


def describe_tag(tag) -> str:
    """A received example_tag's attributes and text, for a line: bounded and safe for a terminal."""
    if tag is None:
        return "no example_tag"
    attributes = " ".join(f"{name}={value!r}" for name, value in sorted(tag.attrib.items()))
    text = f" text={tag.text!r}" if tag.text and tag.text.strip() else ""
    inner = f" +{len(tag)} inner" if len(tag) else ""
    described = f"example_tag {attributes}{text}{inner}".replace("example_tag  ", "example_tag ")
    if len(described) > MAX_SHOWN_RECEIVED:
        described = described[: MAX_SHOWN_RECEIVED - 1] + "…"
    return printable(described)


def _write_line(fifo: Path, line: str) -> None:
    try:
        descriptor = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as exc:  # nobody reading any more: run-pair already has its READY
        log.debug("cannot report readiness through %s: %s", fifo, exc)
        return
    try:
        os.write(descriptor, f"{line}\n".encode())
    finally:
        os.close(descriptor)


async def respond(
    settings: ConnectionSettings,
    options: RespondOptions,
    echo: Callable[[str], None],
    verbose: bool = True,
    every_line: bool = False,
) -> int:
    """Run a responder until stopped; returns how many stanzas it answered.

    ``verbose``: lines about exchanges, at most ``LINES_PER_SECOND`` a second and a summing-up line for
    the rest; ``every_line``: all of them, with what each request carried (READY, RESUMED and
    reconnections are always printed).

    :raises ConnectError: no first session, or another client took over our full JID (stream error conflict).
    """
    client = build_client(settings, RESPONDER_PLUGINS)
    if options.stream_management:
        streammgmt.enable(client)
    responder = Responder(client, options, echo, verbose, every_line)
    await responder.run(settings)
    responder.flush_lines()
    if verbose:
        held = f" (at most {responder.most_waiting} waiting at once)" if options.delay else ""
        echo(f"stopped after answering {responder.answered}{held}")
    return responder.answered

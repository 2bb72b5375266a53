"""The send job: the tutorial's scenario, one stanza, or a burst, every reply awaited.

Every request ends as one Exchange (ok, failed or lost) within its timeout,
whatever the peer does: iq replies through slixmpp's futures, message replies
(XEP-0461) and bounces through a table of pending message ids.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path

import slixmpp
from slixmpp import JID
from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.xmlstream import ET

from xmpp_ext.jobs.burst import IqPipeline
from xmpp_ext.jobs.outcomes import Exchange, Status, Tally, iq_reply_verdict
from xmpp_ext.plugin import EXAMPLE_TAG, NAMESPACE, ExampleTag, check_payload_size
from xmpp_ext.plugin.payload import bundled_payload
from xmpp_ext.plugin.wire import wire_size
from xmpp_ext.session import streammgmt
from xmpp_ext.session.client import ConnectionSettings, build_client, connect, disconnect
from xmpp_ext.util.display import printable
from xmpp_ext.util.stopsignals import on_stop_signals

log = logging.getLogger(__name__)

SENDER_PLUGINS = ("xep_0030", "example_tag")
REPLY_PLUGIN = "xep_0461"
PING_NAMESPACE = "urn:xmpp:ping"  # XEP-0199: every server answers it
# A ping gets at least this long: behind a server's rate limit it waits its turn like everything we sent.
STALL_PING_TIMEOUT = 10.0  # message replies reference the message they answer (XEP-0461)
#: Back-off between reconnection attempts after a cut: at once, then 0.25 s, doubling up to 5 s.
FIRST_RETRY_DELAY = 0.25
MAX_RETRY_DELAY = 5.0
#: Refused resumptions (<failed/>) a run survives; the next one ends it (a server failing every <resume/>
#: and every <enable/> must not keep a run reconnecting forever).
MAX_REFUSED_RESUMPTIONS = 3
SM_FAILED_TAG = "{urn:xmpp:sm:3}failed"
#: Stream errors after which connecting again makes sense (RFC 6120 §4.9.3): the server is going away or
#: restarting, or dropped an idle stream. Any other (policy-violation, conflict, ...) ends the run.
TRANSIENT_STREAM_ERRORS = frozenset({"system-shutdown", "reset", "connection-timeout"})
STANZA_ERRORS_NAMESPACE = "urn:ietf:params:xml:ns:xmpp-stanzas"
TUTORIAL_STRING = (
    f'<example_tag xmlns="{NAMESPACE}" some_string="Another_string">'
    'Info_inside_tag<inside_tag first_field="1" secound_field="2" /></example_tag>'
)


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


class NotSupported(Exception):
    """The peer's service discovery does not list the extension: nothing was sent."""


class ResolveError(Exception):
    """A bare JID could not be narrowed to an online resource that supports the extension."""


@dataclass(frozen=True)
class Step:
    """One exchange of a run: what to send and which outcome counts as ok."""

    name: str
    kind: str  # "iq" or "message"
    tag: ExampleTag
    itype: str = "get"
    expect_error: str | None = None  # the error condition that is the expected outcome
    await_reply: bool = True


#: What ``--path -`` names: the tag comes from standard input.
STDIN_PATH = Path("-")


def read_tag_source(path: Path, stdin) -> ExampleTag:
    """The tag in the file at ``path``, or in ``stdin`` (a binary stream) when ``path`` is ``-``.

    Either is bounded the same way: at most MAX_PAYLOAD_BYTES are read, and
    more is an ExampleTagError naming the source.
    """
    from xmpp_ext.plugin.payload import MAX_PAYLOAD_BYTES, parse_xml

    tag = ExampleTag()
    if path != STDIN_PATH:
        tag.setup_from_file(path)
        return tag
    source = "standard input"
    data = stdin.read(MAX_PAYLOAD_BYTES + 1)
    if len(data) > MAX_PAYLOAD_BYTES:
        from xmpp_ext.plugin import ExampleTagError

        raise ExampleTagError(f"{source}: more than {MAX_PAYLOAD_BYTES} bytes, the stanza size servers accept")
    tag.setup_from_lxml(parse_xml(data, source=source), source=source)
    return tag


def tutorial_scenario(path: Path | None = None, file_tag: ExampleTag | None = None) -> list[Step]:
    """The tutorial sender's seven exchanges, in its order.

    All tags are built before anything is sent, so a bad ``path`` is reported
    (ExampleTagError) with nothing on the wire. ``file_tag``: the tag already
    read (``read_tag_source``), instead of reading ``path``.
    """

    def tag(**values: object) -> ExampleTag:
        built = ExampleTag()
        built.setup_from_dict(values)
        return built

    basic = tag(boolean=True, some_string="Another_string", text="Info_inside_tag")
    inner = tag(some_string="Another_string", text="Info_inside_tag")
    inner.add_inside_tag(tag="inside_tag", attributes={"first_field": "1", "secound_field": "2"})
    message = tag(boolean=True, some_string="Message string", text="Info_inside_tag_message")
    from_file = file_tag if file_tag is not None else read_tag_source(path or bundled_payload(), None)
    from_element = ExampleTag()
    from_element.setup_from_lxml(ET.fromstring(TUTORIAL_STRING))
    # The tutorial's request that must fail: no some_string.
    invalid = tag(boolean=True)
    from_string = ExampleTag()
    from_string.setup_from_string(TUTORIAL_STRING)
    return [
        Step("iq basic", "iq", basic),
        Step("iq with inner tag", "iq", inner),
        Step("message", "message", message),
        Step("iq from file", "iq", from_file),
        Step("iq from element", "iq", from_element),
        Step("iq without some_string", "iq", invalid, expect_error="bad-request"),
        Step("iq from string", "iq", from_string),
    ]


class MessageReplies:
    """Matches XEP-0461 replies and bounces to the messages we sent, by id."""

    def __init__(self, client: slixmpp.ClientXMPP) -> None:
        self._pending: dict[str, tuple[JID, asyncio.Future[slixmpp.Message]]] = {}
        client.add_event_handler("message_reply", self._on_reply)
        client.add_event_handler("message_error", self._on_bounce)

    def expect(self, message_id: str, peer: JID) -> asyncio.Future[slixmpp.Message]:
        future = asyncio.get_running_loop().create_future()
        self._pending[message_id] = (peer, future)
        return future

    def forget(self, message_id: str) -> None:
        self._pending.pop(message_id, None)

    def _on_reply(self, msg: slixmpp.Message) -> None:
        entry = self._pending.get(msg["reply"]["id"])
        # Only the peer we wrote to can answer for it (a bare target: any of its resources).
        if entry and _same_entity(entry[0], msg["from"]):
            self._pending.pop(msg["reply"]["id"])
            if not entry[1].done():
                entry[1].set_result(msg)

    def _on_bounce(self, msg: slixmpp.Message) -> None:
        entry = self._pending.pop(msg["id"], None)
        if entry and not entry[1].done():
            entry[1].set_exception(MessageBounced(msg))


class MessageBounced(Exception):
    def __init__(self, msg: slixmpp.Message) -> None:
        super().__init__(msg["error"]["condition"])
        self.condition = msg["error"]["condition"]
        self.error_type = msg["error"]["type"] or None
        self.text = msg["error"]["text"]
        self.replier = str(msg["from"])


def _same_entity(expected: JID, actual: JID) -> bool:
    return actual == expected if expected.resource else actual.bare == expected.bare


class Sender:
    """Runs steps against one peer over a connected client.

    With stream management (``streammgmt.enable`` before connecting, and the
    server agreeing), a dropped connection does not end the run: the sender
    reconnects with back-off within ``timeout``, resumes the stream (slixmpp
    re-sends what the server had not acknowledged) and goes on waiting for
    replies. When the server refuses to resume, requests in flight that
    reached it count as lost, the others are re-sent over the new session.
    """

    def __init__(
        self,
        client: slixmpp.ClientXMPP,
        to: JID,
        timeout: float,
        tally: Tally | None = None,
        on_event: Callable[[dict[str, object]], None] | None = None,
    ) -> None:
        self.client = client
        self.to = to
        self.timeout = timeout
        self.tally = tally if tally is not None else Tally()
        self._on_event = on_event or (lambda _event: None)
        self._replies = MessageReplies(client)
        # Set when the run must end early: the stream ended under us and
        # cannot be resumed (no reply can arrive after that, so waiting out
        # every time-out would only make the failure slow), or the user
        # interrupted it.
        self._stopped: asyncio.Future[RunStop] = client.loop.create_future()
        self._stream_error = ""
        self._stream_error_transient = False
        self._pinging: asyncio.Future[None] | None = None
        self._pipeline: IqPipeline | None = None
        self._reconnecting: asyncio.Future[None] | None = None
        self._outage_started: float | None = None
        self._refused: tuple[int | None, list, str] | None = None  # what a <failed/> said, before slixmpp acts
        self._refusals = 0
        self._finished = False
        client.add_event_handler("stream_error", self._on_stream_error)
        client.add_event_handler("disconnected", self._on_disconnected)
        client.add_event_handler("session_resumed", self._on_resumed)
        client.add_event_handler("session_start", self._on_new_session)
        client.add_event_handler("sm_failed", self._on_sm_failed)

    def stop(self, kind: StopKind, reason: str) -> None:
        """End the run early: requests in flight end as lost, the rest are not sent."""
        if not self._stopped.done():
            self._stopped.set_result(RunStop(kind, reason))

    def finish(self) -> None:
        """The run is over: a disconnection from now on is ours (logging out), not a cut to recover from."""
        self._finished = True
        if self._reconnecting is not None:
            self._reconnecting.cancel()

    def _on_stream_error(self, error: slixmpp.stanza.StreamError) -> None:
        text = f": {error['text']}" if error["text"] else ""
        self._stream_error = f"stream error {error['condition']}{text}"
        self._stream_error_transient = error["condition"] in TRANSIENT_STREAM_ERRORS

    def _on_disconnected(self, reason: object) -> None:
        if self._finished or self._stopped.done():
            return
        if self._reconnecting is not None and not self._reconnecting.done():
            return  # a reconnection attempt failing: the attempt loop deals with it
        cause = self._stream_error or str(reason or "connection closed")
        fatal = self._stream_error and not self._stream_error_transient
        self._stream_error, self._stream_error_transient = "", False
        # Most stream errors are the server ending the session on purpose: no point in coming back.
        if fatal or not self._can_resume():
            self.stop(StopKind.CONNECTION_LOST, cause)
            return
        self._reconnecting = asyncio.ensure_future(self._reconnect(printable(cause)))

    def _can_resume(self) -> bool:
        return (
            streammgmt.enabled(self.client)
            and streammgmt.state(self.client).resumable
            and self._refusals < MAX_REFUSED_RESUMPTIONS
        )

    async def _reconnect(self, cause: str) -> None:
        """Connect again until the stream is resumed or a new session starts, within ``timeout`` of the cut."""
        self._outage_started = started = time.monotonic()
        self.tally.reconnections += 1
        if self._pipeline is not None:
            self._pipeline.pause()
        deadline = started + self.timeout
        # Only while reconnecting: a <failed/> answers a <resume/>, and the fast paths pay nothing meanwhile.
        self.client.add_filter("in", self._watch_failed)
        try:
            delay = 0.0
            while not self._stopped.done():
                if delay:
                    await asyncio.wait({self._stopped}, timeout=min(delay, max(0.0, deadline - time.monotonic())))
                remaining = deadline - time.monotonic()
                if self._stopped.done():
                    return
                if remaining <= 0:
                    self.stop(
                        StopKind.CONNECTION_LOST, f"{cause}; no session again within {self.timeout:g}s of the cut"
                    )
                    return
                log.debug("reconnecting after a cut (%s), %.1f s left", cause, remaining)
                if await self._attempt(remaining):
                    return
                delay = FIRST_RETRY_DELAY if not delay else min(MAX_RETRY_DELAY, delay * 2)
                log.debug("reconnection attempt failed; next in %g s", delay)
        finally:
            self.client.del_filter("in", self._watch_failed)

    async def _attempt(self, remaining: float) -> bool:
        """One connection attempt: True once the stream is resumed or a new session has started."""
        outcome: asyncio.Future[bool] = self.client.loop.create_future()

        def settle(value: bool) -> Callable[[object], None]:
            return lambda _event: outcome.done() or outcome.set_result(value)

        handlers = {
            "session_resumed": settle(True),
            "session_start": settle(True),
            "connection_failed": settle(False),
            "disconnected": settle(False),
        }
        for event, handler in handlers.items():
            self.client.add_event_handler(event, handler)
        ok = False
        try:
            host, port = self.client.custom_address or (None, None)
            self.client.connect(host, port)
            done, _ = await asyncio.wait(
                {outcome, self._stopped}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
            )
            ok = outcome in done and outcome.result()
            return ok
        finally:
            for event, handler in handlers.items():
                self.client.del_event_handler(event, handler)
            if not ok:
                # slixmpp would go on retrying by itself, backing off up to 300 s: our loop decides.
                self.client.cancel_connection_attempt()
                if self.client.transport is not None:
                    self.client.abort()

    def _watch_failed(self, stanza: slixmpp.stanza.RootStanza) -> slixmpp.stanza.RootStanza:
        """Incoming filter (while reconnecting): note what a <failed/> says before slixmpp forgets its queue."""
        xml = stanza.xml
        if xml.tag == SM_FAILED_TAG:
            text = xml.get("h")
            h = int(text) if text is not None and text.isdigit() and len(text) <= 10 else None
            conditions = [child.tag.partition("}")[2] for child in xml if not child.tag.endswith("}text")]
            cause = printable(conditions[0][:64]) if conditions else "no condition given"
            plugin = self.client.plugin[streammgmt.PLUGIN]
            self._refused = (h, list(plugin.unacked_queue), cause)
        return stanza

    def _on_resumed(self, _event: object) -> None:
        after = time.monotonic() - (self._outage_started or time.monotonic())
        self._outage_started = None
        resent = streammgmt.state(self.client).unacked  # slixmpp has just re-sent exactly these
        self.tally.resumed += 1
        self.tally.resent += resent
        self._on_event({"event": "resumed", "after_s": round(after, 3), "resent": resent})
        if self._pipeline is not None:
            self._pipeline.unpause()

    def _on_sm_failed(self, _stanza: object) -> None:
        if self._finished or self._stopped.done():
            return
        if self._outage_started is None:
            # Not an answer to <resume/>: the server refused <enable/> on a new session, or (a broken server)
            # sent <failed/> mid-stream, where slixmpp turns acks off but keeps the stream: nothing would be
            # re-sent after the next cut. If the stream can still be resumed, treat it as a cut now (bounded
            # by the refusals); if not, the run goes on without stream management.
            self._refusals += 1
            self.tally.resumption_refused = "failed outside resumption"
            if self._can_resume() and self.client.transport is not None:
                self.client.abort()
            return
        h, unacked, cause = self._refused or (None, [], "failed")
        self._refused = None
        self._refusals += 1
        self.tally.resumption_refused = cause
        detail = f"resumption refused ({cause}): in flight, fate unknown"
        lost = self._pipeline.resumption_refused(h, unacked, detail) if self._pipeline is not None else 0
        self._on_event({"event": "resumption_refused", "cause": cause, "h": h, "lost": lost})
        if self._refusals >= MAX_REFUSED_RESUMPTIONS:
            self.stop(StopKind.CONNECTION_LOST, f"resumption refused {self._refusals} times ({cause})")

    def _on_new_session(self, _event: object) -> None:
        # Only after a cut (the Sender exists once the first session has started): resumption was refused.
        if self._outage_started is None or self._finished or self._stopped.done():
            return
        after = time.monotonic() - self._outage_started
        self._outage_started = None
        resent = self._pipeline.unpause() if self._pipeline is not None else 0
        self.tally.resent += resent
        self._on_event({"event": "new_session", "after_s": round(after, 3), "resent": resent})

    async def run(self, step: Step) -> Exchange:
        if step.kind == "message":
            return await self._message(step)
        return await self._iq(step)

    async def run_all(self, steps: list[Step], report: Callable[[Exchange], None]) -> RunStop | None:
        """Run ``steps`` in order; how the run stopped if the connection dropped or ``stop`` was called."""
        for index, step in enumerate(steps):
            exchange = asyncio.ensure_future(self.run(step))
            await asyncio.wait({exchange, self._stopped}, return_when=asyncio.FIRST_COMPLETED)
            if exchange.done():
                report(exchange.result())
                continue
            exchange.cancel()
            stopped = self._stopped.result()
            report(Exchange(step.name, Status.LOST, stopped.detail))
            self.finish()
            return replace(stopped, unsent=len(steps) - index - 1)
        self.finish()
        return None

    async def burst(self, step: Step, count: int, window: int, report: Callable[[Exchange], None]) -> RunStop | None:
        """Send ``count`` copies of an iq step with at most ``window`` awaiting their reply.

        If the connection drops or ``stop`` is called, requests in flight end
        as lost at once, the rest are not sent, and that stop is returned.
        """
        pipeline = IqPipeline(
            self.client,
            self.to,
            step.tag.xml,
            step.itype,
            self.timeout,
            step.name,
            report,
            step.expect_error,
            on_silence=lambda: self._check_connection(pipeline),
        )
        self._pipeline = pipeline
        running = asyncio.ensure_future(pipeline.run(count, window))
        try:
            await asyncio.wait({running, self._stopped}, return_when=asyncio.FIRST_COMPLETED)
            if running.done():
                running.result()
                return None
            stopped = self._stopped.result()
            unsent = pipeline.abort(stopped.detail)
            await running
            return replace(stopped, unsent=unsent)
        finally:
            self.tally.duplicates += pipeline.duplicates
            self.tally.late += pipeline.late
            self.finish()
            if self._pinging is not None:
                self._pinging.cancel()

    def _check_connection(self, pipeline: IqPipeline) -> None:
        """A whole window timed out without a reply: ping the server to tell a silent peer from a dead stream.

        Without this a stalled connection (socket open, nothing forwarded) would
        swallow one request per expired slot until the burst's end, for hours.
        """
        if self._pinging is not None and not self._pinging.done():
            return

        async def ping() -> None:
            iq = self.client.make_iq_get(ito=self.client.boundjid.domain)
            iq.xml.append(ET.Element(f"{{{PING_NAMESPACE}}}ping"))
            try:
                await iq.send(timeout=max(self.timeout, STALL_PING_TIMEOUT))
            except IqError:
                pass  # any answer, even an error, shows the stream is alive
            except IqTimeout:
                self.stop(
                    StopKind.CONNECTION_LOST,
                    f"connection stalled: no reply to {pipeline.window} requests, nor to a ping of the server",
                )
                return
            pipeline.heard_from_server()

        self._pinging = asyncio.ensure_future(ping())

    async def _iq(self, step: Step) -> Exchange:
        iq = self.client.make_iq(ito=self.to, itype=step.itype)
        iq["example_tag"].setup_from_lxml(step.tag.xml)
        started = time.monotonic()
        try:
            reply = await iq.send(timeout=self.timeout)
        except IqError as error:
            replier = str(error.iq["from"])
            status, detail = iq_reply_verdict("error", False, step.expect_error, error.condition, error.text, replier)
            return Exchange(
                step.name,
                status,
                detail,
                time.monotonic() - started,
                condition=error.condition,
                error_type=error.iq["error"]["type"] or None,
                replier=replier,
            )
        except IqTimeout:
            return Exchange(step.name, Status.LOST, f"no reply within {self.timeout:g}s")
        latency = time.monotonic() - started
        tag = reply.xml.find(EXAMPLE_TAG)
        some_string = None if tag is None else reply["example_tag"]["some_string"]
        status, detail = iq_reply_verdict("result", tag is not None, step.expect_error, some_string=some_string)
        return Exchange(step.name, status, detail, latency, replier=str(reply["from"]), some_string=some_string)

    async def _message(self, step: Step) -> Exchange:
        msg = self.client.make_message(mto=self.to, mbody=step.tag["text"] or step.name, mtype="chat")
        msg["id"] = self.client.new_id()
        msg["example_tag"].setup_from_lxml(step.tag.xml)
        if not step.await_reply:
            msg.send()
            return Exchange(step.name, Status.SENT, "sent, no reply awaited")
        waiting = self._replies.expect(msg["id"], self.to)
        started = time.monotonic()
        msg.send()
        try:
            reply = await asyncio.wait_for(waiting, self.timeout)
        except TimeoutError:
            self._replies.forget(msg["id"])
            return Exchange(step.name, Status.LOST, f"no reply within {self.timeout:g}s")
        except MessageBounced as bounce:
            text = f": {bounce.text}" if bounce.text else ""
            return Exchange(
                step.name,
                Status.FAILED,
                f"bounced {bounce.condition}{text}",
                time.monotonic() - started,
                condition=bounce.condition,
                error_type=bounce.error_type,
                replier=bounce.replier,
            )
        latency = time.monotonic() - started
        replier = str(reply["from"])
        if reply.xml.find(EXAMPLE_TAG) is None:
            return Exchange(
                step.name, Status.FAILED, f"reply from {replier} carries no example_tag", latency, replier=replier
            )
        some_string = reply["example_tag"]["some_string"]
        return Exchange(
            step.name,
            Status.OK,
            f"reply from {replier} (some_string={some_string!r})",
            latency,
            replier=replier,
            some_string=some_string,
        )


@dataclass(frozen=True)
class SendOptions:
    to: JID
    timeout: float = 10.0
    repeat: int | None = None  # a burst of this many copies of the (single) step
    window: int = 1
    subscribe: bool = False  # for a bare `to`: ask for a presence subscription
    check_support: bool = False  # ask the peer's disco#info first
    stream_management: bool = True  # XEP-0198 acks and resumption, when the server offers them


async def send(
    settings: ConnectionSettings,
    options: SendOptions,
    steps: list[Step],
    on_exchange: Callable[[Exchange], None],
    on_resolved: Callable[[JID, JID], None] | None = None,
    on_event: Callable[[dict[str, object]], None] | None = None,
) -> SendResult:
    """The send job: log in, find the peer, run ``steps`` (or a burst of the first), count every exchange.

    A run cut short (connection lost for good, SIGINT or SIGTERM) returns with
    its ``stop`` set; the session is closed politely either way. ``on_event``
    hears of reconnections (``{"event": "resumed", "after_s": 0.4, "resent": 37}``,
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
    with on_stop_signals(interrupt):
        try:
            async with _session(settings, plugins, options.stream_management) as client:
                to = options.to
                # Messages to a bare JID are routed by the server (RFC 6121 §8.5.2); iqs are not.
                if not to.resource and any(step.kind == "iq" for step in steps):
                    to = await resolve_bare_jid(client, to, options.timeout, options.subscribe)
                    if on_resolved is not None:
                        on_resolved(options.to, to)
                elif options.check_support and to.resource:
                    await ensure_supported(client, to, options.timeout)
                sender = Sender(client, to, options.timeout, tally, on_event)
                tally.started = time.monotonic()
                try:
                    if options.repeat:
                        stop = await sender.burst(steps[0], options.repeat, options.window, report)
                    else:
                        stop = await sender.run_all(steps, report)
                finally:
                    tally.finished = time.monotonic()
        except asyncio.CancelledError:
            if not signals:
                raise
            stop = RunStop(StopKind.INTERRUPTED, signals[0], unsent=options.repeat or len(steps))
    if stop is not None:
        tally.unsent = stop.unsent
    return SendResult(tally, stop)


@contextlib.asynccontextmanager
async def _session(
    settings: ConnectionSettings, plugins: tuple[str, ...], stream_management: bool
) -> AsyncIterator[slixmpp.ClientXMPP]:
    """``client.session`` with stream management registered before connecting (when asked for)."""
    client = build_client(settings, plugins)
    if stream_management:
        streammgmt.enable(client)
    await connect(client, settings)
    try:
        yield client
    finally:
        await disconnect(client)


async def resolve_bare_jid(client: slixmpp.ClientXMPP, bare: JID, timeout: float, subscribe: bool = False) -> JID:
    """Find an online resource of ``bare`` that advertises the extension.

    The XMPP way: our initial presence makes the server send us the presence
    of every contact we are subscribed to; each available resource of
    ``bare`` is then asked for its disco#info. Without a subscription no
    presence comes, so that fails at once, unless ``subscribe`` asks for one
    (a lasting roster change, hence opt-in).
    """
    deadline = time.monotonic() + timeout
    available: asyncio.Queue[JID] = asyncio.Queue()

    def on_presence(presence: slixmpp.Presence) -> None:
        if presence["from"].bare == bare.bare and presence["from"].resource:
            available.put_nowait(presence["from"])

    client.add_event_handler("presence_available", on_presence)
    try:
        roster = await client.get_roster(timeout=timeout)
        items = roster["roster"]["items"] if roster is not None else {}
        subscription = items.get(bare, {}).get("subscription", "none")
        if subscription not in ("to", "both"):
            if not subscribe:
                raise ResolveError(
                    f"{bare} is a bare JID and you are not subscribed to its presence, so its online resources "
                    "are not visible: pass a full JID (the responder prints it on its READY line) or add --subscribe"
                )
            client.send_presence_subscription(pto=bare)
        client.send_presence()
        tried: set[JID] = set()
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            candidate = await asyncio.wait_for(available.get(), remaining)
            if candidate in tried:
                continue
            tried.add(candidate)
            try:
                info = await client.plugin["xep_0030"].get_info(jid=candidate, timeout=max(0.1, remaining))
            except (IqError, IqTimeout):
                continue
            if NAMESPACE in info["disco_info"]["features"]:
                return candidate
    except (TimeoutError, IqTimeout):
        raise ResolveError(
            f"no online resource of {bare} advertising {NAMESPACE} was found within {timeout:g}s; "
            "pass a full JID (the responder prints it on its READY line)"
        ) from None
    finally:
        client.del_event_handler("presence_available", on_presence)


async def ensure_supported(client: slixmpp.ClientXMPP, peer: JID, timeout: float) -> None:
    """Raise NotSupported unless ``peer`` announces the extension (DiscoError when it does not answer)."""
    from xmpp_ext.jobs.disco import announces_extension

    if not await announces_extension(client, peer, timeout):
        raise NotSupported(f"{peer} does not announce {NAMESPACE} in its service discovery; nothing was sent")


def custom_tag(
    path: Path | None = None,
    xml: str | None = None,
    boolean: bool | None = None,
    some_string: str | None = None,
    text: str | None = None,
    inner: tuple[tuple[str, dict[str, str]], ...] = (),
    file_tag: ExampleTag | None = None,
) -> ExampleTag:
    """The tag for a single stanza: from a file, a string or the bundled payload, then the given fields on top.

    Fields always change a complete tag: ``--boolean`` alone on an empty tag
    would be a request without some_string, which every peer refuses.
    """
    tag = ExampleTag()
    if file_tag is not None:
        tag = file_tag
    elif path is not None:
        tag.setup_from_file(path)
    elif xml is not None:
        tag.setup_from_string(xml)
    else:
        tag.setup_from_file(bundled_payload())
    if boolean is not None:
        tag.set_boolean(boolean)
    if some_string is not None:
        tag.set_some_string(some_string)
    if text is not None:
        tag.set_text(text)
    for name, attributes in inner:
        tag.add_inside_tag(name, attributes)
    return tag


def check_stanza_sizes(steps: list[Step], to: JID) -> None:
    """ExampleTagError unless every step's stanza, as it will be written, fits what servers accept.

    Measured on the wire (escaping included, with the patches the command
    applies): a 60 KB file of ``'`` is 360 KB once written, and a message
    carries its text twice (body and tag).
    """
    for step in steps:
        stanza = ET.Element(f"{{jabber:client}}{step.kind}", {"type": step.itype, "to": str(to), "id": "x" * 16})
        if step.kind == "message":
            stanza.set("type", "chat")
            body = ET.SubElement(stanza, "{jabber:client}body")
            body.text = step.tag["text"] or step.name
        stanza.append(step.tag.xml)
        check_payload_size(wire_size(stanza, patched=True), f"the {step.name} stanza as written")

"""The send job: the tutorial's scenario, one stanza, or a burst, every reply awaited.

Every request ends as one Exchange (ok, failed or lost) within its timeout,
whatever the peer does: iq replies through slixmpp's futures, message replies
(XEP-0461) and bounces through a table of pending message ids.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path

import slixmpp
from slixmpp import JID
from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.xmlstream import ET

from xmpp_ext.client import ConnectionSettings, session
from xmpp_ext.outcomes import Exchange, Status, Tally, iq_reply_verdict
from xmpp_ext.pipeline import IqPipeline
from xmpp_ext.plugin import EXAMPLE_TAG, NAMESPACE, ExampleTag, check_payload_size
from xmpp_ext.plugin.wire import wire_size
from xmpp_ext.stopsignals import on_stop_signals

log = logging.getLogger(__name__)

SENDER_PLUGINS = ("xep_0030", "example_tag")
REPLY_PLUGIN = "xep_0461"
PING_NAMESPACE = "urn:xmpp:ping"  # XEP-0199: every server answers it
# A ping gets at least this long: behind a server's rate limit it waits its turn like everything we sent.
STALL_PING_TIMEOUT = 10.0  # message replies reference the message they answer (XEP-0461)
TUTORIAL_STRING = (
    f'<example_tag xmlns="{NAMESPACE}" some_string="Another_string">'
    'Info_inside_tag<inside_tag first_field="1" secound_field="2" /></example_tag>'
)


def bundled_payload() -> Path:
    """The tutorial's test_example_tag.xml, shipped inside the package (installed as plain files).

    Found beside this module rather than through importlib.resources: a path is
    what the tag reads, and importing importlib.resources would cost a one-shot
    send more time than its whole TLS handshake.
    """
    return Path(__file__).resolve().parent / "data" / "test_example_tag.xml"


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


def tutorial_scenario(path: Path | None = None) -> list[Step]:
    """The tutorial sender's seven exchanges, in its order.

    All tags are built before anything is sent, so a bad ``path`` is reported
    (ExampleTagError) with nothing on the wire.
    """

    def tag(**values: object) -> ExampleTag:
        built = ExampleTag()
        built.setup_from_dict(values)
        return built

    basic = tag(boolean=True, some_string="Another_string", text="Info_inside_tag")
    inner = tag(some_string="Another_string", text="Info_inside_tag")
    inner.add_inside_tag(tag="inside_tag", attributes={"first_field": "1", "secound_field": "2"})
    message = tag(boolean=True, some_string="Message string", text="Info_inside_tag_message")
    from_file = ExampleTag()
    from_file.setup_from_file(path or bundled_payload())
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
        self.text = msg["error"]["text"]


def _same_entity(expected: JID, actual: JID) -> bool:
    return actual == expected if expected.resource else actual.bare == expected.bare


class Sender:
    """Runs steps against one peer over a connected client."""

    def __init__(self, client: slixmpp.ClientXMPP, to: JID, timeout: float) -> None:
        self.client = client
        self.to = to
        self.timeout = timeout
        self._replies = MessageReplies(client)
        # Set when the run must end early: the stream ended under us (no reply
        # can arrive after that, so waiting out every time-out would only make
        # the failure slow), or the user interrupted it.
        self._stopped: asyncio.Future[RunStop] = client.loop.create_future()
        self._stream_error = ""
        self._pinging: asyncio.Future[None] | None = None
        client.add_event_handler("stream_error", self._on_stream_error)
        client.add_event_handler("disconnected", self._on_disconnected)

    def stop(self, kind: StopKind, reason: str) -> None:
        """End the run early: requests in flight end as lost, the rest are not sent."""
        if not self._stopped.done():
            self._stopped.set_result(RunStop(kind, reason))

    def _on_stream_error(self, error: slixmpp.stanza.StreamError) -> None:
        text = f": {error['text']}" if error["text"] else ""
        self._stream_error = f"stream error {error['condition']}{text}"

    def _on_disconnected(self, reason: object) -> None:
        self.stop(StopKind.CONNECTION_LOST, self._stream_error or str(reason or "connection closed"))

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
            return replace(stopped, unsent=len(steps) - index - 1)
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
            status, detail = iq_reply_verdict(
                "error", False, step.expect_error, error.condition, error.text, str(error.iq["from"])
            )
            return Exchange(step.name, status, detail, time.monotonic() - started)
        except IqTimeout:
            return Exchange(step.name, Status.LOST, f"no reply within {self.timeout:g}s")
        latency = time.monotonic() - started
        tag = reply.xml.find(EXAMPLE_TAG)
        some_string = None if tag is None else reply["example_tag"]["some_string"]
        status, detail = iq_reply_verdict("result", tag is not None, step.expect_error, some_string=some_string)
        return Exchange(step.name, status, detail, latency)

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
            return Exchange(step.name, Status.FAILED, f"bounced {bounce.condition}{text}", time.monotonic() - started)
        latency = time.monotonic() - started
        if reply.xml.find(EXAMPLE_TAG) is None:
            return Exchange(step.name, Status.FAILED, f"reply from {reply['from']} carries no example_tag", latency)
        some_string = reply["example_tag"]["some_string"]
        return Exchange(step.name, Status.OK, f"reply from {reply['from']} (some_string={some_string!r})", latency)


@dataclass(frozen=True)
class SendOptions:
    to: JID
    timeout: float = 10.0
    repeat: int | None = None  # a burst of this many copies of the (single) step
    window: int = 1
    subscribe: bool = False  # for a bare `to`: ask for a presence subscription
    check_support: bool = False  # ask the peer's disco#info first


async def send(
    settings: ConnectionSettings,
    options: SendOptions,
    steps: list[Step],
    on_exchange: Callable[[Exchange], None],
    on_resolved: Callable[[JID, JID], None] | None = None,
) -> SendResult:
    """The send job: log in, find the peer, run ``steps`` (or a burst of the first), count every exchange.

    A run cut short (connection lost, SIGINT or SIGTERM) returns with its
    ``stop`` set; the session is closed politely either way.

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
            async with session(settings, plugins) as client:
                to = options.to
                # Messages to a bare JID are routed by the server (RFC 6121 §8.5.2); iqs are not.
                if not to.resource and any(step.kind == "iq" for step in steps):
                    to = await resolve_bare_jid(client, to, options.timeout, options.subscribe)
                    if on_resolved is not None:
                        on_resolved(options.to, to)
                elif options.check_support and to.resource:
                    await ensure_supported(client, to, options.timeout)
                sender = Sender(client, to, options.timeout)
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
    from xmpp_ext.disco import announces_extension

    if not await announces_extension(client, peer, timeout):
        raise NotSupported(f"{peer} does not announce {NAMESPACE} in its service discovery; nothing was sent")


def custom_tag(
    path: Path | None = None,
    xml: str | None = None,
    boolean: bool | None = None,
    some_string: str | None = None,
    text: str | None = None,
    inner: tuple[tuple[str, dict[str, str]], ...] = (),
) -> ExampleTag:
    """The tag for a single stanza: from a file, a string or the bundled payload, then the given fields on top.

    Fields always change a complete tag: ``--boolean`` alone on an empty tag
    would be a request without some_string, which every peer refuses.
    """
    tag = ExampleTag()
    if path is not None:
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

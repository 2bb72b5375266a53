"""The respond job: answer example_tag requests and messages until told to stop.

* iq get/set carrying the tag: a result carrying the tag, filled like the
  tutorial's responder. Invalid ones the plugin refuses with bad-request;
  they are logged and counted here like every other answer.
* a message carrying the tag: a message back to its sender carrying the tag
  (text = the original body) and a XEP-0461 <reply/> naming the original.
  Messages that are themselves replies, and our own, are never answered, so
  two responders cannot talk to each other forever; nor are headlines, which
  expect no reply (RFC 6121 §5.2.2).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import slixmpp
from slixmpp import JID
from slixmpp.xmlstream import tostring

from xmpp_ext.client import ConnectionSettings, build_client, connect, disconnect
from xmpp_ext.patches import quoteattr
from xmpp_ext.pipeline import IQ_TAG, CoalescingWriter
from xmpp_ext.plugin import NAMESPACE, ExampleTag
from xmpp_ext.stopsignals import on_stop_signals

log = logging.getLogger(__name__)

RESPONDER_PLUGINS = ("xep_0030", "xep_0461", "example_tag")
DEFAULT_RESOURCE = "xmppext"
REPLY_NAMESPACE = "urn:xmpp:reply:0"
EXAMPLE_TAG = f"{{{NAMESPACE}}}example_tag"
MAX_RECONNECT_DELAY = 30.0


@dataclass(frozen=True)
class RespondOptions:
    reply_string: str = "Reply_string"
    allow: frozenset[str] = field(default_factory=frozenset)  # bare JIDs; empty: everyone
    count: int | None = None  # stop after this many answers
    duration: float | None = None  # stop after this many seconds
    ready_fifo: Path | None = None  # also write the READY line here (run-pair reads it)
    delay: float = 0.0  # answer iqs only after this many seconds (a slow peer, for tests)


class Responder:
    """Answers on a connected (or reconnecting) client; ``run`` owns its lifetime."""

    def __init__(
        self, client: slixmpp.ClientXMPP, options: RespondOptions, echo: Callable[[str], None], verbose: bool = True
    ) -> None:
        self.client = client
        self.verbose = verbose
        self.options = options
        self.echo = echo
        self.answered = 0
        self._stop = asyncio.Event()
        self._stopping = False
        self._failed_sessions = 0
        self._had_session = False
        self._reconnecting: asyncio.Future[None] | None = None
        self._waiting = 0  # requests held back by --delay
        self.most_waiting = 0
        client.add_event_handler("session_start", self._on_session_start)
        client.add_event_handler("disconnected", self._on_disconnected)
        # The reply's tag is the same for every request: serialise it once.
        reply_tag = ExampleTag()
        reply_tag.fill_interfaces(True, options.reply_string)
        self._reply_tag = tostring(reply_tag.xml)
        self._result_description = f"answered result (some_string={options.reply_string!r})"
        self._writer = CoalescingWriter(client)
        client.add_filter("in", self._answer_fast)
        client.add_event_handler("example_tag_get_iq", self._refuse)
        client.add_event_handler("example_tag_set_iq", self._refuse)
        client.add_event_handler("example_tag_invalid_iq", self._on_invalid)
        client.add_event_handler("example_tag_message", self._on_message)

    def stop(self) -> None:
        self._stop.set()

    async def run(self, settings: ConnectionSettings) -> None:
        try:
            with on_stop_signals(lambda _signum: self.stop()):
                await connect(self.client, settings)
                if self.options.duration is not None:
                    asyncio.get_running_loop().call_later(self.options.duration, self.stop)
                await self._stop.wait()
        finally:
            self._stopping = True
            await disconnect(self.client)

    # -- session ---------------------------------------------------------------

    def _on_session_start(self, _event: object) -> None:
        self._had_session = True
        self._failed_sessions = 0
        self.client.send_presence()
        ready = f"READY {self.client.boundjid.full}"
        self.echo(ready)
        if self.options.ready_fifo is not None:
            _write_line(self.options.ready_fifo, ready)

    def _on_disconnected(self, reason: object) -> None:
        # Before the first session, connect() reports failures itself (exit 3).
        if self._stopping or not self._had_session:
            return
        delay = min(MAX_RECONNECT_DELAY, 0.5 * 2**self._failed_sessions)
        self._failed_sessions += 1
        self.echo(f"disconnected ({reason or 'connection closed'}); reconnecting in {delay:g}s")
        self._reconnecting = asyncio.ensure_future(self._reconnect(delay))

    async def _reconnect(self, delay: float) -> None:
        try:
            await asyncio.wait_for(self._stop.wait(), delay)
            return  # asked to stop while waiting
        except TimeoutError:
            pass
        host, port = self.client.custom_address or (None, None)
        # slixmpp keeps retrying a refused connection with its own back-off.
        self.client.connect(host, port)

    # -- answering -------------------------------------------------------------

    def _allowed(self, sender: JID) -> bool:
        return not self.options.allow or sender.bare in self.options.allow

    def _answer_fast(self, stanza: slixmpp.stanza.RootStanza) -> slixmpp.stanza.RootStanza | None:
        """Incoming filter: answer a valid, allowed request at once, before the handler scan.

        Everything else goes on to the plugin: an invalid request gets its
        bad-request there, a valid one from a sender not allowed reaches
        ``_refuse`` through the plugin's event.
        """
        xml = stanza.xml
        if xml.tag != IQ_TAG or xml.get("type") not in ("get", "set") or xml.find(EXAMPLE_TAG) is None:
            return stanza
        requester = xml.get("from")
        if not requester or stanza["example_tag"].validation_problem() is not None:
            return stanza
        if self.options.allow and requester.partition("/")[0] not in self.options.allow:
            return stanza
        reply = (
            f"<iq xmlns='jabber:client' type='result' to={quoteattr(requester)} id={quoteattr(xml.get('id', ''))}>"
            f"{self._reply_tag}</iq>"
        )
        if self.options.delay:
            self._waiting += 1
            self.most_waiting = max(self.most_waiting, self._waiting)
            self.client.loop.call_later(self.options.delay, self._answer_late, reply, xml.get("type"), requester)
        else:
            self._writer.write(reply)
            self._answered("iq", xml.get("type"), requester, self._result_description)
        return None

    def _answer_late(self, reply: str, itype: str, requester: str) -> None:
        self._waiting -= 1
        self._writer.write(reply)
        self._answered("iq", itype, requester, self._result_description)

    def _refuse(self, iq: slixmpp.Iq) -> None:
        # Only requests the fast path passed on get here: valid ones from senders not allowed.
        self.client.plugin["example_tag"].refuse(iq, "forbidden", "not allowed to use this responder", etype="auth")
        self._answered("iq", iq["type"], iq["from"], "refused with forbidden (not in --allow)")

    def _on_invalid(self, iq: slixmpp.Iq) -> None:
        # The plugin has already answered with bad-request; this only reports it.
        problem = iq["example_tag"].validation_problem()
        self._answered("iq", iq["type"], iq["from"], f"refused with bad-request ({problem})")

    def _on_message(self, msg: slixmpp.Message) -> None:
        author = msg["from"]
        what = f"message from {author}"  # messages are rare: no need to save this formatting
        if author == self.client.boundjid:
            return
        if msg.xml.find(f"{{{REPLY_NAMESPACE}}}reply") is not None:
            log.info("%s is itself a reply: not answered", what)
            return
        if msg["type"] == "headline":  # RFC 6121 §5.2.2: a notification to which no reply is expected
            if self.verbose:
                self.echo(f"{what}: ignored (a headline expects no reply)")
            return
        if not self._allowed(author):
            if self.verbose:
                self.echo(f"{what}: ignored (not in --allow)")
            return
        if not msg["id"]:
            if self.verbose:
                self.echo(f"{what}: ignored (no id for a XEP-0461 reply to name)")
            return
        mtype = msg["type"] if msg["type"] in ("chat", "normal") else "chat"
        reply = self.client.make_message(mto=author, mbody=self.options.reply_string, mtype=mtype)
        reply["id"] = self.client.new_id()
        reply["example_tag"].fill_interfaces(True, self.options.reply_string, text=msg["body"] or None)
        reply["reply"]["id"] = msg["id"]
        reply["reply"]["to"] = author
        reply.send()
        self._answered("message", "", author, f"answered with a reply to {msg['id']}")

    def _answered(self, kind: str, itype: str, requester: object, how: str) -> None:
        self.answered += 1
        if self.verbose:  # the line is only built when it is shown
            self.echo(f"{kind} {itype + ' ' if itype else ''}from {requester}: {how}")
        if self.options.count is not None and self.answered >= self.options.count:
            self.stop()


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
    settings: ConnectionSettings, options: RespondOptions, echo: Callable[[str], None], verbose: bool = True
) -> int:
    """Run a responder until stopped; returns how many stanzas it answered.

    ``verbose``: print one line per exchange (READY and reconnects are always printed).
    """
    client = build_client(settings, RESPONDER_PLUGINS)
    responder = Responder(client, options, echo, verbose)
    await responder.run(settings)
    if verbose:
        held = f" (at most {responder.most_waiting} waiting at once)" if options.delay else ""
        echo(f"stopped after answering {responder.answered}{held}")
    return responder.answered

"""The responder's answers: one decision for every example_tag request, replies bounded in size.

* iq get/set carrying the tag: one decision (``Responder.decide``) for every
  request — who may ask first (``--allow``: forbidden), then what was asked
  (invalid: bad-request), else a result carrying the tag, filled like the
  tutorial's responder. Every answer becomes one ``Answered`` record.
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

import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

import slixmpp
from slixmpp.xmlstream import tostring

from xmpp_ext.jobs.respond.records import Answered, Ignored, Outcome, Received, Record
from xmpp_ext.plugin import EXAMPLE_TAG, ExampleTag
from xmpp_ext.plugin.payload import request_payload_problem
from xmpp_ext.plugin.streamlimits import SAFE_STANZA_BYTES, watch_stanza_limit
from xmpp_ext.plugin.wire import IQ_TAG, quoteattr, wire_size
from xmpp_ext.session import SessionWriter

log = logging.getLogger(__name__)

RESPONDER_PLUGINS = ("xep_0030", "xep_0461", "example_tag")
#: Requests remembered as answered on the current stream, to answer a duplicate once, not twice.
MAX_REMEMBERED = 10_000
DEFAULT_RESOURCE = "xmppext"
REPLY_NAMESPACE = "urn:xmpp:reply:0"


@dataclass(frozen=True)
class RespondOptions:
    reply_string: str = "Reply_string"
    allow: frozenset[str] = field(default_factory=frozenset)  # bare JIDs; empty: everyone
    count: int | None = None  # stop after this many answers
    duration: float | None = None  # stop after this many seconds
    ready_fifo: Path | None = None  # also write the READY line here (run-pair reads it)
    delay: float = 0.0  # answer iqs only after this many seconds (a slow peer, for tests)
    stream_management: bool = True  # XEP-0198 acks and resumption, when the server offers them
    plugin: str | None = None  # respond --plugin: the registered name of the user's plugin, which answers instead


class Answer(Enum):
    RESULT = "result"
    FORBIDDEN = "forbidden"
    BAD_REQUEST = "bad-request"


class AnswerRules:
    """What every responder keeps around its answers: who may ask, the reply budget, and the count of answers.

    ``on_record`` hears of every answer; ``on_enough`` is called once ``count`` answers were given.
    """

    def __init__(
        self,
        client: slixmpp.ClientXMPP,
        options: RespondOptions,
        on_record: Callable[[Record], None],
        on_enough: Callable[[], None] | None = None,
        show_received: bool = False,
    ) -> None:
        self.client = client
        self.options = options
        self._record = on_record
        self._on_enough = on_enough or (lambda: None)
        self._show_received = show_received
        self.answered = 0
        self.most_waiting = 0  # with --delay: most answers waiting at once
        self.duplicates = 0  # requests delivered again after a resumption, not answered twice
        # What a reply may take on the wire: the server's announced limit, else what every server accepts.
        self.reply_budget = SAFE_STANZA_BYTES
        watch_stanza_limit(client, self._on_stanza_limit)

    def _on_stanza_limit(self, max_bytes: int) -> None:
        self.reply_budget = max_bytes

    def _allowed(self, sender: str) -> bool:
        return not self.options.allow or sender.partition("/")[0] in self.options.allow

    def _answered(self, record: Answered) -> None:
        self.answered += 1
        self._record(record)
        if self.options.count is not None and self.answered >= self.options.count:
            self._on_enough()


class Responder(AnswerRules):
    """Answers example_tag requests arriving on ``client``, writing fast answers through ``writer``; one record per
    answer (see AnswerRules)."""

    def __init__(
        self,
        client: slixmpp.ClientXMPP,
        writer: SessionWriter,
        options: RespondOptions,
        on_record: Callable[[Record], None],
        on_enough: Callable[[], None] | None = None,
        show_received: bool = False,
    ) -> None:
        super().__init__(client, options, on_record, on_enough, show_received)
        self._writer = writer
        self._waiting = 0  # requests held back by --delay
        # (requester, id) of the requests answered on this stream: after a resumption the server may deliver
        # one again (our ack of it was cut off), while our answer, kept by stream management, still arrives.
        self._answered_ids: OrderedDict[tuple[str, str], None] = OrderedDict()
        # The reply's tag is the same for every request: serialise it once.
        reply_tag = ExampleTag()
        reply_tag.fill_interfaces(True, options.reply_string)
        self._reply_tag = tostring(reply_tag.xml)
        self._result_detail = f"some_string={options.reply_string!r}"
        client.add_filter("in", self._answer_request)
        client.add_event_handler("example_tag_message", self._on_message)

    def new_stream(self) -> None:
        """A new session (not a resumption): what was answered on the old stream may have been lost with it."""
        self._answered_ids.clear()

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
        asker = requester or self.client.boundjid.bare
        if self._show_received:
            self._record(Received(itype, asker, xml.find(EXAMPLE_TAG)))
        answer, problem = self.decide(stanza)
        if answer is Answer.RESULT:
            key = (asker, xml.get("id", ""))
            if key in self._answered_ids:
                self.duplicates += 1
                self._record(Answered("iq", itype, asker, Outcome.DUPLICATE, "a request already answered"))
                return None
            self._answered_ids[key] = None
            if len(self._answered_ids) > MAX_REMEMBERED:
                self._answered_ids.popitem(last=False)
            to = f" to={quoteattr(requester)}" if requester else ""
            reply = (
                f"<iq xmlns='jabber:client' type='result'{to} id={quoteattr(xml.get('id', ''))}>{self._reply_tag}</iq>"
            )
            if len(reply.encode()) > self.reply_budget:
                # Only an id or a JID far beyond any sane size gets here; an error would have to echo it too.
                detail = "its id would make the reply too large"
                self._answered(Answered("iq", itype, asker, Outcome.NOT_ANSWERED, detail))
                return None
            if self.options.delay:
                self._waiting += 1
                self.most_waiting = max(self.most_waiting, self._waiting)
                self.client.loop.call_later(self.options.delay, self._answer_late, reply, itype, asker)
            else:
                self._writer.write(reply)
                self._answered(Answered("iq", itype, asker, Outcome.RESULT, self._result_detail))
            return None
        if answer is Answer.FORBIDDEN:
            self.client.plugin["example_tag"].refuse(stanza, "forbidden", problem, etype="auth")
            self._answered(Answered("iq", itype, asker, Outcome.FORBIDDEN, "not in --allow"))
        else:
            self.client.plugin["example_tag"].refuse(stanza, "bad-request", problem, etype="modify")
            self._answered(Answered("iq", itype, asker, Outcome.BAD_REQUEST, problem))
        return None

    def _answer_late(self, reply: str, itype: str, requester: str) -> None:
        self._waiting -= 1
        self._writer.write(reply)
        self._answered(Answered("iq", itype, requester, Outcome.RESULT, self._result_detail))

    def _on_message(self, msg: slixmpp.Message) -> None:
        author = msg["from"]
        if author == self.client.boundjid:
            return
        if msg.xml.find(f"{{{REPLY_NAMESPACE}}}reply") is not None:
            log.info("a message from %s is itself a reply: not answered", author)
            return
        if msg["type"] == "headline":  # RFC 6121 §5.2.2: a notification to which no reply is expected
            self._record(Ignored(str(author), "a headline expects no reply"))
            return
        if not self._allowed(str(author)):
            self._record(Ignored(str(author), "not in --allow"))
            return
        reply = self._message_reply(msg)
        if reply is None:
            self._answered(Answered("message", "", str(author), Outcome.NOT_ANSWERED, "a reply would be too large"))
            return
        reply.send()
        names_it = reply.xml.find(f"{{{REPLY_NAMESPACE}}}reply") is not None
        self._answered(
            Answered(
                "message",
                "",
                str(author),
                Outcome.REPLIED,
                detail=None if msg["id"] else "it has no id to name",
                reply_to=msg["id"] if names_it else None,
            )
        )

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

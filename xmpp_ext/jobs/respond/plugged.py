"""``respond --plugin``: a user's slixmpp plugin answers, the responder keeps the rules around it.

The plugin registers its own handlers and decides every answer. Around it,
as for the example_tag responder:

* who may ask is decided first, before the plugin sees anything: with
  ``--allow``, an iq get/set from anyone else gets ``forbidden`` and a message
  from anyone else is dropped (an incoming filter);
* every answer the plugin sends (an iq result or error to a request it was
  given, a message back to someone who wrote) is counted and recorded, so
  ``--count``, the lines and the summary work the same (an outgoing filter);
* every answer is measured as it will be written: one larger than the server
  accepts (XEP-0478's announced limit, else RFC 6120's 10,000 bytes) is
  replaced by a small error (an iq) or not sent (a message), so no request
  can make the plugin's output cost the responder its stream;
* a handler that raises (anything but slixmpp's XMPPError, which is an answer
  chosen on purpose) on a request it was given: the asker gets
  ``internal-server-error``, with nothing of the exception in it (any account
  may ask), the responder prints one line and one traceback. slixmpp alone
  would answer ``undefined-condition`` "Slixmpp got into trouble." and log the
  traceback twice.

The session's own traffic (service discovery, pings, roster pushes) is
answered by slixmpp for anyone and is not the plugin's: not counted.
"""

from __future__ import annotations

import contextlib
import logging
from collections import OrderedDict
from collections.abc import Callable

import slixmpp
from slixmpp import Iq
from slixmpp.exceptions import IqError, IqTimeout, XMPPError
from slixmpp.xmlstream import StanzaBase

from xmpp_ext.jobs.respond.records import Answered, Ignored, Outcome, Received, Record
from xmpp_ext.jobs.respond.responder import MAX_REMEMBERED, REPLY_NAMESPACE, AnswerRules, RespondOptions
from xmpp_ext.plugin.payload import describe_tag
from xmpp_ext.plugin.wire import IQ_TAG, error_reply, wire_size
from xmpp_ext.util.display import clip

log = logging.getLogger(__name__)
MESSAGE_TAG = "{jabber:client}message"
#: Payloads of the session's own requests, which slixmpp answers whatever the plugin does.
SESSION_NAMESPACES = frozenset(
    {
        "http://jabber.org/protocol/disco#info",
        "http://jabber.org/protocol/disco#items",
        "urn:xmpp:ping",
        "jabber:iq:roster",
    }
)


class PluginResponder(AnswerRules):
    """Lets the plugin registered on ``client`` answer, within the allow-list and the reply budget; one record per
    answer (see AnswerRules)."""

    def __init__(
        self,
        client: slixmpp.ClientXMPP,
        options: RespondOptions,
        on_record: Callable[[Record], None],
        on_enough: Callable[[], None] | None = None,
        show_received: bool = False,
    ) -> None:
        super().__init__(client, options, on_record, on_enough, show_received)
        # Requests handed to the plugin and not yet answered: (requester as addressed, id) -> iq type. Bounded:
        # a plugin that never answers must not make the responder remember every request forever.
        self._requests: OrderedDict[tuple[str, str], str] = OrderedDict()
        # Authors of messages handed to the plugin -> how many of them are not answered yet.
        self._writers: OrderedDict[str, int] = OrderedDict()
        # Requests the plugin has sent an answer to that the outgoing filter has not seen yet (slixmpp runs the
        # filters later, in its send task): a handler that answers and then raises must not answer twice.
        self._answer_queued: OrderedDict[tuple[str, str], None] = OrderedDict()
        client.add_filter("in", self._gate)
        client.add_filter("out", self._count_answer)
        client.send = self._noting_answers(client.send)
        # Every iq this client receives is built as a _PluginRequest, whose exception() (what slixmpp calls when
        # a handler raises) asks this responder first.
        with contextlib.suppress(ValueError):  # another class may have taken Iq's place: ours goes after it
            client.remove_stanza(Iq)
        client.register_stanza(_requests_failing_through(self))

    def new_stream(self) -> None:
        """A new session: requests of the old stream can no longer be answered on this one."""
        self._requests.clear()
        self._writers.clear()
        self._answer_queued.clear()

    # -- incoming: the allow-list, before the plugin -------------------------------------------------------------

    def _gate(self, stanza: StanzaBase) -> StanzaBase | None:
        xml = stanza.xml
        if xml.tag == IQ_TAG and xml.get("type") in ("get", "set"):
            return self._gate_request(stanza)
        if xml.tag == MESSAGE_TAG and xml.get("type") != "error":
            return self._gate_message(stanza)
        return stanza

    def _gate_request(self, iq: StanzaBase) -> StanzaBase | None:
        xml = iq.xml
        payload = xml[0] if len(xml) else None
        if payload is not None and payload.tag[1:].partition("}")[0] in SESSION_NAMESPACES:
            return iq
        itype = xml.get("type")
        requester = xml.get("from") or ""
        asker = requester or self.client.boundjid.bare  # no 'from': our own account (RFC 6120 §8.1.2.1)
        if self._show_received:
            self._record(Received(itype, asker, payload))
        if not self._allowed(asker):
            error_reply(iq, "forbidden", "not allowed to use this responder", etype="auth").send()
            self._answered(Answered("iq", itype, asker, Outcome.FORBIDDEN, "not in --allow"))
            return None
        _remember(self._requests, (requester, xml.get("id", "")), itype)
        return iq

    def _gate_message(self, msg: StanzaBase) -> StanzaBase | None:
        author = msg.xml.get("from") or ""
        if not author or author == self.client.boundjid.full:
            return msg
        if not self._allowed(author):
            self._record(Ignored(author, "not in --allow"))
            return None
        _remember(self._writers, author, self._writers.get(author, 0) + 1)
        return msg

    def plugin_raised(self, iq: Iq, error: Exception) -> bool:
        """A handler raised ``error`` on ``iq``: True once answered here; False leaves it to slixmpp (an error
        raised on purpose, or an iq that is not a request the plugin was given)."""
        xml = iq.xml
        if isinstance(error, (XMPPError, IqError, IqTimeout)) or xml.get("type") not in ("get", "set"):
            return False
        key = (xml.get("from") or "", xml.get("id", ""))
        requester = xml.get("from") or self.client.boundjid.bare
        if key in self._answer_queued:
            # Answered, then raised: the answer stands (one response per request, RFC 6120 §8.2.3), counted
            # when it is written; slixmpp alone would send its error too.
            log.error("the plugin's handler raised after answering an iq from %s", requester, exc_info=error)
            return True
        itype = self._requests.pop(key, None)
        if itype is None:
            return False
        log.error("the plugin's handler raised on an iq %s from %s", itype, requester, exc_info=error)
        error_reply(iq, "internal-server-error", "the responder failed to answer").send()
        what = clip(f"{type(error).__name__}: {error}" if str(error) else type(error).__name__, 200)
        self._answered(Answered("iq", itype, requester, Outcome.PLUGIN_FAILED, f"{what}; internal-server-error sent"))
        return True

    def _noting_answers(self, send: Callable[..., None]) -> Callable[..., None]:
        """``send`` (the client's), noting each answer to a request of the plugin's as it is queued."""

        def send_noting_answers(data, *args, **kwargs) -> None:
            if isinstance(data, StanzaBase):
                xml = data.xml
                if xml.tag == IQ_TAG and xml.get("type") in ("result", "error"):
                    key = (xml.get("to") or "", xml.get("id", ""))
                    if key in self._requests:
                        _remember(self._answer_queued, key, None)
            send(data, *args, **kwargs)

        return send_noting_answers

    # -- outgoing: the plugin's answers, counted and bounded --------------------------------------------------------

    def _count_answer(self, stanza: StanzaBase) -> StanzaBase | None:
        xml = stanza.xml
        if xml.tag == IQ_TAG and xml.get("type") in ("result", "error"):
            key = (xml.get("to") or "", xml.get("id", ""))
            self._answer_queued.pop(key, None)
            itype = self._requests.pop(key, None)
            return stanza if itype is None else self._count_iq_answer(stanza, itype)
        if xml.tag == MESSAGE_TAG and xml.get("type") != "error" and self._writers.get(xml.get("to") or ""):
            return self._count_message_answer(stanza)
        return stanza

    def _count_iq_answer(self, reply: StanzaBase, itype: str) -> StanzaBase:
        xml = reply.xml
        requester = xml.get("to") or self.client.boundjid.bare
        size = wire_size(reply)
        if size > self.reply_budget:
            detail = f"the plugin's answer, {size} bytes, is more than the server accepts: internal-server-error sent"
            self._answered(Answered("iq", itype, requester, Outcome.NOT_ANSWERED, detail))
            smaller = error_reply(reply, "internal-server-error", "the answer was too large to send")
            smaller["to"], smaller["id"] = xml.get("to"), xml.get("id", "")
            return smaller
        if xml.get("type") == "result":
            payload = xml[0] if len(xml) else None
            detail = None if payload is None else f"carrying {describe_tag(payload.tag)}"
            self._answered(Answered("iq", itype, requester, Outcome.RESULT, detail))
        else:
            condition = reply["error"]["condition"] or "undefined-condition"
            text = reply["error"]["text"]
            self._answered(
                Answered("iq", itype, requester, Outcome.ERROR, f"{condition}: {text}" if text else condition)
            )
        return reply

    def _count_message_answer(self, reply: StanzaBase) -> StanzaBase | None:
        author = reply.xml.get("to")
        waiting = self._writers.pop(author)
        if waiting > 1:
            self._writers[author] = waiting - 1
        if wire_size(reply) > self.reply_budget:
            self._answered(Answered("message", "", author, Outcome.NOT_ANSWERED, "a reply would be too large"))
            return None
        names = reply.xml.find(f"{{{REPLY_NAMESPACE}}}reply")
        self._answered(
            Answered("message", "", author, Outcome.REPLIED, reply_to=None if names is None else names.get("id"))
        )
        return reply


def _remember(table: OrderedDict, key, value) -> None:
    table[key] = value
    table.move_to_end(key)
    if len(table) > MAX_REMEMBERED:
        table.popitem(last=False)


def _requests_failing_through(responder: PluginResponder) -> type[Iq]:
    class _PluginRequest(Iq):
        """An iq as the plugin's handlers get it: what a handler raises goes to the responder first."""

        def exception(self, e: Exception) -> None:
            if not responder.plugin_raised(self, e):
                super().exception(e)

    return _PluginRequest

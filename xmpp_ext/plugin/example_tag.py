"""The slixmpp plugin that carries ExampleTag in <iq> and <message>.

Events (one per stanza kind, as in the tutorial):

* ``example_tag_get_iq`` / ``example_tag_set_iq``: a valid request; the
  application answers it (``iq.reply()``, fill the tag, ``send()``).
* ``example_tag_result_iq`` / ``example_tag_error_iq``: a reply carrying the tag.
* ``example_tag_message``: a message carrying the tag;
  ``example_tag_message_error``: a bounced one (``type="error"``).
* ``example_tag_invalid_iq``: a request the plugin has just refused as
  invalid, for logging and counting only (it is already answered).

Invalid requests (a bad tag, or anything but exactly one payload element:
RFC 6120 §8.2.3) never reach the application's request handlers: the plugin
answers them with exactly one ``bad-request`` error. Requests nobody listens for are answered
with ``feature-not-implemented``, so a requester never waits for nothing.
"""

from __future__ import annotations

import logging
from asyncio import Future
from collections.abc import Mapping
from typing import Any

from slixmpp import JID, Iq, Message
from slixmpp.plugins import BasePlugin
from slixmpp.xmlstream import ET, register_stanza_plugin
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import StanzaPath

from xmpp_ext.plugin import stanza
from xmpp_ext.plugin.payload import request_payload_problem
from xmpp_ext.plugin.stanza import NAMESPACE, ExampleTag, InsideTag
from xmpp_ext.plugin.wire import bounded_echo, error_reply

log = logging.getLogger(__name__)

TagSource = ExampleTag | ET.Element | Mapping[str, Any] | str


class ExampleTagPlugin(BasePlugin):
    """Custom stanza extension <example_tag xmlns='https://example.net/our_extension'/>."""

    name = "example_tag"
    description = "example_tag: a custom stanza extension in <iq> and <message>"
    dependencies = {"xep_0030"}
    stanza = stanza
    default_config = {"timeout": 10}

    # (handler name, stanza path, method name): registered in plugin_init,
    # removed again in plugin_end.
    _HANDLERS = (
        ("ExampleTag get", "iq@type=get/example_tag", "_handle_request"),
        ("ExampleTag set", "iq@type=set/example_tag", "_handle_request"),
        ("ExampleTag result", "iq@type=result/example_tag", "_handle_result"),
        ("ExampleTag error", "iq@type=error/example_tag", "_handle_error"),
        ("ExampleTag message", "message/example_tag", "_handle_message"),
    )

    def plugin_init(self) -> None:
        register_stanza_plugin(Iq, ExampleTag)
        register_stanza_plugin(Message, ExampleTag)
        register_stanza_plugin(ExampleTag, InsideTag, iterable=True)
        for handler_name, path, method in self._HANDLERS:
            self.xmpp.register_handler(Callback(handler_name, StanzaPath(path), getattr(self, method)))

    def plugin_end(self) -> None:
        for handler_name, _path, _method in self._HANDLERS:
            self.xmpp.remove_handler(handler_name)
        self.xmpp.plugin["xep_0030"].del_feature(feature=NAMESPACE)

    def session_bind(self, jid: JID) -> None:
        self.xmpp.plugin["xep_0030"].add_feature(NAMESPACE)

    # -- incoming ------------------------------------------------------------

    def _handle_request(self, iq: Iq) -> None:
        problem = request_payload_problem(iq.xml) or iq["example_tag"].validation_problem()
        if problem is not None:
            self.refuse(iq, "bad-request", problem, etype="modify")
            self.xmpp.event("example_tag_invalid_iq", iq)
            return
        event = f"example_tag_{iq['type']}_iq"
        if not self.xmpp.event_handled(event):
            self.refuse(iq, "feature-not-implemented", "this entity does not answer example_tag requests")
            return
        self.xmpp.event(event, iq)

    def refuse(self, iq: Iq, condition: str, text: str, etype: str = "cancel") -> None:
        """Answer a request with exactly one error reply.

        The reply is built from the request's id, from and to only, never by
        copying the request (``iq.reply()`` deep-copies it, and a request
        nested some 500 levels deep makes that raise RecursionError). It
        echoes the request's <example_tag/> with its attributes but without
        its content (RFC 6120 §8.3.1 allows either), and only while the
        whole reply stays within ``wire.ECHO_BUDGET`` bytes as written: the
        requester can tell what was refused, and an error to a large request
        cannot itself be large. ``text`` is cut to ``wire.MAX_ERROR_TEXT``.
        """
        reply = error_reply(iq, condition, text, etype)
        tag = iq.xml.find(f"{{{NAMESPACE}}}{ExampleTag.name}")
        if tag is not None:
            bounded_echo(reply, tag)
        reply.send()

    def _handle_result(self, iq: Iq) -> None:
        self.xmpp.event("example_tag_result_iq", iq)

    def _handle_error(self, iq: Iq) -> None:
        self.xmpp.event("example_tag_error_iq", iq)

    def _handle_message(self, msg: Message) -> None:
        if msg["type"] == "error":
            self.xmpp.event("example_tag_message_error", msg)
        else:
            self.xmpp.event("example_tag_message", msg)

    # -- outgoing API ----------------------------------------------------------

    def make_request(self, jid: JID | str, tag: TagSource, itype: str = "get", ifrom: JID | str | None = None) -> Iq:
        """Build (without sending) an iq get/set carrying a copy of ``tag``."""
        if itype not in ("get", "set"):
            raise ValueError(f"an example_tag request is a get or a set, not {itype!r}")
        iq = self.xmpp.make_iq(ito=jid, itype=itype, ifrom=ifrom)
        fill_tag(iq["example_tag"], tag)
        return iq

    def send_request(
        self, jid: JID | str, tag: TagSource, itype: str = "get", timeout: float | None = None, **iqkwargs: Any
    ) -> Future:
        """Send an iq get/set carrying ``tag``; returns slixmpp's future of the reply.

        The future raises IqError on an error reply and IqTimeout after
        ``timeout`` seconds (default: the plugin's ``timeout`` config).
        """
        iq = self.make_request(jid, tag, itype, ifrom=iqkwargs.pop("ifrom", None))
        return iq.send(timeout=self.timeout if timeout is None else timeout, **iqkwargs)

    async def request(
        self, jid: JID | str, tag: TagSource, itype: str = "get", timeout: float | None = None, **iqkwargs: Any
    ) -> Iq:
        """Send an iq get/set carrying ``tag`` and return the result iq.

        :raises IqError: when the peer or a server answers with an error.
        :raises IqTimeout: when no reply comes within ``timeout`` seconds.
        """
        return await self.send_request(jid, tag, itype, timeout, **iqkwargs)

    def make_tagged_message(
        self, jid: JID | str, tag: TagSource, body: str | None = None, mtype: str | None = None
    ) -> Message:
        """Build (without sending) a message carrying a copy of ``tag``."""
        msg = self.xmpp.make_message(mto=jid, mbody=body, mtype=mtype)
        fill_tag(msg["example_tag"], tag)
        return msg


def fill_tag(target: ExampleTag, source: TagSource) -> None:
    """Copy ``source`` (a tag, element, mapping or XML string) into ``target``."""
    if isinstance(source, ExampleTag):
        target.setup_from_lxml(source.xml)
    elif isinstance(source, str):
        target.setup_from_string(source)
    elif isinstance(source, Mapping):
        target.setup_from_dict(source)
    else:
        target.setup_from_lxml(source)

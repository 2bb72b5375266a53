"""``send --raw``: any extension's payload in an iq or a message, and the peer's reply shown as it came.

The user gives the payload only (the one element inside the stanza, in its
own namespace); the stanza around it is ours: ``id`` (so the reply can be
matched), ``to``, ``type`` and, from the server, ``from``. The payload is read
and checked before anything is sent, like the example_tag steps: bounded in
size as read and as written, in depth, parsed with defusedxml (no DTD, no
entities), every name and text XML can carry. A reply is kept as serialised
XML, clipped; whoever shows it makes it safe for a terminal.
"""

from __future__ import annotations

import asyncio
import copy
import time
from pathlib import Path

import slixmpp
from slixmpp import JID
from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.xmlstream import ET, tostring
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from xmpp_ext.jobs.outcomes import Exchange, Status
from xmpp_ext.jobs.send.steps import STDIN_PATH, Step
from xmpp_ext.plugin import ExampleTagError
from xmpp_ext.plugin.payload import (
    MAX_PAYLOAD_BYTES,
    check_tree,
    describe_tag,
    drop_comments_and_instructions,
    parse_xml,
    read_payload_file,
)
from xmpp_ext.session.guard import DEFAULT_MAX_DEPTH

#: Levels a payload may have: the stanza around it is level 1 of what every xmppext client accepts.
MAX_PAYLOAD_DEPTH = DEFAULT_MAX_DEPTH - 1
#: Characters of a reply kept (a hostile peer may answer with anything up to the server's stanza limit).
MAX_REPLY_CHARS = 16 * 1024
CLIENT_NAMESPACE = "jabber:client"
#: Namespaces a payload cannot be in: they are the stanza's and the stream's own, not an extension's.
STANZA_NAMESPACES = frozenset({CLIENT_NAMESPACE, "jabber:server", "http://etherx.jabber.org/streams"})
_REPLY_HANDLER = "xmppext raw message reply"


def read_raw_payload(path: Path | None, xml: str | None, stdin) -> ET.Element:
    """The payload in the file at ``path`` (``-``: ``stdin``, a binary stream) or in ``xml``, checked.

    :raises ExampleTagError: one line naming the source and the problem.
    """
    if xml is not None:
        source, data = "the payload", xml.encode()
        if len(data) > MAX_PAYLOAD_BYTES:
            raise ExampleTagError(f"{source}: more than {MAX_PAYLOAD_BYTES} bytes, the stanza size servers accept")
    elif path == STDIN_PATH:
        source, data = "standard input", stdin.read(MAX_PAYLOAD_BYTES + 1)
        if len(data) > MAX_PAYLOAD_BYTES:
            raise ExampleTagError(f"{source}: more than {MAX_PAYLOAD_BYTES} bytes, the stanza size servers accept")
    elif path is not None:
        source, data = str(path), read_payload_file(path)
    else:
        raise ExampleTagError("--raw needs the payload: --xml 'XML', --path FILE, or --path - for standard input")
    payload = parse_xml(data, source=source)
    check_raw_payload(payload, source)
    return payload


def check_raw_payload(payload: ET.Element, source: str = "the payload") -> None:
    """ExampleTagError unless ``payload`` is one extension element that can go on the wire as it is."""
    namespace = payload.tag[1:].partition("}")[0] if payload.tag.startswith("{") else ""
    local = payload.tag.rpartition("}")[2]
    if local in ("iq", "message", "presence") and namespace in ("", *STANZA_NAMESPACES):
        raise ExampleTagError(
            f"{source}: give the payload only, the element inside the <{local}>: xmppext writes the stanza "
            "itself, with its own id, to and type (--kind iq|message, --iq-type get|set)"
        )
    if not namespace:
        raise ExampleTagError(
            f"{source}: <{local}> has no namespace; an extension's payload declares its own "
            f"(<{local} xmlns='urn:example:...'>)"
        )
    if namespace in STANZA_NAMESPACES:
        raise ExampleTagError(f"{source}: {describe_tag(payload.tag)} is in a stanza namespace, not an extension's")
    depth = _depth(payload)
    if depth > MAX_PAYLOAD_DEPTH:
        raise ExampleTagError(f"{source}: nested {depth} levels deep, more than the {MAX_PAYLOAD_DEPTH} allowed")
    drop_comments_and_instructions(payload)
    check_tree(payload)


def _depth(element: ET.Element) -> int:
    """How many levels ``element``'s tree has, counted without recursion."""
    deepest, level = 0, [(element, 1)]
    while level:
        node, depth = level.pop()
        deepest = max(deepest, depth)
        level.extend((child, depth + 1) for child in node)
    return deepest


def raw_step(kind: str, payload: ET.Element, itype: str = "get", await_reply: bool = True) -> Step:
    """One exchange carrying ``payload``; named after it (``iq greeting``)."""
    return Step(
        f"{kind} {payload.tag.rpartition('}')[2]}", kind, None, itype=itype, await_reply=await_reply, payload=payload
    )


def payload_namespace(step: Step) -> str | None:
    """The namespace of a raw step's payload (None for an example_tag step)."""
    return None if step.payload is None else step.payload.tag[1:].partition("}")[0]


def shown_reply(stanza: ET.Element) -> str:
    """A reply as serialised XML, clipped to MAX_REPLY_CHARS (made safe for a terminal where it is printed)."""
    text = tostring(stanza)
    return text if len(text) <= MAX_REPLY_CHARS else text[: MAX_REPLY_CHARS - 1] + "…"


class RawExchanges:
    """Sends raw steps to ``to`` over a logged-in client; each exchange bounded by ``timeout``."""

    def __init__(self, client: slixmpp.ClientXMPP, to: JID, timeout: float) -> None:
        self.client = client
        self.to = to
        self.timeout = timeout
        self._waiting: dict[str, asyncio.Future[slixmpp.Message]] = {}
        client.register_handler(
            Callback(_REPLY_HANDLER, MatchXPath(f"{{{CLIENT_NAMESPACE}}}message"), self._on_message)
        )

    async def run(self, step: Step) -> Exchange:
        return await (self.message(step) if step.kind == "message" else self.iq(step))

    async def iq(self, step: Step) -> Exchange:
        iq = self.client.make_iq(ito=self.to, itype=step.itype)
        iq.xml.append(copy.deepcopy(step.payload))
        started = time.monotonic()
        try:
            reply = await iq.send(timeout=self.timeout)
        except IqError as error:
            return _error_exchange(step, error.iq, started, "error")
        except IqTimeout:
            return Exchange(step.name, Status.LOST, f"no reply within {self.timeout:g}s")
        replier = str(reply["from"])
        carried = next(iter(reply.xml), None)
        what = "result" if carried is None else f"result carrying {describe_tag(carried.tag)}"
        return Exchange(
            step.name,
            Status.OK,
            f"{what} from {replier}" if replier else what,
            time.monotonic() - started,
            replier=replier or None,
            reply=shown_reply(reply.xml),
        )

    async def message(self, step: Step) -> Exchange:
        msg = self.client.make_message(mto=self.to, mtype="chat")
        msg["id"] = self.client.new_id()
        msg.xml.append(copy.deepcopy(step.payload))
        if not step.await_reply:
            msg.send()
            return Exchange(step.name, Status.SENT, "sent, no reply awaited")
        waiting = self._waiting[msg["id"]] = asyncio.get_running_loop().create_future()
        started = time.monotonic()
        msg.send()
        try:
            async with asyncio.timeout(self.timeout):  # not wait_for: it can swallow a Ctrl-C (3.11)
                reply = await waiting
        except TimeoutError:
            return Exchange(step.name, Status.LOST, f"no message back within {self.timeout:g}s")
        finally:
            self._waiting.pop(msg["id"], None)
        if reply["type"] == "error":
            return _error_exchange(step, reply, started, "bounced")
        replier = str(reply["from"])
        return Exchange(
            step.name,
            Status.OK,
            f"message back from {replier}",
            time.monotonic() - started,
            replier=replier,
            reply=shown_reply(reply.xml),
        )

    def _on_message(self, msg: slixmpp.Message) -> None:
        """The first message from the peer answers the oldest message awaiting one; a bounce, the one it names."""
        if msg["type"] == "error":
            waiting = self._waiting.get(msg["id"])
        elif _same_entity(self.to, msg["from"]):
            waiting = next((future for future in self._waiting.values() if not future.done()), None)
        else:
            return
        if waiting is not None and not waiting.done():
            waiting.set_result(msg)


def _same_entity(expected: JID, actual: JID) -> bool:
    return actual == expected if expected.resource else actual.bare == expected.bare


def _error_exchange(step: Step, stanza, started: float, how: str) -> Exchange:
    condition = stanza["error"]["condition"] or "undefined-condition"
    text = stanza["error"]["text"]
    replier = str(stanza["from"])
    source = f" from {replier}" if replier else ""
    return Exchange(
        step.name,
        Status.FAILED,
        f"{how} {condition}{source}" + (f": {text}" if text else ""),
        time.monotonic() - started,
        condition=condition,
        error_type=stanza["error"]["type"] or None,
        replier=replier or None,
        reply=shown_reply(stanza.xml),
    )

"""One exchange of a run: an iq and its reply, or a tagged message and its XEP-0461 reply (or bounce).

Every request ends as one Exchange within its timeout, whatever the peer does:
iq replies through slixmpp's futures, message replies and bounces through a
table of pending message ids.
"""

from __future__ import annotations

import asyncio
import time

import slixmpp
from slixmpp import JID
from slixmpp.exceptions import IqError, IqTimeout

from xmpp_ext.jobs.outcomes import Exchange, Status, iq_reply_verdict
from xmpp_ext.jobs.send.steps import Step
from xmpp_ext.plugin import EXAMPLE_TAG

#: The plugin message replies need (XEP-0461); registered only when a step awaits one.
REPLY_PLUGIN = "xep_0461"


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


class Exchanges:
    """Runs single steps against ``to`` over a logged-in client, each bounded by ``timeout``."""

    def __init__(self, client: slixmpp.ClientXMPP, to: JID, timeout: float) -> None:
        self.client = client
        self.to = to
        self.timeout = timeout
        self._replies = MessageReplies(client)

    async def run(self, step: Step) -> Exchange:
        if step.kind == "message":
            return await self.message(step)
        return await self.iq(step)

    async def iq(self, step: Step) -> Exchange:
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

    async def message(self, step: Step) -> Exchange:
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
            async with asyncio.timeout(self.timeout):  # not wait_for: it can swallow a Ctrl-C (3.11)
                reply = await waiting
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

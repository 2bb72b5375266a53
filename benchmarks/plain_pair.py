"""The baseline: a sender and a responder written the ordinary slixmpp way, in one process.

Same server, same payload, same window as the xmppext pair; each request is
``iq.send(timeout=...)`` awaited by one of ``window`` workers, each answer an
``iq.reply()`` with the tag filled in, as slixmpp's documentation shows.
"""

from __future__ import annotations

import asyncio
import time

import slixmpp
from slixmpp import Iq
from slixmpp.xmlstream import ElementBase, register_stanza_plugin
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import StanzaPath

from xmpp_ext.servers import Account, LocalServer
from xmpp_ext.session import disconnect, login


class PlainTag(ElementBase):
    name = "example_tag"
    namespace = "https://example.net/our_extension"
    plugin_attrib = "example_tag"
    interfaces = {"boolean", "some_string"}


register_stanza_plugin(Iq, PlainTag)


async def _client(server: LocalServer, account: Account, resource: str, stream_management: bool) -> slixmpp.ClientXMPP:
    settings = server.settings_for(account, resource)
    client = slixmpp.ClientXMPP(settings.jid, settings.password.reveal())
    client.ca_certs = server.ca_cert
    client.enable_direct_tls = False
    if stream_management:
        client.register_plugin("xep_0198")  # slixmpp's defaults: acks, resumption
    await login(client, settings)
    return client


async def run_plain_pair(
    server: LocalServer,
    sender: Account,
    responder: Account,
    count: int,
    window: int,
    timeout: float = 30,
    stream_management: bool = False,
) -> dict[str, object]:
    """Send ``count`` iqs with ``window`` outstanding; returns rate, lost and latencies (seconds).

    ``stream_management``: both clients enable XEP-0198 as slixmpp does by default, for a comparison with
    xmppext's pair under the same protocol.
    """
    sending = await _client(server, sender, "plain-sender", stream_management)
    answering = await _client(server, responder, "plain-responder", stream_management)

    def answer(iq: Iq) -> None:
        reply = iq.reply()
        reply["example_tag"]["boolean"] = "True"
        reply["example_tag"]["some_string"] = "Reply_string"
        reply.send()

    answering.register_handler(Callback("plain answer", StanzaPath("iq@type=get/example_tag"), answer))
    remaining, lost, latencies = count, 0, []

    async def worker() -> None:
        nonlocal remaining, lost
        while remaining > 0:
            remaining -= 1
            iq = sending.make_iq_get(ito=answering.boundjid)
            iq["example_tag"]["some_string"] = "StringFromFile"
            started = time.monotonic()
            try:
                await iq.send(timeout=timeout)
                latencies.append(time.monotonic() - started)
            except Exception:
                lost += 1

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(window)))
    elapsed = time.monotonic() - started
    await disconnect(sending)
    await disconnect(answering)
    latencies.sort()
    return {
        "per_second": count / elapsed,
        "lost": lost,
        "p50_ms": latencies[len(latencies) // 2] * 1000 if latencies else None,
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000 if latencies else None,
    }

"""Cuts that land anywhere lose nothing: inside a stanza, during <resume/>, right after <resumed/>.

Each test runs a burst through the session layer as ``xmppext send`` does (a
session through a fault proxy, reconnecting within the time-out) against a
responder session as ``xmppext respond`` builds it, cuts the sender's
connection at a chosen point, and requires every request to end ok.

Prosody 0.12 feeds what a resumed session sends to the parser of the cut
connection: a partial stanza left there breaks the resumed stream
(``not-well-formed``, or everything swallowed). The session finds out with an
ack request and starts a new session (``xmpp_ext/session/verify.py``).
"""

from __future__ import annotations

import asyncio

import pytest
from slixmpp.xmlstream import StanzaBase

from tests.integration.helpers import run, settings_for
from xmpp_ext.faultproxy import FaultProxy
from xmpp_ext.jobs.outcomes import Status
from xmpp_ext.jobs.respond import RESPONDER_PLUGINS, Responder, RespondOptions
from xmpp_ext.jobs.send.burst import Burst
from xmpp_ext.jobs.send.steps import Step
from xmpp_ext.plugin import ExampleTag
from xmpp_ext.session import (
    Cut,
    NewSession,
    ReconnectPolicy,
    Resumed,
    Session,
    SessionEvent,
    StreamManagement,
)

pytestmark = pytest.mark.integration

BURST = 60
WINDOW = 8
RESUME_TAG = "{urn:xmpp:sm:3}resume"
RESUMED_TAG = "{urn:xmpp:sm:3}resumed"


class Pair:
    """A responder session (direct) and a sender session through ``proxy``, with a burst between them."""

    def __init__(self, server, make_account, proxy: FaultProxy, delay: float = 0.0) -> None:
        self.answering = Session(
            settings_for(server, make_account(), "responder"),
            RESPONDER_PLUGINS,
            stream_management=StreamManagement(),
            reconnect=ReconnectPolicy(),
        )
        self.received = asyncio.Event()
        self.requests = 0
        self.responder = Responder(
            self.answering.client,
            self.answering.writer,
            RespondOptions(delay=delay),
            self._on_record,
            show_received=True,
        )
        self.asking = Session(
            settings_for(server, make_account(), "sender", port=proxy.port),
            ("xep_0030", "example_tag"),
            stream_management=StreamManagement(),
            reconnect=ReconnectPolicy(give_up_after=30, resumable_only=True),
        )
        self.events: list[SessionEvent] = []
        self.exchanges = []
        self.burst: Burst | None = None

    def _on_record(self, record) -> None:
        if type(record).__name__ == "Received":
            self.requests += 1
            if self.requests >= WINDOW:
                self.received.set()

    def _on_event(self, event: SessionEvent) -> None:
        self.events.append(event)
        if self.burst is not None:
            self.burst.on_session_event(event)

    async def __aenter__(self) -> Pair:
        await self.answering.start()
        await self.asking.start()
        tag = ExampleTag()
        tag.fill_interfaces(True, "burst")
        self.burst = Burst(
            self.asking, self.answering.client.boundjid.full, Step("burst", "iq", tag), 30.0, self.exchanges.append
        )
        self.asking.add_listener(self._on_event)
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.asking.close()
        await self.answering.close()

    async def until_done(self, running: asyncio.Future, timeout: float = 60) -> None:
        """Until the burst ends; fails at once, saying why, if the sender's session is lost first."""
        await asyncio.wait({running, self.asking.lost}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        assert running.done(), f"the burst did not end; sender's events: {self.events}, lost: {self.lost_reason()}"
        running.result()

    def lost_reason(self) -> object:
        return self.asking.lost.result() if self.asking.lost.done() else None

    def assert_nothing_lost(self) -> None:
        assert len(self.exchanges) == BURST
        assert [exchange.status for exchange in self.exchanges] == [Status.OK] * BURST, [
            exchange.detail for exchange in self.exchanges if exchange.status is not Status.OK
        ]
        assert not self.asking.lost.done()


def recovered(pair: Pair) -> tuple[int, int]:
    """(streams resumed, new sessions) of the sender."""
    return (
        sum(isinstance(event, Resumed) for event in pair.events),
        sum(isinstance(event, NewSession) for event in pair.events),
    )


@pytest.mark.parametrize(
    "partial",
    ["<iq xmlns='jabber:client' type='get' id='cut-insi", "<iq xmlns='jabber:client' type='get' id='dangling'>"],
    ids=["inside-a-tag", "after-a-start-tag"],
)
def test_a_cut_inside_a_stanza_loses_nothing(xmpp_server, make_account, partial):
    async def scenario():
        async with (
            FaultProxy((xmpp_server.host, xmpp_server.port)) as proxy,
            Pair(xmpp_server, make_account, proxy, delay=0.3) as pair,
        ):
            running = asyncio.ensure_future(pair.burst.run(BURST, WINDOW))
            await asyncio.wait_for(pair.received.wait(), 10)  # a window in flight, its answers delayed
            before = proxy.counters.bytes_to_server
            pair.asking.client.send_raw(partial)  # the server's parser now holds a partial stanza
            await proxy.wait_until(lambda counters: counters.bytes_to_server > before, timeout=10)
            assert proxy.cut_now() == 1
            await pair.until_done(running)
            pair.assert_nothing_lost()
            resumed, new_sessions = recovered(pair)
            assert resumed + new_sessions >= 1
            if xmpp_server.kind == "prosody":  # its resumed stream is broken: a new session takes over
                assert pair.asking.recoveries.broken_resumptions >= 1 and new_sessions >= 1
            else:
                assert pair.asking.recoveries.broken_resumptions == 0

    run(scenario, timeout=120)


def cut_again_at(xmpp_server, make_account, direction: str, tag: str) -> None:
    """Cut the sender's connection once mid-burst, then once more when ``tag`` passes (``direction``: in/out)."""

    async def scenario():
        async with (
            FaultProxy((xmpp_server.host, xmpp_server.port)) as proxy,
            Pair(xmpp_server, make_account, proxy, delay=0.3) as pair,
        ):
            cuts = []

            def cut_when_it_passes(stanza: StanzaBase) -> StanzaBase:
                if stanza.xml.tag == tag and not cuts:  # once: the next attempt goes through
                    cuts.append(asyncio.get_running_loop().call_soon(proxy.cut_now))
                return stanza

            pair.asking.client.add_filter(direction, cut_when_it_passes)
            running = asyncio.ensure_future(pair.burst.run(BURST, WINDOW))
            await asyncio.wait_for(pair.received.wait(), 10)
            assert proxy.cut_now() == 1
            await pair.until_done(running)
            pair.assert_nothing_lost()
            assert cuts and proxy.counters.cuts == 2
            assert sum(isinstance(event, Cut) for event in pair.events) <= 2

    run(scenario, timeout=120)


def test_a_cut_during_resume_loses_nothing(xmpp_server, make_account):
    cut_again_at(xmpp_server, make_account, "out", RESUME_TAG)


def test_a_cut_right_after_resumed_loses_nothing(xmpp_server, make_account):
    cut_again_at(xmpp_server, make_account, "in", RESUMED_TAG)

"""Stream management (XEP-0198) on the local servers: enabled, resumed after a cut, counters exact.

A client a test cuts off connects through the fault proxy, which cuts its
TCP connection on demand; the client then connects again and resumes its stream.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import pytest
from slixmpp.exceptions import IqError
from slixmpp.xmlstream import tostring

from tests.integration.helpers import run, settings_for
from xmpp_ext.faultproxy import FaultProxy
from xmpp_ext.jobs.report import Status
from xmpp_ext.jobs.respond import RESPONDER_PLUGINS, Responder, RespondOptions
from xmpp_ext.jobs.send.pipeline import IqPipeline
from xmpp_ext.plugin import ExampleTag
from xmpp_ext.session import DEFAULT_PLUGINS, ReconnectPolicy, Session, StreamManagement, connected, streammgmt

pytestmark = pytest.mark.integration

SM = "urn:xmpp:sm:3"
STANZAS = {"{jabber:client}message", "{jabber:client}presence", "{jabber:client}iq"}


class Events:
    """Futures for a client's events, so a test awaits them instead of polling."""

    def __init__(self, client, *names: str) -> None:
        loop = asyncio.get_running_loop()
        self.futures = {name: loop.create_future() for name in names}
        self.counts = dict.fromkeys(names, 0)
        for name in names:
            client.add_event_handler(name, self._handler(name))

    def _handler(self, name: str) -> Callable[[object], None]:
        def handle(event: object) -> None:
            self.counts[name] += 1
            if not self.futures[name].done():
                self.futures[name].set_result(event)

        return handle

    async def next(self, name: str, timeout: float = 15) -> object:
        """The next occurrence of ``name`` (the first one if not yet awaited)."""
        event = await asyncio.wait_for(self.futures[name], timeout)
        self.futures[name] = asyncio.get_running_loop().create_future()
        return event


class WireCount:
    """Stanzas read off the stream since the server's <enabled/>: what the server counts as sent to us.

    Counted in ``incoming_filter``, which sees every top-level element before
    any stanza object or filter exists.
    """

    def __init__(self, client) -> None:
        self.stanzas = 0
        original = client.incoming_filter

        def count(xml):
            if xml.tag == f"{{{SM}}}enabled":
                self.stanzas = 0
            elif xml.tag in STANZAS:
                self.stanzas += 1
            return original(xml)

        client.incoming_filter = count


def sm_session(server, account, resource: str, port: int, plugins=DEFAULT_PLUGINS, reconnect=None) -> Session:
    """A session with stream management on, through ``port``; ``reconnect``: it comes back by itself."""
    settings = settings_for(server, account, resource, port=port)
    return Session(settings, plugins, stream_management=StreamManagement(), reconnect=reconnect)


def responder_on(session: Session) -> Responder:
    return Responder(session.client, session.writer, RespondOptions(), lambda _record: None)


def pipeline_on(session: Session, to: str, burst_tag, timeout: float, report) -> IqPipeline:
    return IqPipeline(session.client, to, burst_tag.xml, "get", timeout, "burst", report, writer=session.writer)


async def cut_and_resume(proxy: FaultProxy, events: Events) -> None:
    """Cut the one connection through ``proxy`` and wait until its client (which reconnects) has resumed."""
    assert proxy.cut_now() == 1
    await events.next("disconnected")
    await events.next("session_resumed")


def test_a_cut_stream_is_resumed_and_what_came_meanwhile_arrives_once(xmpp_server, make_account):
    async def scenario():
        async with FaultProxy((xmpp_server.host, xmpp_server.port)) as proxy:
            session = sm_session(xmpp_server, make_account(), "sm", proxy.port)
            client, settings = session.client, session.settings
            events = Events(client, "sm_enabled", "session_start", "session_resumed", "disconnected", "message")
            bodies: list[str] = []
            client.add_event_handler("message", lambda msg: bodies.append(msg["body"]))
            await session.start()
            await events.next("sm_enabled")
            assert streammgmt.state(client).resumable
            async with connected(settings_for(xmpp_server, make_account(), "peer")) as peer:
                peer.send_message(mto=client.boundjid.full, mbody="before the cut")
                await events.next("message")
                assert proxy.cut_now() == 1
                await events.next("disconnected")
                peer.send_message(mto=client.boundjid.full, mbody="while cut off")
                # A round trip of the peer's: the server has routed its message before we resume.
                await peer.plugin["xep_0030"].get_info(jid=xmpp_server.domain, timeout=10)
                client.connect(*settings.endpoint())
                await events.next("session_resumed")
                await events.next("message")
                # A round trip on the resumed stream: anything re-sent would have arrived before its answer.
                await client.plugin["xep_0030"].get_info(jid=xmpp_server.domain, timeout=10)
            assert bodies == ["before the cut", "while cut off"]
            assert events.counts["session_start"] == 1  # resumed, not a new session
            assert proxy.counters.connections == 2
            await session.close()

    run(scenario)


def test_a_session_is_the_jobs_once_its_stream_can_be_resumed(xmpp_server, make_account):
    """slixmpp starts a session at resource binding, before <enable/>: a cut then could not be resumed, and
    what the job sent then would be neither counted nor kept. ``start`` returns once <enabled/> has come."""

    async def scenario():
        session = sm_session(xmpp_server, make_account(), "sm", xmpp_server.port, reconnect=ReconnectPolicy())
        enabled = Events(session.client, "sm_enabled")
        await session.start()
        state = streammgmt.state(session.client)
        assert enabled.counts["sm_enabled"] == 1 and state.enabled and state.resumable
        await session.close()

    run(scenario)


def test_h_matches_the_stanzas_the_server_sent_through_both_fast_paths(xmpp_server, make_account):
    burst = 300

    async def scenario():
        async with FaultProxy((xmpp_server.host, xmpp_server.port)) as proxy:
            answering_session = sm_session(
                xmpp_server, make_account(), "responder", proxy.port, RESPONDER_PLUGINS, ReconnectPolicy()
            )
            # The sender connects directly: the cut below is the responder's alone.
            asking_session = sm_session(xmpp_server, make_account(), "sender", xmpp_server.port)
            answering, asking = answering_session.client, asking_session.client
            wires = {"responder": WireCount(answering), "sender": WireCount(asking)}
            answering_events = Events(answering, "sm_enabled", "session_resumed", "disconnected")
            asking_events = Events(asking, "sm_enabled")
            responder = responder_on(answering_session)
            try:
                await answering_session.start()
                await answering_events.next("sm_enabled")
                await asking_session.start()
                await asking_events.next("sm_enabled")
                tag = ExampleTag()
                tag.fill_interfaces(True, "burst")
                exchanges = []
                pipeline = pipeline_on(asking_session, answering.boundjid.full, tag, 10.0, exchanges.append)
                await pipeline.run(burst, 16)
                assert [exchange.status for exchange in exchanges] == [Status.OK] * burst
                assert responder.answered == burst  # every request swallowed by the fast path
                for name, client in (("responder", answering), ("sender", asking)):
                    handled = streammgmt.state(client).handled
                    assert handled == wires[name].stanzas, name
                assert streammgmt.state(asking).handled >= burst  # the claimed replies are in it
                assert streammgmt.state(answering).handled >= burst  # and the answered requests
                # The server agrees: resuming with our h, it re-sends nothing (h too low would bring
                # answered requests back, answered twice; too high would fail the resumption).
                await cut_and_resume(proxy, answering_events)  # the responder reconnects by itself
                await answering.plugin["xep_0030"].get_info(jid=xmpp_server.domain, timeout=10)
                assert responder.answered == burst
                assert streammgmt.state(answering).handled == wires["responder"].stanzas
            finally:
                await answering_session.close()
                await asking_session.close()

    run(scenario, timeout=90)


def test_raw_stanzas_tracked_are_the_stanzas_the_server_acknowledges(xmpp_server, make_account):
    count = 40

    async def scenario():
        async with FaultProxy((xmpp_server.host, xmpp_server.port)) as proxy:
            session = sm_session(xmpp_server, make_account(), "raw", proxy.port)
            client = session.client
            events = Events(client, "sm_enabled", "stanza_acked")
            await session.start()
            await events.next("sm_enabled")
            before = streammgmt.state(client)
            for number in range(count):  # pings to the server, written raw as the fast paths write
                ping = f"<iq xmlns='jabber:client' type='get' id='raw{number}'><ping xmlns='urn:xmpp:ping'/></iq>"
                client.send_raw(streammgmt.track_raw(client, ping))
            acked = client.loop.create_future()
            client.add_event_handler(
                "stanza_acked", lambda _s: acked.done() or streammgmt.state(client).unacked or acked.set_result(None)
            )
            streammgmt.request_ack(client)
            await asyncio.wait_for(acked, 10)
            after = streammgmt.state(client)
            assert after.sent == before.sent + count
            assert after.acked == after.sent  # the server's h is our count: nothing missing, nothing extra
            await session.close()

    run(scenario)


async def all_acknowledged(client) -> streammgmt.StreamState:
    """Ask the server for its h until every stanza we sent is acknowledged (bounded by the caller)."""
    acked = client.loop.create_future()

    def check(_stanza: object = None) -> None:
        if not acked.done() and streammgmt.state(client).unacked == 0:
            acked.set_result(None)

    client.add_event_handler("stanza_acked", check)
    try:
        check()
        streammgmt.request_ack(client)
        await asyncio.wait_for(acked, 10)
    finally:
        client.del_event_handler("stanza_acked", check)
    return streammgmt.state(client)


def test_with_raw_writes_tracked_the_server_acks_exactly_what_both_fast_paths_sent(xmpp_server, make_account, caplog):
    burst = 300

    async def scenario():
        answering_session = sm_session(xmpp_server, make_account(), "responder", xmpp_server.port, RESPONDER_PLUGINS)
        asking_session = sm_session(xmpp_server, make_account(), "sender", xmpp_server.port)
        answering, asking = answering_session.client, asking_session.client
        answering_events = Events(answering, "sm_enabled")
        asking_events = Events(asking, "sm_enabled")
        responder_on(answering_session)
        try:
            await answering_session.start()
            await answering_events.next("sm_enabled")
            await asking_session.start()
            await asking_events.next("sm_enabled")
            tag = ExampleTag()
            tag.fill_interfaces(True, "burst")
            exchanges = []
            pipeline = pipeline_on(asking_session, answering.boundjid.full, tag, 10.0, exchanges.append)
            await pipeline.run(burst, 16)
            assert [exchange.status for exchange in exchanges] == [Status.OK] * burst
            for client in (asking, answering):
                state = await all_acknowledged(client)
                assert state.sent >= burst  # the raw requests, or the raw answers, are counted
                assert state.acked == state.sent  # the server's h is exactly our count
        finally:
            await answering_session.close()
            await asking_session.close()

    with caplog.at_level(logging.ERROR, logger="slixmpp.plugins.xep_0198"):
        run(scenario, timeout=90)
    assert not [record for record in caplog.records if "Inconsistent sequence numbers" in record.getMessage()]


def test_resumption_refused_after_a_restart_starts_a_new_session_and_drops_the_unacked(xmpp_server, make_account):
    """What the sender's fallback builds on: <failed/>, then slixmpp binds anew and forgets what was unacked."""
    failures: list[str] = []

    async def scenario():
        async with FaultProxy((xmpp_server.host, xmpp_server.port)) as proxy:
            session = sm_session(xmpp_server, make_account(), "restart", proxy.port)
            client, settings = session.client, session.settings
            events = Events(client, "sm_enabled", "session_start", "sm_failed", "disconnected")
            original = client.incoming_filter

            def keep_failed(xml):
                if xml.tag == f"{{{SM}}}failed":
                    failures.append(tostring(xml))
                return original(xml)

            client.incoming_filter = keep_failed
            await session.start()
            await events.next("sm_enabled")
            first_id = client.plugin["xep_0198"].sm_id
            await events.next("session_start")
            assert proxy.cut_now() == 1
            await events.next("disconnected")
            # Written while cut off: kept for re-sending, since the stream could still be resumed.
            streammgmt.track_raw(client, "<message xmlns='jabber:client' to='nobody@localhost'/>")
            assert streammgmt.state(client).unacked >= 1
            # In this thread, blocking the loop for the restart: the server dies with the thread that
            # started it (xmpp_ext.util.children.die_with_parent), and an executor's thread ends with the loop.
            xmpp_server.restart()
            client.connect(*settings.endpoint())
            await events.next("sm_failed")
            await events.next("session_start")  # a new session: resource bound again
            await events.next("sm_enabled")
            state = streammgmt.state(client)
            assert state.unacked == 0  # slixmpp dropped what was never acknowledged: the caller must know it
            assert state.resumable and client.plugin["xep_0198"].sm_id != first_id
            await session.close()

    run(scenario, timeout=90)
    assert len(failures) == 1 and "item-not-found" in failures[0]


def test_a_burst_cut_on_both_sides_ends_all_ok_with_nothing_twice(xmpp_server, make_account):
    """The whole chain the sender's design relies on: cuts mid-burst, resumptions, every reply once."""
    burst = 2400

    async def scenario():
        async with (
            FaultProxy((xmpp_server.host, xmpp_server.port)) as answering_proxy,
            FaultProxy((xmpp_server.host, xmpp_server.port)) as asking_proxy,
        ):
            # Both sides come back by themselves, as send and respond do.
            answering_session = sm_session(
                xmpp_server, make_account(), "responder", answering_proxy.port, RESPONDER_PLUGINS, ReconnectPolicy()
            )
            asking_session = sm_session(
                xmpp_server, make_account(), "sender", asking_proxy.port, reconnect=ReconnectPolicy(resumable_only=True)
            )
            answering, asking = answering_session.client, asking_session.client
            answering_events = Events(answering, "sm_enabled", "session_start", "session_resumed")
            asking_events = Events(asking, "sm_enabled", "session_start", "session_resumed")
            responder = responder_on(answering_session)
            unclaimed: list[str] = []  # replies the pipeline did not claim: a second copy of one

            def after_the_claims(stanza):
                if stanza.xml.tag == "{jabber:client}iq" and stanza.xml.get("type") == "result":
                    unclaimed.append(stanza.xml.get("id", ""))
                return stanza

            # Cut the sender at 600 and 1800 exchanges, the responder at 1200.
            cuts = {600: asking_proxy, 1200: answering_proxy, 1800: asking_proxy}
            exchanges = []

            def report(exchange) -> None:
                if not exchanges:  # the pipeline's claiming filter is in place: go after it
                    asking.add_filter("in", after_the_claims)
                exchanges.append(exchange)
                if len(exchanges) in cuts:
                    assert cuts[len(exchanges)].cut_now() == 1

            try:
                await answering_session.start()
                await answering_events.next("sm_enabled")
                await asking_session.start()
                await asking_events.next("sm_enabled")
                tag = ExampleTag()
                tag.fill_interfaces(True, "burst")
                burst_pipeline = pipeline_on(asking_session, answering.boundjid.full, tag, 30.0, report)
                await burst_pipeline.run(burst, 16)
                await asking.plugin["xep_0030"].get_info(jid=xmpp_server.domain, timeout=10)
            finally:
                await answering_session.close()
                await asking_session.close()
            assert [exchange.status for exchange in exchanges] == [Status.OK] * burst
            assert responder.answered == burst  # no request reached the responder twice
            assert [iq_id for iq_id in unclaimed if iq_id.startswith(burst_pipeline._id_prefix)] == []  # none twice
            assert (asking_events.counts["session_resumed"], answering_events.counts["session_resumed"]) == (2, 1)
            assert asking_events.counts["session_start"] == answering_events.counts["session_start"] == 1

    run(scenario, timeout=90)


def test_stanzas_dropped_or_refused_count_once_for_h_in_the_programs_order(xmpp_server, make_account):
    """Whatever ends a stanza (depth guard, allow-list, invalid payload, a message not answered), it counts once.

    The responder's session is built as ``xmppext respond`` builds it (XEP-0198 counter, depth guard,
    plugins, the fast path). Its h must equal the stanzas on the wire; the server must then resume the
    stream with that h, re-sending nothing (h too high: Prosody closes the stream, "Client acknowledged
    more stanzas than sent by server"; too low: the server re-sends what was handled).
    """

    async def scenario():
        async with FaultProxy((xmpp_server.host, xmpp_server.port)) as proxy:
            friend = make_account()
            answering_session = Session(
                settings_for(xmpp_server, make_account(), "responder", port=proxy.port),
                RESPONDER_PLUGINS,
                stream_management=StreamManagement(),
                reconnect=ReconnectPolicy(),
            )
            answering = answering_session.client
            wire = WireCount(answering)
            events = Events(answering, "sm_enabled", "session_resumed", "session_start", "disconnected")
            stream_errors: list[object] = []
            answering.add_event_handler("stream_error", stream_errors.append)
            responder = Responder(
                answering,
                answering_session.writer,
                RespondOptions(allow=frozenset({friend.jid})),
                lambda _record: None,
            )
            try:
                await answering_session.start()
                await events.next("sm_enabled")
                to = answering.boundjid.full
                deep = "<n>" * 40 + "</n>" * 40
                tag = f"<example_tag xmlns='https://example.net/our_extension' some_string='s'>{deep}</example_tag>"
                async with connected(settings_for(xmpp_server, make_account(), "stranger")) as stranger:
                    stranger.send_raw(f"<message xmlns='jabber:client' to='{to}'>{tag}</message>")  # guard: dropped
                    stranger.send_raw(f"<iq xmlns='jabber:client' type='get' to='{to}' id='deep'>{tag}</iq>")
                    with pytest.raises(IqError) as forbidden:  # the allow-list refuses it
                        await stranger.plugin["example_tag"].request(to, {"some_string": "s"}, timeout=10)
                    assert forbidden.value.condition == "forbidden"
                async with connected(settings_for(xmpp_server, friend, "friend")) as asking:
                    invalid = asking.make_iq_set(ito=to)
                    invalid.append(asking.plugin["example_tag"].stanza.ExampleTag())  # no some_string: bad-request
                    with pytest.raises(IqError) as refused:
                        await invalid.send(timeout=10)
                    assert refused.value.condition == "bad-request"
                    headline = asking.make_message(mto=to, mtype="headline", mbody="not answered")
                    headline.send()
                    await asking.plugin["example_tag"].request(to, {"some_string": "last"}, timeout=10)
                assert responder.answered >= 3
                assert streammgmt.state(answering).handled == wire.stanzas
                await cut_and_resume(proxy, events)  # the session resumes by itself, with our h
                await answering.plugin["xep_0030"].get_info(jid=xmpp_server.domain, timeout=10)
                assert streammgmt.state(answering).handled == wire.stanzas
                assert events.counts["session_start"] == 1 and stream_errors == []
            finally:
                await answering_session.close()

    run(scenario, timeout=90)

"""A connection lost for good while send is still finding its peer is reported as lost, at once."""

from __future__ import annotations

import asyncio

import pytest
from slixmpp import JID

from tests.integration.helpers import run, settings_for
from xmpp_ext.faultproxy import FaultProxy
from xmpp_ext.jobs.send import SendOptions, StopKind, send, tutorial_scenario
from xmpp_ext.session import Session

pytestmark = pytest.mark.integration


def test_a_connection_lost_while_finding_the_peer_is_the_answer_not_a_missing_resource(xmpp_server, make_account):
    sender, peer = make_account(), make_account()

    async def scenario():
        asked = asyncio.Event()
        # The peer is online but never approves the subscription: send keeps waiting for its presence.
        async with (
            Session(settings_for(xmpp_server, peer, "watching")) as watching,
            FaultProxy((xmpp_server.host, xmpp_server.port)) as proxy,
        ):
            watching.client.auto_authorize = None  # the request stays unanswered
            watching.client.add_event_handler("presence_subscribe", lambda _presence: asked.set())
            watching.client.send_presence()
            await watching.client.get_roster()  # answered after the server has taken the presence in
            options = SendOptions(to=JID(peer.jid), timeout=30, subscribe=True, stream_management=False)
            an_iq = [step for step in tutorial_scenario() if step.kind == "iq"][:1]
            through_proxy = settings_for(xmpp_server, sender, "sender", port=proxy.port)
            job = asyncio.ensure_future(send(through_proxy, options, an_iq, print))
            await asyncio.wait_for(asked.wait(), 10)
            assert proxy.cut_now() == 1
            return await asyncio.wait_for(job, 10)

    result = run(scenario)
    assert result.stop is not None and result.stop.kind is StopKind.CONNECTION_LOST
    assert (result.tally.unsent, result.tally.sent) == (1, 0)

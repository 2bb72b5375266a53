"""The runner's client (xmpp_ext.scenario.clients) offline through SlixTest: it captures, slixmpp answers nothing."""

from __future__ import annotations

import asyncio
from unittest import mock

from slixmpp.test import SlixTest, slixtest

from xmpp_ext.scenario.clients import MAX_UNREAD, ClosedError, ScenarioClient
from xmpp_ext.session import ConnectionSettings
from xmpp_ext.util.secret import Secret


class TestCapture(SlixTest):
    def setUp(self):
        made = []

        def make_client(jid, password, **_options):
            made.append(ScenarioClient(ConnectionSettings(jid, Secret(password))))
            return made[0].client

        with mock.patch.object(slixtest, "ClientXMPP", make_client):
            self.stream_start(jid="romeo@localhost/r", plugins=[])
        self.capture = made[0]
        self.xmpp.event("session_start")

    def tearDown(self):
        self.stream_close()

    def next_stanza(self, timeout=0.2):
        loop = asyncio.get_event_loop()
        return loop.run_until_complete(self.capture.next_stanza(loop.time() + timeout))

    def test_an_unknown_iq_and_a_roster_push_are_captured_and_not_answered(self):
        self.recv('<iq type="get" id="q1" from="juliet@localhost/j"><query xmlns="urn:example:unknown"/></iq>')
        self.recv('<iq type="set" id="push1"><query xmlns="jabber:iq:roster"><item jid="a@b"/></query></iq>')
        self.wait_()
        # slixmpp would answer the first with feature-not-implemented and the second with a result.
        assert self.xmpp.socket.next_sent(timeout=0.1) is None
        first, second = self.next_stanza(), self.next_stanza()
        assert (first.get("id"), second.get("id")) == ("q1", "push1")

    def test_nothing_arriving_ends_the_wait_at_the_deadline(self):
        assert self.next_stanza(timeout=0.05) is None

    def test_a_flood_beyond_the_limit_fails_the_next_read(self):
        flood = "".join(f'<message xmlns="jabber:client" id="m{number}"/>' for number in range(MAX_UNREAD + 1))
        self.recv(flood)  # one read off the socket, as a server's burst would arrive
        with self.assertRaises(ClosedError):
            self.next_stanza()

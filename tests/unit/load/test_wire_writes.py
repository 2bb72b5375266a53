"""What a load session writes (SlixTest: no server): one write per event-loop pass (xmpp_ext.load.coalesce), and
stream management's ack requests answered with the right ``h`` from a filter (xmpp_ext.load.acks)."""

from __future__ import annotations

import pytest
from slixmpp.xmlstream.xmlstream import NotConnectedError

from tests.sessions import SessionTest
from xmpp_ext.load.acks import answer_ack_requests
from xmpp_ext.load.coalesce import coalesce_writes
from xmpp_ext.load.exchange import Responder
from xmpp_ext.session import StreamManagement, streammgmt

SM = "urn:xmpp:sm:3"
PEER = "sender@localhost/load"
TAG = "<example_tag xmlns='https://example.net/our_extension' some_string='s'/>"


class WireTest(SessionTest):
    def tearDown(self):
        self.stream_close()

    def sent(self) -> list[str]:
        """Each write that reached the transport, in order."""
        writes = []
        while (raw := self.xmpp.socket.next_sent(timeout=0.05)) is not None:
            writes.append(raw.decode())
        return writes


class TestCoalescedWrites(WireTest):
    def setUp(self):
        self.start_session()
        self.sent()  # whatever the stream's start wrote
        self.coalesced = coalesce_writes(self.xmpp)

    def test_what_one_pass_writes_leaves_as_one_write_in_order(self):
        self.xmpp.send_raw("<a xmlns='urn:xmpp:sm:3' h='1'/>")
        self.xmpp.send_raw(b"<iq type='result' id='1'/>")
        self.xmpp.send_raw("<iq type='result' id='2'/>")
        assert self.sent() == []  # nothing before the end of the pass
        self.wait_()
        assert self.sent() == ["<a xmlns='urn:xmpp:sm:3' h='1'/><iq type='result' id='1'/><iq type='result' id='2'/>"]
        assert self.coalesced.writes == 1

    def test_the_next_pass_is_another_write(self):
        self.xmpp.send_raw("<r xmlns='urn:xmpp:sm:3'/>")
        self.wait_()
        self.xmpp.send_raw("<r xmlns='urn:xmpp:sm:3'/>")
        self.wait_()
        assert self.sent() == ["<r xmlns='urn:xmpp:sm:3'/>"] * 2

    def test_what_was_kept_for_a_connection_that_is_gone_is_dropped(self):
        old = self.xmpp.transport
        self.xmpp.send_raw("<iq type='get' id='for-the-old-connection'/>")
        self.xmpp.transport = type(old)(self.xmpp)  # cut and replaced within the pass
        self.xmpp.transport.socket = old.socket  # (what the test reads)
        self.xmpp.send_raw("<iq type='get' id='for-the-new-one'/>")
        self.wait_()
        assert self.sent() == ["<iq type='get' id='for-the-new-one'/>"]

    def test_without_a_connection_it_raises_as_slixmpp_does(self):
        transport, self.xmpp.transport = self.xmpp.transport, None
        try:
            with pytest.raises(NotConnectedError):
                self.xmpp.send_raw("<presence/>")
        finally:
            self.xmpp.transport = transport


class TestAckRequests(WireTest):
    def setUp(self):
        session = self.start_session("responder@localhost/load", stream_management=StreamManagement())
        coalesce_writes(self.xmpp)
        answer_ack_requests(self.xmpp)
        self.responder = Responder(session.client, session.writer)
        self.recv(f"<enabled xmlns='{SM}' id='sm-1' resume='true'/>")
        self.wait_()
        assert streammgmt.state(self.xmpp).enabled
        self.sent()

    def request(self, number: int) -> str:
        return f"<iq type='get' from='{PEER}' id='L0-{number}'>{TAG}</iq>"

    def test_an_ack_request_is_answered_with_every_stanza_handled_so_far(self):
        self.recv(f"<message from='{PEER}' id='m'><body>not ours</body></message>")
        self.recv(self.request(1) + f"<r xmlns='{SM}'/>")  # read at once, as Prosody sends them
        writes = self.sent()
        assert len(writes) == 1, writes  # the answer and the <a/>: one write
        assert 'id="L0-1"' in writes[0] and f"<a xmlns='{SM}' h='2'/>" in writes[0]
        assert streammgmt.state(self.xmpp).handled == 2

    def test_each_request_gets_its_own_answer_and_h_keeps_counting(self):
        for number in (1, 2):
            self.recv(self.request(number))
            self.recv(f"<r xmlns='{SM}'/>")
            assert self.sent()[-1] == f"<a xmlns='{SM}' h='{number}'/>"

    def test_slixmpp_does_not_answer_it_a_second_time(self):
        self.recv(f"<r xmlns='{SM}'/>")
        self.wait_()
        self.wait_()
        assert self.sent() == [f"<a xmlns='{SM}' h='0'/>"]

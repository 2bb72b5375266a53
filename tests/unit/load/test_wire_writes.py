"""What a load session writes (SlixTest: no server): one write per event-loop pass (xmpp_ext.load.coalesce), and
stream management's ack requests answered with the right ``h`` from a filter (xmpp_ext.load.acks)."""

from __future__ import annotations

import asyncio

import pytest
from slixmpp.plugins.xep_0198.stream_management import MAX_SEQ
from slixmpp.xmlstream.xmlstream import NotConnectedError

from tests.sessions import SessionTest
from xmpp_ext.load.acks import answer_ack_requests
from xmpp_ext.load.coalesce import ROUNDS, PassBatch, coalesce_writes, pass_batch
from xmpp_ext.load.exchange import Responder
from xmpp_ext.session import StreamManagement, slixmpp_private, streammgmt

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

    def test_a_writer_flushed_through_the_batch_leaves_in_the_same_pass_as_one_write(self):
        batch = pass_batch(self.xmpp.loop)
        self.session.writer.defer_flushes_to(batch.defer)
        self.session.writer.write("<iq type='get' id='1'/>")
        self.xmpp.send_raw("<r xmlns='urn:xmpp:sm:3'/>")
        self.session.writer.write("<iq type='get' id='2'/>")
        assert self.sent() == []
        batch.run()  # what the open-loop schedule does at the end of its tick: written now, not a pass later
        assert self.xmpp.socket.next_sent(timeout=0).decode() == (
            "<r xmlns='urn:xmpp:sm:3'/><iq type='get' id='1'/><iq type='get' id='2'/>"
        )
        self.wait_()
        assert self.sent() == [] and self.coalesced.writes == 1


class TestPassBatch:
    def test_every_deferred_callback_of_a_pass_runs_from_one_loop_callback(self):
        loop = asyncio.new_event_loop()
        try:
            scheduled = []
            original = loop.call_soon
            loop.call_soon = lambda callback, *args, **kw: scheduled.append(callback) or original(callback, *args, **kw)
            batch, ran = PassBatch(loop), []
            batch.defer(lambda: ran.append("a") or batch.defer(lambda: ran.append("a, then")))
            batch.defer(lambda: ran.append("b"))
            loop.call_soon(loop.stop)
            loop.run_forever()  # one pass
            assert ran == ["a", "b", "a, then"]  # what a callback defers runs in the same pass
            assert [callback for callback in scheduled if getattr(callback, "__self__", None) is batch] == [
                batch._run_scheduled
            ]
        finally:
            loop.close()

    def test_a_failing_callback_is_reported_and_the_others_run(self):
        loop = asyncio.new_event_loop()
        try:
            reported, ran = [], []
            loop.set_exception_handler(lambda _loop, context: reported.append(context["exception"]))
            batch = PassBatch(loop)
            batch.defer(lambda: 1 / 0)
            batch.defer(lambda: ran.append("b"))
            batch.run()
            assert ran == ["b"] and isinstance(reported[0], ZeroDivisionError)
        finally:
            loop.close()

    def test_a_callback_deferring_itself_forever_cannot_hold_the_loop(self):
        loop = asyncio.new_event_loop()
        try:
            batch, runs = PassBatch(loop), []

            def again():
                runs.append(1)
                batch.defer(again)

            batch.defer(again)
            batch.run()
            assert len(runs) == ROUNDS  # the rest waits for the next pass
            loop.call_soon(loop.stop)
            loop.run_forever()  # one pass
            assert len(runs) == 2 * ROUNDS
        finally:
            loop.close()


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

    def test_the_request_and_the_ack_request_are_taken_before_slixmpp_makes_stanzas_of_them(self):
        seen = []
        self.xmpp.add_filter("in", lambda stanza: seen.append(stanza.xml.tag) or stanza)
        self.recv(self.request(1) + f"<r xmlns='{SM}'/>")
        self.recv(f"<message from='{PEER}' id='m'><body>not ours</body></message>")
        assert seen == ["{jabber:client}message"]
        assert streammgmt.state(self.xmpp).handled == 2  # the claimed request counted as slixmpp counts it

    def test_claimed_stanzas_count_as_slixmpp_own_counting_filter_counts_them(self):
        """Canary for StreamManagementState.count_in: the same count slixmpp's _handle_incoming keeps."""
        plugin = self.xmpp.plugin["xep_0198"]
        state = slixmpp_private.StreamManagementState(plugin)
        plugin.handled = MAX_SEQ - 1
        plugin._handle_incoming(self.xmpp.Iq())
        slixmpp_counted = plugin.handled
        plugin.handled = MAX_SEQ - 1
        state.count_in(MAX_SEQ)
        assert plugin.handled == slixmpp_counted == 0  # wraps at 2^32 the same way
        plugin.enabled_in = False
        state.count_in(MAX_SEQ)
        plugin._handle_incoming(self.xmpp.Iq())
        assert plugin.handled == 0  # neither counts before stream management is enabled

    def test_slixmpp_does_not_answer_it_a_second_time(self):
        self.recv(f"<r xmlns='{SM}'/>")
        self.wait_()
        self.wait_()
        assert self.sent() == [f"<a xmlns='{SM}' h='0'/>"]

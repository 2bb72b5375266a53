"""Stream management's counters stay exact beside the fast paths (SlixTest: no server).

Inbound: every stanza handled counts once for ``h``, whether a fast path's
incoming filter swallowed it or it went on to the handlers. Outbound: a stanza
written raw is counted, kept for re-sending until acknowledged, and re-sent on
resumption, like a stanza object.
"""

from __future__ import annotations

import asyncio

import pytest

import xmpp_ext.plugin  # noqa: F401  (registers the plugin by name)
from tests.sessions import SessionTest
from xmpp_ext.jobs.respond import RESPONDER_PLUGINS, Responder, RespondOptions
from xmpp_ext.jobs.send.pipeline import IqPipeline
from xmpp_ext.plugin import ExampleTag
from xmpp_ext.session import StreamManagement, streammgmt

SM = "urn:xmpp:sm:3"
PEER = "responder@localhost/xmppext"
TAG = '<example_tag xmlns="https://example.net/our_extension" some_string="x"/>'


def request(number: int) -> str:
    return f'<iq type="get" from="friend@localhost/a" id="q{number}">{TAG}</iq>'


class StreamTest(SessionTest):
    def tearDown(self):
        self.stream_close()

    def enable_sm(self, sm_id="sm-1"):
        """The server's answer to <enable/>: from here on, inbound stanzas count."""
        self.recv(f'<enabled xmlns="{SM}" id="{sm_id}" resume="true"/>')
        self.wait_()
        assert streammgmt.state(self.xmpp).enabled

    def handled(self) -> int:
        return streammgmt.state(self.xmpp).handled

    def acked_h(self) -> int:
        """The h the client acknowledges when the server asks."""
        self.drain()
        self.recv(f'<r xmlns="{SM}"/>')
        self.wait_()
        raw = self.xmpp.socket.next_sent(timeout=1)
        assert raw is not None, "no <a/> in answer to <r/>"
        ack = self.parse_xml(raw.decode())
        assert ack.tag == f"{{{SM}}}a"
        return int(ack.get("h"))

    def drain(self) -> list[str]:
        sent = []
        while (raw := self.xmpp.socket.next_sent(timeout=0.05)) is not None:
            sent.append(raw.decode())
        return sent


class TestResponderCounts(StreamTest):
    def start(self):
        session = self.start_session(jid=PEER, plugins=RESPONDER_PLUGINS, stream_management=StreamManagement())
        Responder(self.xmpp, session.writer, RespondOptions(), lambda _record: None)
        assert streammgmt.counter_is_first(self.xmpp)
        self.enable_sm()

    def test_answered_by_the_fast_path_counts_once(self):
        self.start()
        for number in range(5):
            self.recv(request(number))
        self.wait_()
        answers = "".join(self.drain())
        assert answers.count("type='result'") == 5  # swallowed by the fast path: answered there
        assert self.handled() == 5
        assert self.acked_h() == 5

    def test_stanzas_through_the_handlers_count_once_too(self):
        self.start()
        self.recv(request(1))  # fast path
        self.recv(  # invalid: passed on to the plugin, refused with bad-request there
            '<iq type="set" from="friend@localhost/a" id="bad">'
            '<example_tag xmlns="https://example.net/our_extension"/></iq>'
        )
        self.recv('<presence from="friend@localhost/a"/>')  # no fast path at all
        self.recv('<message from="friend@localhost/a" type="headline"><body>x</body></message>')
        self.wait_()
        assert self.acked_h() == 4

    def test_nonzas_do_not_count(self):
        self.start()
        self.recv(request(1))
        self.recv(f'<a xmlns="{SM}" h="0"/>')
        self.wait_()
        assert self.acked_h() == 1  # the <r/> asking, and the <a/>, are not stanzas either

    def test_counter_placed_after_the_fast_path_would_miss_swallowed_stanzas(self):
        # What the session layer's order prevents: registered after the fast path, the counter never sees
        # its stanzas (the server then re-sends them after a resumption, or Prosody closes the stream).
        session = self.start_session(jid=PEER, plugins=RESPONDER_PLUGINS)
        Responder(self.xmpp, session.writer, RespondOptions(), lambda _record: None)
        self.xmpp.register_plugin("xep_0198")
        assert not streammgmt.counter_is_first(self.xmpp)
        self.enable_sm()
        self.recv(request(1))
        self.wait_()
        assert self.acked_h() == 0


class TestPipelineCounts(StreamTest):
    def setUp(self):
        self.start_session(jid="sender@localhost/s", stream_management=StreamManagement())
        self.enable_sm()
        self.exchanges = []

    def test_claimed_replies_count_once(self):
        tag = ExampleTag()
        tag.setup_from_string(TAG)
        pipeline = IqPipeline(
            self.xmpp, PEER, tag.xml, "get", 5.0, "burst", self.exchanges.append, writer=self.session.writer
        )
        task = asyncio.ensure_future(pipeline.run(3, 3))
        self.wait_()
        ids = [part.split("id='")[1].split("'")[0] for part in "".join(self.drain()).split("</iq>")[:-1]]
        assert len(ids) == 3
        for iq_id in ids:
            self.recv(f'<iq type="result" from="{PEER}" id="{iq_id}"/>')
        self.recv(f'<iq type="result" from="{PEER}" id="not-ours"/>')  # not claimed: through the handlers
        self.wait_()
        assert task.done() and len(self.exchanges) == 3
        assert self.acked_h() == 4


class TestRawStanzas(StreamTest):
    def setUp(self):
        self.start_session(jid="sender@localhost/s", plugins=["xep_0030"], stream_management=StreamManagement(window=3))
        self.plugin = self.xmpp.plugin["xep_0198"]
        self.plugin.enabled_out = True  # as once <enable/> has gone out
        self.plugin.sm_id = "sm-1"

    def write(self, number: int) -> str:
        data = streammgmt.track_raw(self.xmpp, f"<iq type='get' id='r{number}'/>")
        self.xmpp.send_raw(data)
        return data

    def test_counted_kept_and_an_ack_requested_per_window(self):
        written = [self.write(number) for number in range(1, 5)]
        assert [data.endswith("<r xmlns='urn:xmpp:sm:3'/>") for data in written] == [False, False, True, False]
        state = streammgmt.state(self.xmpp)
        assert (state.sent, state.unacked) == (4, 4)
        self.recv(f'<a xmlns="{SM}" h="3"/>')
        self.wait_()
        state = streammgmt.state(self.xmpp)
        assert (state.acked, state.unacked) == (3, 1)

    def test_unacknowledged_raw_stanzas_are_resent_once_on_resumption(self):
        for number in range(1, 5):
            self.write(number)
        self.recv(f'<a xmlns="{SM}" h="2"/>')
        self.wait_()
        self.drain()
        self.recv(f'<resumed xmlns="{SM}" previd="sm-1" h="3"/>')
        self.wait_()
        self.wait_for_send_queue()  # slixmpp re-sends through its send queue, which SlixTest runs only here
        resent = "".join(self.drain())
        assert resent == "<iq type='get' id='r4'/>"
        assert streammgmt.state(self.xmpp).unacked == 1  # still kept until the server acks it

    def test_nothing_changes_without_stream_management(self):
        self.plugin.enabled_out = False
        self.plugin.sm_id = None
        assert self.write(1) == "<iq type='get' id='r1'/>"
        assert streammgmt.state(self.xmpp).sent == 0


def test_a_window_below_one_is_refused():
    with pytest.raises(ValueError, match="at least 1"):
        StreamManagement(window=0)


class TestSessionWriter(StreamTest):
    def setUp(self):
        self.start_session(jid="sender@localhost/s", plugins=["xep_0030"], stream_management=StreamManagement(window=3))
        self.plugin = self.xmpp.plugin["xep_0198"]
        self.plugin.enabled_out = True  # as once <enable/> has gone out
        self.plugin.sm_id = "sm-1"
        self.writer = self.session.writer

    def cut_off(self):
        """As between a lost connection and the next session: slixmpp holds its stanzas back."""
        self.xmpp._always_send_everything = False
        self.xmpp._session_started = False

    def test_one_write_per_loop_pass_each_stanza_counted(self):
        for number in range(1, 5):
            self.writer.write(f"<iq type='get' id='w{number}'/>")
        self.wait_()
        assert self.drain() == [
            "<iq type='get' id='w1'/><iq type='get' id='w2'/><iq type='get' id='w3'/><r xmlns='urn:xmpp:sm:3'/>"
            "<iq type='get' id='w4'/>"
        ]
        assert streammgmt.state(self.xmpp).sent == 4

    def test_held_while_cut_off_and_sent_once_after_what_slixmpp_resends(self):
        self.writer.write("<iq type='get' id='before'/>")
        self.wait_()
        self.drain()
        self.cut_off()
        self.writer.write("<iq type='get' id='during'/>")
        self.wait_()
        assert self.drain() == [] and self.writer.held == 1
        assert streammgmt.state(self.xmpp).sent == 1  # not counted before it is written
        self.recv(f'<resumed xmlns="{SM}" previd="sm-1" h="0"/>')  # the server never got "before"
        self.wait_()
        self.wait_for_send_queue()
        self.wait_()
        assert "".join(self.drain()) == "<iq type='get' id='before'/><iq type='get' id='during'/>"
        state = streammgmt.state(self.xmpp)
        assert (state.sent, state.unacked, self.writer.held) == (2, 2, 0)

    def test_a_new_session_writes_nothing_before_its_stream_management_is_negotiated(self):
        self.cut_off()
        self.writer.write("<iq type='get' id='held'/>")
        self.xmpp._session_started = self.xmpp.sessionstarted = True
        self.xmpp.event("session_start")  # slixmpp: at resource binding, before <enable/> goes out
        self.wait_()
        assert self.drain() == [] and self.writer.held == 1
        self.xmpp.event("stream_negotiated")
        self.wait_()
        assert self.drain() == ["<iq type='get' id='held'/>"] and self.writer.held == 0

    def test_behind_stanzas_slixmpp_has_already_counted(self):
        self.plugin.window = self.plugin.window_counter = 100
        self.xmpp.send_raw(streammgmt.track_raw(self.xmpp, "<iq type='get' id='kept'/>"))
        self.drain()
        self.xmpp.send("<iq type='get' id='kept'/>", use_filters=False)  # as slixmpp re-sends after <resumed/>
        self.writer.write("<iq type='get' id='new'/>")
        self.wait_()
        assert self.drain() == []  # waits for slixmpp's queue
        self.wait_for_send_queue()
        self.wait_()
        assert "".join(self.drain()) == "<iq type='get' id='kept'/><iq type='get' id='new'/>"
        assert [seq for seq, _stanza in self.plugin.unacked_queue] == [1, 2]

    def test_refuses_beyond_its_bound(self):
        self.cut_off()
        self.writer.MAX_HELD = 2
        assert [self.writer.write(f"<iq id='{n}'/>") for n in range(3)] == [True, True, False]
        assert self.writer.dropped == 1

"""A load pair's stanzas on the wire (SlixTest: no server): what the sender sends and claims, what the responder
answers, and what a stalled responder does to latencies measured from when requests were due."""

from __future__ import annotations

import time

import pytest

from tests.sessions import SessionTest
from xmpp_ext.load.exchange import Expiry, Kind, Outcomes, Responder, Sender, payload_tag

NS = "https://example.net/our_extension"
PEER = "peer@localhost/load"


class Recorded(Outcomes):
    def __init__(self) -> None:
        self.ok_latencies: list[float] = []
        self.failures: list[str] = []
        self.lost_count = 0
        self.late_count = 0

    def ok(self, latency: float) -> None:
        self.ok_latencies.append(latency)

    def failed(self, condition: str) -> None:
        self.failures.append(condition)

    def lost(self) -> None:
        self.lost_count += 1

    def late(self) -> None:
        self.late_count += 1


class TestResponder(SessionTest):
    def setUp(self):
        session = self.start_session()
        self.responder = Responder(session.client, session.writer)

    def tearDown(self):
        self.stream_close()

    def test_an_iq_request_gets_a_result_carrying_the_tag(self):
        self.recv(
            f"<iq type='get' from='{PEER}' id='L0-1'><example_tag xmlns='{NS}' boolean='true' some_string='s'/></iq>"
        )
        self.send(
            f"<iq type='result' to='{PEER}' id='L0-1'>"
            f"<example_tag xmlns='{NS}' boolean='True' some_string='Reply_string'/></iq>",
            use_values=False,
        )
        assert self.responder.answered == 1

    def test_an_invalid_request_gets_bad_request(self):
        self.recv(f"<iq type='get' from='{PEER}' id='L0-2'><example_tag xmlns='{NS}' boolean='maybe'/></iq>")
        self.send(
            f"<iq type='error' to='{PEER}' id='L0-2'><error type='modify'>"
            "<bad-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>",
            use_values=False,
        )

    def test_a_tagged_message_gets_a_xep_0461_reply_naming_it(self):
        self.recv(
            f"<message type='chat' from='{PEER}' id='L0-3'><body>load</body>"
            f"<example_tag xmlns='{NS}' some_string='s'/></message>"
        )
        self.wait_()
        sent = self.xmpp.socket.next_sent(timeout=1).decode()
        assert '<reply xmlns=\'urn:xmpp:reply:0\' id="L0-3" to="peer@localhost/load"/>' in sent
        assert f'<example_tag xmlns="{NS}"' in sent

    def test_replies_and_headlines_are_not_answered(self):
        tag = f"<example_tag xmlns='{NS}' some_string='s'/>"
        self.recv(f"<message type='headline' from='{PEER}' id='h'>{tag}</message>")
        self.recv(f"<message type='chat' from='{PEER}' id='r'>{tag}<reply xmlns='urn:xmpp:reply:0' id='x'/></message>")
        self.wait_()
        assert self.xmpp.socket.next_sent(timeout=0.2) is None
        assert self.responder.answered == 0

    def test_a_stalled_responder_answers_after_the_stall(self):
        self.responder.stall(0.3)
        self.recv(f"<iq type='get' from='{PEER}' id='L0-4'><example_tag xmlns='{NS}' some_string='s'/></iq>")
        self.wait_()
        assert self.xmpp.socket.next_sent(timeout=0.1) is None
        self.wait_(0.4)
        assert b'id="L0-4"' in self.xmpp.socket.next_sent(timeout=1)


GREETING = "<greeting xmlns='urn:example:greeting' language='en'/>"


class TestRawResponder(SessionTest):
    """load --raw without a plugin: requests carrying the user's payload get an empty result; nothing else."""

    def setUp(self):
        session = self.start_session()
        self.responder = Responder(
            session.client, session.writer, payload_tag("<greeting xmlns='urn:example:greeting'/>")
        )

    def tearDown(self):
        self.stream_close()

    def test_a_request_carrying_the_payload_gets_an_empty_result(self):
        self.recv(f"<iq type='set' from='{PEER}' id='L0-9'>{GREETING}</iq>")
        self.send(f"<iq type='result' to='{PEER}' id='L0-9'/>", use_values=False)
        assert self.responder.answered == 1

    def test_example_tag_requests_and_messages_are_not_the_raw_responders(self):
        self.recv(f"<message type='chat' from='{PEER}' id='m'><example_tag xmlns='{NS}' some_string='s'/></message>")
        self.recv(f"<iq type='get' from='{PEER}' id='i'><example_tag xmlns='{NS}' some_string='s'/></iq>")
        self.wait_()
        assert self.xmpp.socket.next_sent(timeout=0.2) is None
        assert self.responder.answered == 0


class TestSender(SessionTest):
    def setUp(self):
        session = self.start_session()
        self.outcomes = Recorded()
        self.sender = Sender(session.client, session.writer, PEER, Kind.IQ, self.outcomes, 10)

    def tearDown(self):
        self.stream_close()

    def test_closed_loop_keeps_its_window_and_claims_results(self):
        self.sender.start_closed_loop(window=2, count=3)
        self.wait_()
        first = self.xmpp.socket.next_sent(timeout=1).decode()
        assert first.startswith(f"<iq xmlns='jabber:client' type='get' to=\"{PEER}\" id='La-1'>")
        assert "id='La-2'" in first  # both written in one pass: one write
        assert self.sender.in_flight == 2
        self.recv(f"<iq type='result' from='{PEER}' id='La-1'><example_tag xmlns='{NS}' some_string='r'/></iq>")
        self.wait_()
        assert len(self.outcomes.ok_latencies) == 1 and self.sender.in_flight == 2  # La-3 went out
        self.recv(
            f"<iq type='error' from='{PEER}' id='La-2'><error type='cancel'>"
            "<service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
        )
        self.recv(f"<iq type='result' from='{PEER}' id='La-3'/>")
        self.wait_()
        assert self.outcomes.failures == ["service-unavailable", "result-without-example_tag"]
        assert self.sender.finished

    def test_without_stream_management_a_reply_is_claimed_before_slixmpp_makes_a_stanza_of_it(self):
        seen = []
        self.xmpp.add_filter("in", lambda stanza: seen.append(stanza["id"]) or stanza)  # before the sender's
        sender = Sender(self.xmpp, self.session.writer, PEER, Kind.IQ, self.outcomes, 11)
        sender.start_closed_loop(window=1, count=1)
        self.recv(f"<iq type='result' from='{PEER}' id='Lb-1'><example_tag xmlns='{NS}' some_string='r'/></iq>")
        self.recv(f"<message from='{PEER}' id='not-ours'><body>hello</body></message>")
        self.wait_()
        assert len(self.outcomes.ok_latencies) == 1
        assert seen == ["not-ours"]  # what is not ours goes on as before

    def test_a_raw_payload_goes_in_each_request_and_any_result_ends_it_ok(self):
        sender = Sender(self.xmpp, self.session.writer, PEER, Kind.IQ, self.outcomes, 12, payload=GREETING)
        sender.start_closed_loop(window=1, count=2)
        self.wait_()
        sent = self.xmpp.socket.next_sent(timeout=1).decode()
        assert sent == f"<iq xmlns='jabber:client' type='get' to=\"{PEER}\" id='Lc-1'>{GREETING}</iq>"
        self.recv(f"<iq type='result' from='{PEER}' id='Lc-1'/>")
        self.wait_()
        self.recv(
            f"<iq type='error' from='{PEER}' id='Lc-2'><error type='cancel'>"
            "<item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
        )
        self.wait_()
        assert len(self.outcomes.ok_latencies) == 1 and self.outcomes.failures == ["item-not-found"]

    def test_a_reply_from_someone_else_is_not_claimed(self):
        self.sender.start_closed_loop(window=1, count=1)
        self.recv(f"<iq type='result' from='intruder@localhost/x' id='La-1'><example_tag xmlns='{NS}'/></iq>")
        self.wait_()
        assert self.outcomes.ok_latencies == [] and self.sender.in_flight == 1

    def test_open_loop_measures_from_when_a_request_was_due(self):
        due = time.monotonic() - 0.5  # due half a second ago: the generator was late, or the window full
        self.sender.issue(due)
        self.recv(f"<iq type='result' from='{PEER}' id='La-1'><example_tag xmlns='{NS}' some_string='r'/></iq>")
        self.wait_()
        assert self.outcomes.ok_latencies and self.outcomes.ok_latencies[0] >= 0.5

    def test_requests_past_their_time_out_are_lost_once(self):
        self.sender.issue(time.monotonic() - 20)
        self.sender.issue(time.monotonic())
        self.sender.expire(time.monotonic() - 10)
        assert self.outcomes.lost_count == 1 and self.sender.in_flight == 1
        self.recv(f"<iq type='result' from='{PEER}' id='La-1'><example_tag xmlns='{NS}'/></iq>")
        self.wait_()
        assert self.outcomes.late_count == 1  # its reply came after all: late, not ok

    def test_the_worker_expiry_visits_only_senders_of_requests_come_due(self):
        expiry = Expiry()
        sender = Sender(self.xmpp, self.session.writer, PEER, Kind.IQ, self.outcomes, 12, expiry)
        idle = Sender(self.xmpp, self.session.writer, PEER, Kind.IQ, Recorded(), 13, expiry)
        idle.expire = lambda deadline: pytest.fail("a sender with nothing sent was visited")
        sender.issue(time.monotonic() - 20)
        sender.issue(time.monotonic())
        assert len(expiry) == 2
        expiry.expire(time.monotonic() - 10)
        assert self.outcomes.lost_count == 1 and sender.in_flight == 1 and len(expiry) == 1
        expiry.expire(time.monotonic() - 10)  # nothing more come due: nothing counted twice
        assert self.outcomes.lost_count == 1

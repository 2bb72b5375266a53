"""The session layer offline: the one reconnection policy, what a refused resumption re-sends, slixmpp's internals."""

from __future__ import annotations

import time

import pytest
from slixmpp import ClientXMPP
from slixmpp.stanza import StreamError

import xmpp_ext.plugin  # noqa: F401  (registers the plugin by name)
from tests.sessions import SessionTest
from xmpp_ext.session import (
    ConnectionSettings,
    Lost,
    NewSession,
    ReconnectPolicy,
    Refusal,
    Session,
    StreamManagement,
    slixmpp_private,
    streammgmt,
)
from xmpp_ext.session.login import describe_stream_error
from xmpp_ext.session.reconnect import is_final
from xmpp_ext.util.secret import Secret


def test_one_back_off_at_once_then_doubling_to_the_cap():
    delays = ReconnectPolicy(first_delay=0.25, max_delay=2.0).delays()
    assert [next(delays) for _ in range(7)] == [0.0, 0.25, 0.5, 1.0, 2.0, 2.0, 2.0]


@pytest.mark.parametrize(
    ("condition", "final"),
    [
        ("conflict", True),
        ("policy-violation", True),
        ("not-authorized", True),
        ("system-shutdown", False),
        ("undefined-condition", False),
        ("not-well-formed", False),
    ],
)
def test_which_stream_errors_end_a_session(condition, final):
    assert is_final(condition) is final


def test_a_refusal_proves_what_never_arrived_across_the_wrap_of_seq():
    refusal = Refusal("item-not-found", 2**32 - 1, [(2**32 - 2, "a"), (2**32 - 1, "b"), (0, "c"), (1, "d")])
    assert refusal.never_arrived() == ["c", "d"]
    assert refusal.to_send_again() == ["c", "d"]
    unknown = Refusal("item-not-found", None, [(1, "a"), (2, "b")])
    assert unknown.never_arrived() == [] and unknown.to_send_again() == ["a", "b"]


def test_every_private_attribute_used_is_still_there():
    session = Session(ConnectionSettings("me@localhost", Secret("x")), stream_management=StreamManagement())
    assert slixmpp_private.missing(session.client) == []
    assert streammgmt.counter_is_first(session.client)


def test_missing_attributes_are_named():
    client = ClientXMPP("me@localhost", "x")
    del client.waiting_queue  # as a slixmpp without it would be
    assert slixmpp_private.missing(client) == ["ClientXMPP.waiting_queue"]


class TestSessionEvents(SessionTest):
    def setUp(self):
        self.events = []
        self.start_session(
            jid="sender@localhost/s",
            stream_management=StreamManagement(window=100),
            reconnect=ReconnectPolicy(give_up_after=5, resumable_only=True),
            on_event=self.events.append,
        )
        self.session._started = True  # as after a login
        self.sm = self.xmpp.plugin["xep_0198"]
        self.sm.enabled_out, self.sm.sm_id = True, "sm-1"

    def tearDown(self):
        self.stream_close()

    def drain(self):
        sent = []
        while (raw := self.xmpp.socket.next_sent(timeout=0.05)) is not None:
            sent.append(raw.decode())
        return "".join(sent)

    def test_a_new_session_after_a_refusal_resends_exactly_what_never_arrived(self):
        for number in range(1, 4):
            self.session.writer.write(f"<iq type='get' id='r{number}'/>")
        self.wait_()
        assert self.drain() == "<iq type='get' id='r1'/><iq type='get' id='r2'/><iq type='get' id='r3'/>"
        # A cut, then <failed h="1"/>: r1 reached the server, r2 and r3 never did.
        self.session._outage_started = time.monotonic()
        self.session._refusal = Refusal("item-not-found", 1, streammgmt.unacked(self.xmpp))
        self.xmpp.sessionstarted = True
        self.xmpp.event("session_start")  # at resource binding: stream management not negotiated yet
        self.wait_()
        assert self.drain() == "" and self.events == []
        self.xmpp.event("stream_negotiated")  # every feature done: <enabled/> came
        self.wait_()
        assert self.drain() == "<iq type='get' id='r2'/><iq type='get' id='r3'/>"
        (event,) = self.events
        assert isinstance(event, NewSession) and event.resent == 2 and event.refusal.h == 1
        assert (self.session.recoveries.new_sessions, self.session.recoveries.resent) == (1, 2)

    def test_a_final_stream_error_loses_the_session_without_reconnecting(self):
        self.recv(
            '<stream:error><conflict xmlns="urn:ietf:params:xml:ns:xmpp-streams"/>'
            '<text xmlns="urn:ietf:params:xml:ns:xmpp-streams">Replaced by new connection</text></stream:error>'
        )
        self.xmpp.event("disconnected", "closed")
        self.wait_()
        (event,) = self.events
        assert event == Lost("stream error conflict: Replaced by new connection", "conflict")
        assert self.session.lost.done() and not self.session.reconnecting

    def test_a_stream_errors_text_reaches_the_line_without_terminal_control_characters(self):
        self.recv(
            '<stream:error><conflict xmlns="urn:ietf:params:xml:ns:xmpp-streams"/>'
            '<text xmlns="urn:ietf:params:xml:ns:xmpp-streams">bye\u202e\n</text></stream:error>'
        )
        self.xmpp.event("disconnected", "closed")
        self.wait_()
        (event,) = self.events
        assert event.reason == "stream error conflict: bye\\u202e\\x0a"

    def test_a_cut_with_nothing_to_resume_is_the_end_when_only_resuming_helps(self):
        self.sm.sm_id = None
        self.xmpp.event("disconnected", "connection reset")
        self.wait_()
        assert self.events == [Lost("connection reset")]


def test_a_login_refused_by_a_stream_error_names_it_in_one_printable_line():
    error = StreamError()
    error["condition"] = "policy-violation"
    error["text"] = "slow down\u202e\nnow"
    assert describe_stream_error(error) == "stream error policy-violation: slow down\\u202e\\x0anow"

"""The burst pipeline and the responder's fast path, offline through SlixTest.

Both bypass slixmpp's per-stanza machinery for speed; these tests pin down
that what they put on the wire and how they end each request is exactly
what the ordinary path would do.
"""

from __future__ import annotations

import asyncio

from slixmpp.test import SlixTest

import xmpp_ext.plugin  # noqa: F401
from tests.sessions import SessionTest, start_responder
from xmpp_ext.jobs.outcomes import Status, Tally
from xmpp_ext.jobs.respond import RespondOptions
from xmpp_ext.jobs.send.pipeline import IqPipeline
from xmpp_ext.plugin import ExampleTag
from xmpp_ext.session import SessionWriter

PEER = "responder@localhost/xmppext"
TAG = '<example_tag xmlns="https://example.net/our_extension" some_string="x" />'


class TestPipeline(SlixTest):
    def setUp(self):
        self.stream_start(jid="sender@localhost/s", plugins=["xep_0030", "example_tag"])
        self.exchanges = []

    def tearDown(self):
        self.stream_close()

    def start(self, count, window, timeout=5.0, expect_error=None):
        tag = ExampleTag()
        tag.setup_from_string(TAG)
        pipeline = IqPipeline(
            self.xmpp,
            PEER,
            tag.xml,
            "get",
            timeout,
            "burst",
            self.exchanges.append,
            expect_error,
            writer=SessionWriter(self.xmpp),
        )
        task = asyncio.ensure_future(pipeline.run(count, window))
        self.wait_()
        return task

    def sent_ids(self):
        ids = []
        while (raw := self.xmpp.socket.next_sent(timeout=0.05)) is not None:
            for part in raw.decode().split("</iq>")[:-1]:
                xml = self.parse_xml(part + "</iq>")
                assert xml.get("to") == PEER and xml.get("type") == "get"
                assert xml.find("{https://example.net/our_extension}example_tag").get("some_string") == "x"
                ids.append(xml.get("id"))
        return ids

    def test_window_is_respected_and_every_request_ends_once(self):
        task = self.start(count=5, window=2)
        first = self.sent_ids()
        assert len(first) == 2  # never more than the window in flight
        self.recv(f'<iq type="result" from="{PEER}" id="{first[0]}">{TAG}</iq>')
        self.wait_()
        third = self.sent_ids()
        assert len(third) == 1
        for iq_id in [first[1], *third]:
            self.recv(f'<iq type="result" from="{PEER}" id="{iq_id}">{TAG}</iq>')
        self.wait_()
        rest = self.sent_ids()
        for iq_id in rest:
            self.recv(
                f'<iq type="error" from="{PEER}" id="{iq_id}"><error type="cancel">'
                '<service-unavailable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/>'
                '<text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas">gone</text></error></iq>'
            )
        self.wait_()
        assert task.done()
        assert [exchange.status for exchange in self.exchanges] == [Status.OK] * 3 + [Status.FAILED] * 2
        assert self.exchanges[-1].detail == f"error service-unavailable from {PEER}: gone (is the peer online?)"
        tally = Tally()
        for exchange in self.exchanges:
            tally.add(exchange)
        assert tally.sent == 5 == tally.ok + tally.failed + tally.lost

    def test_replies_from_someone_else_are_not_claimed(self):
        task = self.start(count=1, window=1, timeout=0.2)
        (iq_id,) = self.sent_ids()
        self.recv(f'<iq type="result" from="intruder@localhost/x" id="{iq_id}"/>')
        self.wait_()
        assert not task.done() and self.exchanges == []
        self.run_coro(asyncio.wait_for(task, 2))
        assert [exchange.status for exchange in self.exchanges] == [Status.LOST]
        assert self.exchanges[0].detail == "no reply within 0.2s"

    def test_result_without_the_tag_is_failed(self):
        task = self.start(count=1, window=1)
        (iq_id,) = self.sent_ids()
        self.recv(f'<iq type="result" from="{PEER}" id="{iq_id}"/>')
        self.wait_()
        assert task.done()
        assert [(e.status, e.detail) for e in self.exchanges] == [(Status.FAILED, "result carries no example_tag")]

    def test_json_exchanges_carry_the_replys_fields_beside_the_prose(self):
        task = self.start(count=2, window=2)
        first, second = self.sent_ids()
        self.recv(f'<iq type="result" from="{PEER}" id="{first}">{TAG}</iq>')
        self.recv(
            f'<iq type="error" from="{PEER}" id="{second}"><error type="modify">'
            '<bad-request xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>'
        )
        self.wait_()
        assert task.done()
        result, error = (exchange.as_dict() for exchange in self.exchanges)
        assert result["some_string"] == "x" and "condition" not in result
        assert (error["condition"], error["error_type"], error["from"]) == ("bad-request", "modify", PEER)
        assert error["detail"] == f"error bad-request from {PEER}"

    def test_expected_error_counts_as_ok(self):
        task = self.start(count=1, window=1, expect_error="bad-request")
        (iq_id,) = self.sent_ids()
        self.recv(
            f'<iq type="error" from="{PEER}" id="{iq_id}"><error type="modify">'
            '<bad-request xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>'
        )
        self.wait_()
        assert task.done() and self.exchanges[0].status is Status.OK


class TestResponderFastPath(SessionTest):
    def setUp(self):
        start_responder(self, RespondOptions(allow=frozenset({"friend@localhost"})))

    def tearDown(self):
        self.stream_close()

    def test_valid_request_gets_the_tutorial_result(self):
        self.recv(f'<iq type="get" from="friend@localhost/a" id="q&amp;1">{TAG}</iq>')
        self.wait_()
        self.send(
            '<iq type="result" to="friend@localhost/a" id="q&amp;1">'
            '<example_tag xmlns="https://example.net/our_extension" boolean="True" some_string="Reply_string"/></iq>'
        )
        self.send(None)
        assert self.lines == ["iq get from friend@localhost/a: answered result (some_string='Reply_string')"]

    def test_invalid_request_is_refused_by_the_plugin_and_reported(self):
        self.recv(
            '<iq type="set" from="friend@localhost/a" id="2">'
            '<example_tag xmlns="https://example.net/our_extension"/></iq>'
        )
        self.send(
            '<iq type="error" to="friend@localhost/a" id="2">'
            '<example_tag xmlns="https://example.net/our_extension"/>'
            '<error type="modify"><bad-request xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/>'
            '<text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas">example_tag needs a some_string attribute</text>'
            "</error></iq>",
            use_values=False,
        )
        self.send(None)
        assert self.lines == [
            "iq set from friend@localhost/a: refused with bad-request (example_tag needs a some_string attribute)"
        ]

    def test_sender_not_allowed_gets_forbidden(self):
        self.recv(f'<iq type="get" from="stranger@localhost/a" id="3">{TAG}</iq>')
        self.send(
            '<iq type="error" to="stranger@localhost/a" id="3">'
            '<example_tag xmlns="https://example.net/our_extension" some_string="x"/>'
            '<error type="auth"><forbidden xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/>'
            '<text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas">not allowed to use this responder</text>'
            "</error></iq>",
            use_values=False,
        )
        assert self.lines == ["iq get from stranger@localhost/a: refused with forbidden (not in --allow)"]

    def test_invalid_request_from_a_sender_not_allowed_gets_forbidden_first(self):
        self.recv(
            '<iq type="get" from="stranger@localhost/a" id="4"><example_tag xmlns="https://example.net/our_extension"/></iq>'
        )
        self.wait_()
        assert self.lines == ["iq get from stranger@localhost/a: refused with forbidden (not in --allow)"]

    def test_two_payloads_are_a_bad_request(self):
        self.recv(f'<iq type="get" from="friend@localhost/a" id="5">{TAG}{TAG}</iq>')
        self.wait_()
        assert self.lines == [
            "iq get from friend@localhost/a: refused with bad-request "
            "(an iq get/set carries exactly one payload element (RFC 6120 §8.2.3), not 2 (example_tag, example_tag))"
        ]


class TestResponderWithoutAllowList(SessionTest):
    def setUp(self):
        start_responder(self, RespondOptions())

    def tearDown(self):
        self.stream_close()

    def test_request_without_from_is_from_our_own_account_and_answered(self):
        # RFC 6120 §8.1.2.1: no 'from' means the user's own account; no --allow means everyone may ask.
        self.recv(f'<iq type="get" id="own">{TAG}</iq>')
        self.wait_()
        self.send(
            '<iq type="result" id="own">'
            '<example_tag xmlns="https://example.net/our_extension" boolean="True" some_string="Reply_string"/></iq>'
        )
        assert self.lines == ["iq get from responder@localhost: answered result (some_string='Reply_string')"]

    def test_reply_that_would_be_too_large_is_not_sent(self):
        huge_id = '"' * 3000  # 18,000 bytes once escaped: past the 10,000 every server must accept
        self.recv(f'<iq type="get" from="peer@localhost/a" id="{huge_id.replace(chr(34), "&quot;")}">{TAG}</iq>')
        self.wait_()
        assert self.xmpp.socket.next_sent(timeout=0.1) is None
        assert self.lines == ["iq get from peer@localhost/a: not answered (its id would make the reply too large)"]


def test_quoteattr_escapes_what_an_attribute_cannot_hold():
    from xml.etree import ElementTree

    from xmpp_ext.plugin.wire import quoteattr

    value = "a&b<c>d\"e\n\tf'g"
    assert quoteattr(value) == '"a&amp;b&lt;c&gt;d&quot;e&#10;&#9;f&apos;g"'
    # An XML parser reads back exactly the original value.
    assert ElementTree.fromstring(f"<x v={quoteattr(value)}/>").get("v") == value

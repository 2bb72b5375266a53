"""The responder's answers to tagged messages, on the wire (SlixTest: no server)."""

from __future__ import annotations

from slixmpp.test import SlixTest

import xmpp_ext.plugin  # noqa: F401  (registers the plugin by name)
from xmpp_ext.jobs.respond import RESPONDER_PLUGINS, Responder, RespondOptions

TAG = '<example_tag xmlns="https://example.net/our_extension" some_string="s">hello</example_tag>'


class TestResponderMessages(SlixTest):
    def setUp(self):
        self.stream_start(jid="responder@localhost/xmppext", plugins=list(RESPONDER_PLUGINS))
        self.lines = []
        Responder(self.xmpp, RespondOptions(), self.lines.append)

    def tearDown(self):
        self.stream_close()

    def test_chat_message_gets_a_tagged_reply_naming_it(self):
        self.recv(f'<message type="chat" from="peer@localhost/a" id="m1"><body>hi</body>{TAG}</message>')
        self.send(
            '<message type="chat" to="peer@localhost/a" id="1">'
            "<body>Reply_string</body>"
            '<example_tag xmlns="https://example.net/our_extension" boolean="True" some_string="Reply_string">'
            "hi</example_tag>"
            '<reply xmlns="urn:xmpp:reply:0" id="m1" to="peer@localhost/a"/>'
            "</message>",
            use_values=False,
        )
        assert self.lines == ["message from peer@localhost/a: answered with a reply to m1"]

    def test_message_without_an_id_gets_a_reply_without_reply_element(self):
        self.recv(f'<message type="chat" from="peer@localhost/a"><body>hi</body>{TAG}</message>')
        self.send(
            '<message type="chat" to="peer@localhost/a" id="1">'
            "<body>Reply_string</body>"
            '<example_tag xmlns="https://example.net/our_extension" boolean="True" some_string="Reply_string">'
            "hi</example_tag>"
            "</message>",
            use_values=False,
        )
        assert self.lines == ["message from peer@localhost/a: answered with a reply (it has no id to name)"]

    def test_control_characters_in_ids_are_escaped_on_the_console(self):
        self.recv(f'<message type="chat" from="peer@localhost/a" id="m\u202e1"><body>hi</body>{TAG}</message>')
        self.wait_()
        assert self.lines == ["message from peer@localhost/a: answered with a reply to m\\u202e1"]

    def test_reply_that_would_be_too_large_drops_the_echoes(self):
        huge_id = "&quot;" * 2000  # 12,000 bytes in a reply's <reply id=.../>
        self.recv(
            f'<message type="chat" from="peer@localhost/a" id="{huge_id}"><body>{"b" * 9000}</body>{TAG}</message>'
        )
        self.send(
            '<message type="chat" to="peer@localhost/a" id="1">'
            "<body>Reply_string</body>"
            '<example_tag xmlns="https://example.net/our_extension" boolean="True" some_string="Reply_string" />'
            "</message>",
            use_values=False,
        )
        assert self.lines == ["message from peer@localhost/a: answered with a reply"]

    def test_headline_is_not_answered(self):
        self.recv(f'<message type="headline" from="peer@localhost/a" id="h1">{TAG}</message>')
        self.send(None)
        assert self.lines == ["message from peer@localhost/a: ignored (a headline expects no reply)"]

    def test_a_reply_is_not_answered(self):
        self.recv(
            f'<message type="chat" from="peer@localhost/a" id="r1">{TAG}'
            '<reply xmlns="urn:xmpp:reply:0" id="m0" to="responder@localhost/xmppext"/></message>'
        )
        self.send(None)
        assert self.lines == []


REQUEST = (
    '<iq type="get" from="peer@localhost/a" id="q{n}">'
    '<example_tag xmlns="https://example.net/our_extension" some_string="s{n}">t\u202e</example_tag></iq>'
)


class TestResponderLines(SlixTest):
    def setUp(self):
        self.stream_start(jid="responder@localhost/xmppext", plugins=list(RESPONDER_PLUGINS))
        self.lines = []

    def tearDown(self):
        self.stream_close()

    def test_a_burst_prints_at_most_20_lines_a_second_then_counts(self):
        responder = Responder(self.xmpp, RespondOptions(), self.lines.append)
        for number in range(30):
            self.recv(REQUEST.format(n=number))
        self.wait_()
        assert len(self.lines) == 20
        assert all(
            line == "iq get from peer@localhost/a: answered result (some_string='Reply_string')" for line in self.lines
        )
        responder.flush_lines()  # a second later, or when it stops
        assert self.lines[20:] == ["... 10 more in the last second: 10 iq get answered result"]
        assert responder.answered == 30

    def test_verbose_prints_every_exchange_and_what_it_carried(self):
        Responder(self.xmpp, RespondOptions(), self.lines.append, every_line=True)
        for number in range(30):
            self.recv(REQUEST.format(n=number))
        self.wait_()
        assert len(self.lines) == 60
        assert self.lines[0] == "received iq get from peer@localhost/a: example_tag some_string='s0' text='t\\u202e'"
        assert self.lines[1].endswith("answered result (some_string='Reply_string')")


def test_a_received_tag_is_described_bounded():
    from slixmpp.xmlstream import ET

    from xmpp_ext.jobs.respond import MAX_SHOWN_RECEIVED, describe_tag

    tag = ET.fromstring(
        f'<example_tag xmlns="https://example.net/our_extension" some_string="{"x" * 5000}"><a/></example_tag>'
    )
    described = describe_tag(tag)
    assert len(described) == MAX_SHOWN_RECEIVED and described.endswith("…")
    assert describe_tag(None) == "no example_tag"


class TestResponderResumed(SlixTest):
    def setUp(self):
        self.stream_start(jid="responder@localhost/xmppext", plugins=[*RESPONDER_PLUGINS, "xep_0198"])
        self.lines = []
        self.responder = Responder(self.xmpp, RespondOptions(), self.lines.append)

    def tearDown(self):
        self.stream_close()

    def test_a_resumed_stream_says_resumed_and_resets_the_back_off(self):
        self.responder._failed_sessions = 3  # three cuts in a row: the next delay would be 4 s
        self.xmpp.event("session_resumed")
        assert self.responder._failed_sessions == 0
        assert self.lines == ["RESUMED responder@localhost/xmppext, 0 re-sent"]

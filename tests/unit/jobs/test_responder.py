"""The responder's answers to tagged messages, on the wire (SlixTest: no server)."""

from __future__ import annotations

import xmpp_ext.plugin  # noqa: F401
from tests.sessions import SessionTest, start_responder

TAG = '<example_tag xmlns="https://example.net/our_extension" some_string="s">hello</example_tag>'


class TestResponderMessages(SessionTest):
    def setUp(self):
        start_responder(self)

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


class TestResponderLines(SessionTest):
    def tearDown(self):
        self.stream_close()

    def test_a_burst_prints_at_most_20_lines_a_second_then_counts(self):
        responder, lines = start_responder(self)
        for number in range(30):
            self.recv(REQUEST.format(n=number))
        self.wait_()
        assert len(self.lines) == 20
        assert all(
            line == "iq get from peer@localhost/a: answered result (some_string='Reply_string')" for line in self.lines
        )
        lines._budget.flush()  # a second later, or when it stops
        assert self.lines[20:] == ["... 10 more in the last second: 10 iq get answered result"]
        assert responder.answered == 30

    def test_verbose_prints_every_exchange_and_what_it_carried(self):
        start_responder(self, every_line=True)
        for number in range(30):
            self.recv(REQUEST.format(n=number))
        self.wait_()
        assert len(self.lines) == 60
        assert self.lines[0] == "received iq get from peer@localhost/a: example_tag some_string='s0' text='t\\u202e'"
        assert self.lines[1].endswith("answered result (some_string='Reply_string')")


def test_a_received_tag_is_described_bounded():
    from slixmpp.xmlstream import ET

    from xmpp_ext.jobs.respond.lines import MAX_SHOWN_RECEIVED
    from xmpp_ext.jobs.respond.lines import summarize_received as describe_tag

    tag = ET.fromstring(
        f'<example_tag xmlns="https://example.net/our_extension" some_string="{"x" * 5000}"><a/></example_tag>'
    )
    described = describe_tag(tag)
    assert len(described) == MAX_SHOWN_RECEIVED and described.endswith("…")
    assert describe_tag(None) == "no payload"


def test_lifecycle_records_become_the_documented_lines():
    import asyncio

    from xmpp_ext.jobs.respond.lines import RespondLines
    from xmpp_ext.jobs.respond.records import Disconnected, Finished, Ready, ReconnectFailed, Resumed

    lines: list[str] = []
    loop = asyncio.new_event_loop()
    try:
        show = RespondLines(lines.append, loop).record
        show(Ready("responder@localhost/xmppext"))
        show(Disconnected("stream error system-shutdown"))
        show(ReconnectFailed("connection failed (Connection refused)", 0.5))
        show(Resumed("responder@localhost/xmppext", 0.43, 3))
        show(Finished(7, None))
    finally:
        loop.close()
    assert lines == [
        "READY responder@localhost/xmppext",
        "disconnected (stream error system-shutdown); reconnecting",
        "reconnection failed (connection failed (Connection refused)); reconnecting in 0.5s",
        "RESUMED responder@localhost/xmppext after 0.4 s, 3 re-sent",
        "stopped after answering 7",
    ]


class TestResponderDuplicates(SessionTest):
    def tearDown(self):
        self.stream_close()

    def test_a_request_delivered_again_on_the_same_stream_is_answered_once(self):
        responder, _lines = start_responder(self)
        self.recv(REQUEST.format(n=1))
        self.recv(REQUEST.format(n=1))  # the server's re-delivery after a resumption: our answer is on its way
        self.wait_()
        assert responder.answered == 1 and responder.duplicates == 1
        assert self.lines[-1] == "iq get from peer@localhost/a: not answered again (a request already answered)"

    def test_after_a_new_session_the_same_request_is_answered_again(self):
        responder, _lines = start_responder(self)
        self.recv(REQUEST.format(n=1))
        self.wait_()
        responder.new_stream()  # what the old stream carried may be gone
        self.recv(REQUEST.format(n=1))
        self.wait_()
        assert responder.answered == 2 and responder.duplicates == 0

"""``send --raw``: any namespaced payload, checked before sending, and the reply matched and kept (offline)."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from slixmpp import JID

from tests.sessions import SessionTest
from xmpp_ext.cli import cli
from xmpp_ext.jobs.outcomes import Status, Tally
from xmpp_ext.jobs.report import Reporter
from xmpp_ext.jobs.send import Sender
from xmpp_ext.jobs.send.raw import MAX_PAYLOAD_DEPTH, MAX_REPLY_CHARS, raw_step, read_raw_payload
from xmpp_ext.plugin import ExampleTagError
from xmpp_ext.plugin.payload import MAX_PAYLOAD_BYTES
from xmpp_ext.servers import free_port

GREETING = '<greeting xmlns="urn:example:greeting" language="en"/>'
ENV = {"XMPPEXT_JID": "me@localhost", "XMPPEXT_PASSWORD": "pw-not-used", "XMPPEXT_HOST": "127.0.0.1"}


def send_raw(*args: str, stdin: bytes | None = None):
    env = {**ENV, "XMPPEXT_PORT": str(free_port())}
    return CliRunner().invoke(cli, ["send", "-t", "bot@localhost/r", "--raw", *args], input=stdin, env=env)


# -- the payload, refused before anything is sent ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("xml", "message"),
    [
        ("<greeting/>", "<greeting> has no namespace"),
        ('<iq type="get"><greeting xmlns="urn:g"/></iq>', "give the payload only, the element inside the <iq>"),
        ('<message xmlns="jabber:client"/>', "give the payload only"),
        ('<body xmlns="jabber:client">hi</body>', "in a stanza namespace"),
        ("<greeting", "not well-formed XML"),
        ('<!DOCTYPE g [<!ENTITY e "x">]><g xmlns="urn:g">&e;</g>', "not allowed in XMPP"),
        ('<g xmlns="urn:g" xmlns:o="urn:o" o:a="1"/>', "only unprefixed and xml: attributes can be sent"),
    ],
)
def test_a_payload_that_cannot_be_sent_is_exit_2_in_one_line_naming_it(xml, message):
    result = send_raw("--xml", xml)
    assert result.exit_code == 2, result.output
    assert message in result.output and "--xml" in result.output
    assert "Traceback" not in result.output and result.output.strip().splitlines()[-1].startswith("Error: ")


def test_a_payload_nested_deeper_than_the_guard_allows_is_refused():
    deep = "<a xmlns='urn:deep'>" + "<a>" * MAX_PAYLOAD_DEPTH + "</a>" * (MAX_PAYLOAD_DEPTH + 1)
    with pytest.raises(ExampleTagError, match=f"more than the {MAX_PAYLOAD_DEPTH} allowed"):
        read_raw_payload(None, deep, None)


def test_more_than_64_kib_on_standard_input_is_refused_after_a_bounded_read():
    stream = io.BytesIO(b" " * (10 * MAX_PAYLOAD_BYTES))
    with pytest.raises(ExampleTagError, match="standard input: more than 65536 bytes"):
        read_raw_payload(Path("-"), None, stream)
    assert stream.tell() == MAX_PAYLOAD_BYTES + 1


def test_a_stanza_too_large_once_escaped_is_refused():
    result = send_raw("--xml", f"<g xmlns='urn:g'>{'&apos;' * 20_000}</g>")
    assert result.exit_code == 2 and "more than 65536" in result.output


def test_the_payload_comes_from_a_file_or_standard_input(tmp_path):
    (tmp_path / "greeting.xml").write_text(GREETING)
    assert read_raw_payload(tmp_path / "greeting.xml", None, None).get("language") == "en"
    assert read_raw_payload(Path("-"), None, io.BytesIO(GREETING.encode())).tag == "{urn:example:greeting}greeting"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "--raw needs the payload"),
        (("--xml", GREETING, "--some-string", "x"), "not with --raw"),
        (("--xml", GREETING, "--repeat", "3"), "not with --raw"),
        (("--xml", GREETING, "--no-reply"), "--no-reply is for --kind message"),
        (("--xml", GREETING, "--path", "x.xml"), "choose one"),
    ],
)
def test_options_that_do_not_go_with_raw_are_usage_errors(args, message):
    result = send_raw(*args)
    assert result.exit_code == 2 and message in result.output


def test_a_good_payload_gets_as_far_as_connecting():
    result = send_raw("--xml", GREETING, stdin=None)
    assert result.exit_code == 3, result.output  # nobody listens on the port: the payload itself was accepted
    result = send_raw("--path", "-", "--check-support", stdin=GREETING.encode())
    assert result.exit_code == 3, result.output


# -- the exchange, on an offline session ------------------------------------------------------------------------


class TestRawExchanges(SessionTest):
    def setUp(self):
        self.start_session(jid="sender@localhost/s", plugins=("xep_0030",))
        self.xmpp.event("session_start")
        self.send_queue = asyncio.ensure_future(self.xmpp.run_filters())
        self.sender = Sender(self.session, JID("bot@localhost/r"), timeout=2, tally=Tally())
        self.exchanges = []

    def tearDown(self):
        self.send_queue.cancel()
        self.stream_close()

    def sent(self) -> str:
        for _ in range(100):
            if (raw := self.xmpp.socket.next_sent(timeout=0.02)) is not None:
                return raw.decode()
            self.run_coro(asyncio.sleep(0.01))
        raise AssertionError("nothing was sent")

    def start(self, kind="iq", itype="get", xml=GREETING):
        step = raw_step(kind, read_raw_payload(None, xml, None), itype)
        return asyncio.ensure_future(self.sender.run_all([step], self.exchanges.append))

    def test_an_iq_carries_the_payload_as_given_and_its_result_is_kept_whole(self):
        running = self.start(itype="set")
        sent = self.parse_xml(self.sent())
        assert (sent.get("type"), sent.get("to")) == ("set", "bot@localhost/r")
        assert sent[0].tag == "{urn:example:greeting}greeting" and sent[0].get("language") == "en"
        self.recv(
            f'<iq type="result" id="{sent.get("id")}" from="bot@localhost/r" to="sender@localhost/s">'
            '<greeting xmlns="urn:example:greeting" language="en">Good morning</greeting></iq>'
        )
        assert self.run_coro(asyncio.wait_for(running, 5)) is None
        (exchange,) = self.exchanges
        assert exchange.status is Status.OK and exchange.name == "iq greeting"
        assert exchange.detail == "result carrying <greeting xmlns='urn:example:greeting'> from bot@localhost/r"
        assert "Good morning</greeting>" in exchange.reply

    def test_an_error_reply_fails_with_its_condition_and_text(self):
        running = self.start()
        sent = self.parse_xml(self.sent())
        self.recv(
            f'<iq type="error" id="{sent.get("id")}" from="bot@localhost/r"><error type="cancel">'
            '<item-not-found xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/>'
            '<text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas">no greeting in \u202e"xx"</text></error></iq>'
        )
        self.run_coro(asyncio.wait_for(running, 5))
        (exchange,) = self.exchanges
        assert exchange.status is Status.FAILED and exchange.condition == "item-not-found"
        assert exchange.detail.startswith("error item-not-found from bot@localhost/r: no greeting in")
        lines = []
        Reporter(lines.append).exchange(exchange)
        assert "\\u202e" in "\n".join(lines) and "\u202e" not in "\n".join(lines)  # made safe where it is printed

    def test_a_message_is_answered_by_the_next_message_from_the_peer(self):
        running = self.start(kind="message")
        sent = self.parse_xml(self.sent())
        assert sent.tag.endswith("message") and sent[-1].tag == "{urn:example:greeting}greeting"
        self.recv('<message from="someone@localhost/x" to="sender@localhost/s"><body>not the peer</body></message>')
        self.recv('<message from="bot@localhost/r" to="sender@localhost/s"><x xmlns="urn:example:x"/></message>')
        self.run_coro(asyncio.wait_for(running, 5))
        (exchange,) = self.exchanges
        assert exchange.status is Status.OK and exchange.replier == "bot@localhost/r"
        assert "urn:example:x" in exchange.reply

    def test_a_bounced_message_fails(self):
        running = self.start(kind="message")
        sent = self.parse_xml(self.sent())
        self.recv(
            f'<message type="error" id="{sent.get("id")}" from="bot@localhost/r"><error type="cancel">'
            '<service-unavailable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></message>'
        )
        self.run_coro(asyncio.wait_for(running, 5))
        assert self.exchanges[0].status is Status.FAILED
        assert self.exchanges[0].detail == "bounced service-unavailable from bot@localhost/r"

    def test_a_huge_reply_is_kept_clipped(self):
        running = self.start()
        sent = self.parse_xml(self.sent())
        self.recv(
            f'<iq type="result" id="{sent.get("id")}" from="bot@localhost/r">'
            f'<g xmlns="urn:g">{"x" * (MAX_REPLY_CHARS * 2)}</g></iq>'
        )
        self.run_coro(asyncio.wait_for(running, 5))
        reply = self.exchanges[0].reply
        assert len(reply) == MAX_REPLY_CHARS and reply.endswith("…")
        assert json.loads(json.dumps(self.exchanges[0].as_dict()))["reply"] == reply

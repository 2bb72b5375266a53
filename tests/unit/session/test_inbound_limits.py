"""xmpp_ext.session.inbound_limits offline: each bound, what still gets through, and the slixmpp parts it uses.

A client gets a fake transport and is fed bytes through slixmpp's own
``connection_made`` / ``data_received``, as the event loop would: if slixmpp
stops creating its parser in ``init_parser`` or reading it through
``feed``/``read_events``, these tests fail.
"""

from __future__ import annotations

import logging
from xml.etree import ElementTree

import pytest
import slixmpp

from xmpp_ext.scenario.clients import ScenarioClient
from xmpp_ext.session import ConnectionSettings, build_client, patches, slixmpp_private
from xmpp_ext.session.inbound_limits import (
    SLICE_BYTES,
    BoundedParser,
    InboundLimitExceeded,
    InboundLimits,
    install_inbound_limits,
)
from xmpp_ext.util.secret import Secret

HEADER = (
    b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
    b"from='localhost' id='s1' version='1.0'>"
)
SMALL = InboundLimits(max_pending_bytes=4096, max_elements=50, max_depth=10)


class FakeTransport:
    def __init__(self) -> None:
        self.closed = False

    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default: object = None) -> object:
        return default


class Stream:
    """A client with limits, connected to nothing: ``receive(bytes)`` is what the server sends."""

    def __init__(self, limits: InboundLimits = SMALL, client: slixmpp.ClientXMPP | None = None) -> None:
        self.client = client or slixmpp.ClientXMPP("tester@localhost/r", "unused")
        if client is None:
            assert install_inbound_limits(self.client, limits)
        self.messages: list[str] = []
        self.client.add_event_handler("message", lambda message: self.messages.append(message["body"]))
        self.transport = FakeTransport()
        self.client.connection_made(self.transport)

    def receive(self, *chunks: bytes) -> None:
        for chunk in chunks:
            self.client.data_received(chunk)

    @property
    def ended(self) -> str | None:
        reason = self.client.disconnect_reason
        if reason is None:
            return None
        assert isinstance(reason, InboundLimitExceeded) and self.transport.closed
        return str(reason)


def message(body: str = "hi") -> bytes:
    return f"<message from='peer@localhost/r'><body>{body}</body></message>".encode()


def test_every_client_the_tool_builds_has_the_limits():
    # build_client makes every client: the jobs' Sessions, scenario's, the pytest plugin's, in-band registration's.
    settings = ConnectionSettings(jid="a@localhost", password=Secret("pw"), host="127.0.0.1", port=5222)
    for client in (build_client(settings, plugins=()), ScenarioClient(settings).client):
        client.init_parser()  # what slixmpp does for each new stream
        assert isinstance(client.parser, BoundedParser)


def test_slixmpp_still_creates_its_parser_in_init_parser():
    # The parts of slixmpp this module relies on: if one changes, the limits would silently not apply.
    client = slixmpp.ClientXMPP("a@localhost", "unused")
    client.init_parser()
    assert isinstance(client.parser, ElementTree.XMLPullParser)
    assert patches.supported()
    assert slixmpp_private.missing(client) == []


def test_a_normal_stream_passes_untouched():
    stream = Stream()
    # Many stanzas, together far more than every bound, each within them; a whitespace keepalive between.
    stream.receive(HEADER, *[message(f"m{number}") + b" " for number in range(200)])
    assert stream.ended is None
    assert stream.messages == [f"m{number}" for number in range(200)]


def test_a_stanza_split_across_many_reads_passes():
    stream = Stream()
    data = message("x" * 3000)
    stream.receive(HEADER, *[data[index : index + 7] for index in range(0, len(data), 7)])
    assert stream.ended is None and stream.messages == ["x" * 3000]


@pytest.mark.parametrize(
    ("attack", "problem"),
    [
        (b" " * 5000, "the server sent more than 4,096 bytes without completing a stanza"),
        (b"<message><body>" + b"x" * 5000, "the server sent more than 4,096 bytes without completing a stanza"),
        (b"<stream:features>" + b"<f/>" * 51, "the server sent a stanza of more than 50 elements"),
        (b"<a>" * 12, "the server sent a stanza nested deeper than 10 levels"),
    ],
    ids=["whitespace", "text", "elements", "depth"],
)
def test_each_bound_ends_the_stream_with_one_line(attack, problem):
    stream = Stream()
    stream.receive(HEADER, attack)
    assert stream.ended == f"{problem}; the stream was ended"


def test_the_stream_header_itself_is_bounded():
    stream = Stream()
    stream.receive(HEADER[:-1] + b" " * 5000)  # a header that never closes
    assert stream.ended.startswith("the server sent more than 4,096 bytes without completing a stanza")


def test_nothing_is_taken_after_the_bound():
    stream = Stream()
    stream.receive(HEADER, b" " * 5000)
    assert stream.client.parser._parser is None  # the partial tree is let go
    stream.receive(message())  # a read already under way: ignored
    assert stream.messages == []


def test_stanzas_completed_before_the_bound_are_still_delivered():
    stream = Stream()
    stream.receive(HEADER, message("before") + b"<a>" * 20)
    assert stream.ended.startswith("the server sent a stanza nested deeper than 10 levels")
    assert stream.messages == ["before"]


@pytest.mark.parametrize(
    "prolog",
    [
        b"<?xml version='1.0'?><!DOCTYPE s [<!ENTITY a 'xxxxxxxxxx'>]>",
        b"<?xml version='1.0'?><!-- a comment -->",
    ],
    ids=["dtd", "comment"],
)
def test_a_dtd_or_comment_before_the_stream_header_is_refused(prolog):
    stream = Stream()
    stream.receive(prolog + HEADER[21:] + message("&a;"))
    assert stream.ended == (
        "the server sent a DTD or comment before its stream header, which XMPP forbids; the stream was ended"
    )
    assert stream.messages == []


def test_a_dtd_split_between_two_reads_is_refused():
    stream = Stream()
    stream.receive(b"<?xml version='1.0'?><", b"!DOCTYPE s [<!ENTITY a 'x'>]>")
    assert stream.ended.startswith("the server sent a DTD or comment")


def test_a_cdata_section_in_a_stanza_is_not_a_dtd():
    stream = Stream()
    stream.receive(HEADER + b"<message><body><![CDATA[<b>bold</b>]]></body></message>")
    assert stream.ended is None and stream.messages == ["<b>bold</b>"]


def test_a_large_read_is_checked_slice_by_slice():
    # One read of 64 slices of nesting: the parser is stopped after the first slice past the depth bound,
    # instead of building the whole read's elements first.
    limits = InboundLimits(max_depth=100)
    stream = Stream(limits)
    stream.receive(HEADER, b"<a>" * (64 * SLICE_BYTES // 3))
    assert stream.ended.startswith("the server sent a stanza nested deeper than 100 levels")


def test_default_limits_let_a_server_size_stanza_through():
    # 256 KiB, the stanza size limit Prosody and ejabberd apply by default, of the densest XML there is.
    stream = Stream(InboundLimits())
    body = b"<message><body>" + b"<b/>" * (256 * 1024 // 4 - 10) + b"</body></message>"
    stream.receive(HEADER, body, b"<a>" * 9_000 + b"</a>" * 9_000)
    assert stream.ended is None


def test_limits_must_be_positive():
    with pytest.raises(ValueError, match="max_depth must be at least 1, not 0"):
        InboundLimits(max_depth=0)


def test_another_slixmpp_version_is_left_alone(monkeypatch, caplog):
    monkeypatch.setattr(slixmpp, "__version_info__", (1, 18, 0))
    monkeypatch.setattr(slixmpp, "__version__", "1.18.0")
    client = slixmpp.ClientXMPP("a@localhost", "unused")
    with caplog.at_level(logging.WARNING, "xmpp_ext.session.inbound_limits"):
        assert install_inbound_limits(client) is False
    client.init_parser()
    assert isinstance(client.parser, ElementTree.XMLPullParser)
    assert "slixmpp 1.18.0 is not a version xmpp_ext.session.inbound_limits was written for" in caplog.text


def test_the_parser_takes_text_as_slixmpp_tests_feed_it():
    ended = []
    parser = BoundedParser(ElementTree.XMLPullParser(("start", "end")), SMALL, ended.append)
    parser.feed(HEADER.decode() + "<message/>")
    assert [event for event, _element in parser.read_events()] == ["start", "start", "end"]
    assert ended == []


def test_events_left_unread_come_first_at_the_next_read_and_each_only_once():
    # slixmpp stops reading at the end of the stream (or when a handler raises): what it did not read stays.
    parser = BoundedParser(ElementTree.XMLPullParser(("start", "end")), SMALL, lambda problem: None)
    parser.feed(HEADER + b"<message id='1'/><message id='2'/>")
    events = parser.read_events()
    assert [next(events)[0] for _ in range(2)] == ["start", "start"]  # the stream, then message 1
    parser.feed(b"<message id='3'/>")
    assert [(event, element.get("id")) for event, element in parser.read_events()] == [
        ("end", "1"),
        ("start", "2"),
        ("end", "2"),
        ("start", "3"),
        ("end", "3"),
    ]
    assert list(parser.read_events()) == []

"""What the recording proxy reads: the stream observer, and one connection's traffic as a recording."""

from __future__ import annotations

import base64

import pytest
from slixmpp.xmlstream import ET

from xmpp_ext.record.recording import Recording
from xmpp_ext.record.stream import (
    MAX_DEPTH,
    MAX_STANZA_BYTES,
    Closed,
    Element,
    Opened,
    StreamObserver,
    StreamUnreadable,
)

PASSWORD = "s3cret-Pw_42"
CLIENT_HEADER = (
    b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
    b"to='localhost' version='1.0'>"
)
SERVER_HEADER = (
    b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
    b"from='localhost' id='s1' version='1.0'>"
)
SASL = b"urn:ietf:params:xml:ns:xmpp-sasl"


def plain_auth() -> bytes:
    return base64.b64encode(f"\0sender\0{PASSWORD}".encode())


def test_the_observer_yields_the_header_each_top_level_element_and_the_close():
    observer = StreamObserver()
    events = observer.feed(CLIENT_HEADER + b"<message to='a@b'><body>hi</body></message> <presence/></stream:stream>")
    assert isinstance(events[0], Opened) and events[0].attributes["to"] == "localhost"
    assert [type(event) for event in events] == [Opened, Element, Element, Closed]
    message = events[1].element
    assert message.tag == "{jabber:client}message"
    assert message.findtext("{jabber:client}body") == "hi"


def test_a_stanza_split_anywhere_comes_out_whole_once():
    observer = StreamObserver()
    data = CLIENT_HEADER + b"<iq type='get' id='1'><query xmlns='urn:x'>text<a b='c'/>tail</query></iq>"
    elements = [event for byte in range(len(data)) for event in observer.feed(data[byte : byte + 1])]
    (iq,) = [event.element for event in elements if isinstance(event, Element)]
    query = iq[0]
    assert (query.tag, query.text, query[0].tail) == ("{urn:x}query", "text", "tail")


def test_a_restart_reads_a_new_document_with_its_own_declaration():
    observer = StreamObserver()
    observer.feed(CLIENT_HEADER + b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
    observer.restart()
    events = observer.feed(CLIENT_HEADER + b"<presence/>")
    assert [type(event) for event in events] == [Opened, Element]


@pytest.mark.parametrize(
    "data, problem",
    [
        (b"<!DOCTYPE x [<!ENTITY a 'b'>]><stream:stream/>", "DTD"),
        (CLIENT_HEADER + b"<message><body>&undefined;</body></message>", "malformed"),
        (CLIENT_HEADER + b"<a>" * (MAX_DEPTH + 1), "deeper"),
        (CLIENT_HEADER + b"<message><body>" + b"x" * (MAX_STANZA_BYTES + 1), "larger"),
        (b"<html>", "expected a stream header"),
    ],
)
def test_what_the_observer_refuses(data, problem):
    with pytest.raises(StreamUnreadable, match=problem):
        StreamObserver().feed(data)


def negotiate(recording: Recording, resource: str = "phone", enable_sm: str | None = None):
    """A whole login as the proxy sees it (TLS itself aside), the session bound as sender@localhost/<resource>."""
    connection = recording.connection()
    connection.from_client(CLIENT_HEADER)
    assert not connection.from_server(
        SERVER_HEADER + b"<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:features>"
    )
    connection.from_client(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
    assert connection.from_server(b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")  # switch to TLS now
    connection.from_client(CLIENT_HEADER)
    connection.from_server(
        SERVER_HEADER + b"<stream:features><mechanisms xmlns='" + SASL + b"'><mechanism>PLAIN</mechanism>"
        b"</mechanisms></stream:features>"
    )
    connection.from_client(b"<auth xmlns='" + SASL + b"' mechanism='PLAIN'>" + plain_auth() + b"</auth>")
    assert not connection.from_server(b"<success xmlns='" + SASL + b"'/>")
    connection.from_client(CLIENT_HEADER)
    connection.from_server(SERVER_HEADER + b"<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>")
    connection.from_server(b"</stream:features>")
    bind = b"<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
    connection.from_client(b"<iq type='set' id='b1'>" + bind + b"<resource>" + resource.encode() + b"</resource>")
    connection.from_client(b"</bind></iq>")
    jid = f"sender@localhost/{resource}".encode()
    assert connection.negotiating  # the proxy hands on the server's elements whole until here
    connection.from_server(b"<iq type='result' id='b1'>" + bind + b"<jid>" + jid + b"</jid></bind></iq>")
    assert not connection.negotiating
    if enable_sm:
        connection.from_client(b"<enable xmlns='urn:xmpp:sm:3' resume='true'/>")
        connection.from_server(b"<enabled xmlns='urn:xmpp:sm:3' resume='true' id='" + enable_sm.encode() + b"'/>")
    return connection


def stanzas_of(recording: Recording) -> list[tuple[str, str]]:
    return [
        (step.kind, step.stanza.tag.rpartition("}")[2] if step.stanza is not None else "") for step in recording.steps
    ]


def test_a_login_leaves_only_the_bound_session_and_its_stanzas():
    recording = Recording()
    connection = negotiate(recording)
    connection.from_client(b"<iq type='set' id='s'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>")
    connection.from_server(b"<iq type='result' id='s'/>")
    connection.from_client(b"<r xmlns='urn:xmpp:sm:3'/><active xmlns='urn:xmpp:csi:0'/><presence/>")
    connection.from_server(b"<a xmlns='urn:xmpp:sm:3' h='1'/><presence from='sender@localhost/phone'/>")
    connection.from_client(b"</stream:stream>")
    connection.from_server(b"<message><body>after the client left</body></message>")
    connection.closed()
    assert [session.jid for session in recording.sessions] == ["sender@localhost/phone"]
    assert stanzas_of(recording) == [
        ("connects", ""),
        ("sends", "presence"),
        ("receives", "presence"),
        ("disconnects", ""),
    ]
    everything = b"".join(ET.tostring(step.stanza) for step in recording.steps if step.stanza is not None)
    for secret in (PASSWORD.encode(), plain_auth(), base64.b64encode(PASSWORD.encode())):
        assert secret not in everything


def test_unreadable_bytes_before_binding_end_the_connection_after_only_its_recording():
    recording = Recording()
    with pytest.raises(StreamUnreadable):
        recording.connection().from_client(b"GET / HTTP/1.1\r\n")
    connection = negotiate(recording)
    connection.from_client(b"<message><body>&nope;</body></message>")
    assert "malformed" in connection.problem
    assert recording.notes == [
        "sender@localhost/phone: stopped recording its stanzas (malformed XML: undefined entity)"
    ]
    connection.from_client(b"<presence/>")  # not read any more, and nothing raised: the bytes still pass
    assert stanzas_of(recording) == [("connects", "")]


def test_a_resumed_stream_goes_on_as_the_same_session():
    recording = Recording()
    first = negotiate(recording, enable_sm="sm-1")
    first.closed()  # the link dropped
    second = recording.connection()
    second.from_client(CLIENT_HEADER)
    second.from_server(SERVER_HEADER)
    second.from_client(b"<resume xmlns='urn:xmpp:sm:3' previd='sm-1' h='0'/>")
    second.from_server(b"<resumed xmlns='urn:xmpp:sm:3' previd='sm-1' h='0'/>")
    second.from_client(b"<presence/>")
    second.closed()
    recording.end()
    assert len(recording.sessions) == 1
    live = [(step.kind, step.cancelled) for step in recording.steps]
    assert live == [("connects", False), ("disconnects", True), ("sends", False), ("disconnects", False)]


def test_the_proxy_hands_on_no_channel_binding_mechanism():
    from xmpp_ext.record.proxy import without_channel_binding

    features = (
        b"<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism>"
        b"<mechanism>SCRAM-SHA-1-PLUS</mechanism><mechanism> SCRAM-SHA-256-PLUS </mechanism>"
        b"<mechanism>SCRAM-SHA-1</mechanism></mechanisms></stream:features>"
    )
    assert without_channel_binding(features) == (
        b"<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism>"
        b"<mechanism>SCRAM-SHA-1</mechanism></mechanisms></stream:features>"
    )

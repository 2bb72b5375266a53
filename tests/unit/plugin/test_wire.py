"""wire_size and bounded_echo (xmpp_ext.plugin.wire), checked against slixmpp's own serializer."""

from __future__ import annotations

import asyncio
import importlib

import pytest
from slixmpp import ClientXMPP
from slixmpp.xmlstream import ET

import xmpp_ext.plugin  # noqa: F401  (registers the plugin by name)
from xmpp_ext.plugin import NAMESPACE, ExampleTag
from xmpp_ext.plugin.wire import ECHO_BUDGET, MAX_ERROR_TEXT, bounded_echo, error_reply, wire_size
from xmpp_ext.session import patches

serializer = importlib.import_module("slixmpp.xmlstream.tostring")

QUOTE = '"'
PAYLOADS = {
    "tutorial": f'<example_tag xmlns="{NAMESPACE}" some_string="s">t<inside_tag first_field="1"/></example_tag>',
    "quotes": f"<example_tag xmlns='{NAMESPACE}' some_string='{QUOTE * 300}'/>",
    "newlines": f"<example_tag xmlns='{NAMESPACE}' some_string='{'&#10;' * 300}'>{'&#13;&#9;' * 50}</example_tag>",
    "escapes in text": (
        f"<example_tag xmlns='{NAMESPACE}' some_string='&lt;&amp;&gt;'>a &lt; b &amp; 'c'</example_tag>"
    ),
    "non-ASCII": f"<example_tag xmlns='{NAMESPACE}' some_string='é\U0001f600'>ü\u4e2d</example_tag>",
    "xml:lang": f"<example_tag xmlns='{NAMESPACE}' xml:lang='de' some_string='s'/>",
    "declared prefix": (
        f"<e:example_tag xmlns:e='{NAMESPACE}' xmlns:o='urn:other' some_string='s'>"
        "<e:inside_tag first_field='1'>x</e:inside_tag><o:other o:drop='1' keep='2'/>tail</e:example_tag>"
    ),
    "stream-namespace attribute": (
        f"<example_tag xmlns='{NAMESPACE}' xmlns:s='http://etherx.jabber.org/streams' s:a='1'>"
        "<inside_tag s:b='2'/><inside_tag s:c='3'/></example_tag>"
    ),
}


@pytest.fixture
def client():
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    xmpp = ClientXMPP("sender@localhost/res", "unused")
    xmpp.register_plugin("xep_0030")
    xmpp.register_plugin("example_tag")
    yield xmpp
    asyncio.set_event_loop(None)
    loop.close()


def written(stanza) -> bytes:
    """What XMLStream.send writes for ``stanza``."""
    return serializer.tostring(
        stanza.xml, xmlns=stanza.stream.default_ns, stream=stanza.stream, top_level=True
    ).encode()


def iq_carrying(client, xml: str):
    iq = client.make_iq(ito="responder@localhost/res", itype="get", id="1")
    iq.xml.append(ET.fromstring(xml))
    return iq


@pytest.mark.parametrize("name", sorted(PAYLOADS))
@pytest.mark.parametrize("patched", [False, True])
def test_size_is_what_slixmpp_writes(client, name, patched):
    iq = iq_carrying(client, PAYLOADS[name])
    if patched:
        assert patches.apply()
    assert wire_size(iq) == len(written(iq))  # whichever escaping is installed
    assert wire_size(iq, patched=patched) == len(written(iq))
    # Inside its parent, as the serializer writes a child.
    inner = serializer.tostring(iq.xml[0], xmlns="jabber:client", stream=client).encode()
    assert wire_size(iq.xml[0], stream=client, parent_namespace="jabber:client", patched=patched) == len(inner)


def test_either_escaping_on_request_whatever_is_installed(client):
    iq = iq_carrying(client, PAYLOADS["newlines"])
    unpatched = len(written(iq))
    assert patches.apply()
    patched = len(written(iq))
    patches.revert()
    assert wire_size(iq, patched=True) == patched
    assert wire_size(iq, patched=False) == unpatched


def test_quotes_grow_six_times():
    bare = wire_size(ET.fromstring(f"<example_tag xmlns='{NAMESPACE}' some_string=''/>"))
    quoted = wire_size(ET.fromstring(PAYLOADS["quotes"]), patched=False)
    assert quoted - bare == 6 * 300  # &quot;


def test_newlines_grow_five_times_only_when_patched():
    bare = wire_size(ET.fromstring(f"<example_tag xmlns='{NAMESPACE}' some_string=''/>"))
    element = ET.fromstring(f"<example_tag xmlns='{NAMESPACE}' some_string='{'&#10;' * 300}'/>")
    assert wire_size(element, patched=False) - bare == 300
    assert wire_size(element, patched=True) - bare == 5 * 300  # &#10;


def test_declared_prefix_file_is_measured_as_written_not_as_stored(client, tmp_path):
    path = tmp_path / "prefixed.xml"
    path.write_text(
        f"<ours:example_tag xmlns:ours='{NAMESPACE}' some_string='s'>"
        "<ours:inside_tag first_field='1'/><ours:inside_tag first_field='2'/></ours:example_tag>"
    )
    iq = client.make_iq(ito="responder@localhost/res", itype="get", id="1")
    iq["example_tag"].setup_from_file(path)
    tag_bytes = serializer.tostring(iq["example_tag"].xml, xmlns="jabber:client", stream=client).encode()
    assert b"ours:" not in tag_bytes
    assert wire_size(iq["example_tag"], parent_namespace="jabber:client") == len(tag_bytes) != path.stat().st_size
    assert wire_size(iq) == len(written(iq))


def test_deep_tree_is_measured_without_recursion():
    depth = 5000
    root = ET.Element(f"{{{NAMESPACE}}}example_tag")
    node = root
    for _ in range(depth):
        node = ET.SubElement(node, f"{{{NAMESPACE}}}n")
    # root with its namespace, then depth <n> levels, the innermost empty.
    expected = len(f'<example_tag xmlns="{NAMESPACE}">') + (depth - 1) * len("<n></n>") + len("<n />")
    expected += len("</example_tag>")
    assert wire_size(root) == expected


def test_what_slixmpp_cannot_write_is_a_value_error():
    element = ET.Element(f"{{{NAMESPACE}}}example_tag")
    element.append(ET.Comment("c"))
    with pytest.raises(ValueError, match="comment"):
        wire_size(element)
    with pytest.raises(ValueError):
        wire_size(ET.Element(f"{{{NAMESPACE}}}example_tag", {"a": "\ud800"}))


def refusal(client, some_string: str):
    request = iq_carrying(client, f"<example_tag xmlns='{NAMESPACE}' some_string='{some_string}'>big</example_tag>")
    request["from"] = "responder@localhost/res"
    reply = client.make_iq(ito=request["from"], itype="error", id=request["id"])
    reply["error"]["condition"] = "bad-request"
    reply["error"]["text"] = "no"
    return request, reply


def test_echo_kept_when_the_reply_fits(client):
    request, reply = refusal(client, "small")
    assert bounded_echo(reply, request.xml[0]) is True
    assert written(reply).startswith(
        b'<iq id="1" to="responder@localhost/res" type="error">'
        b'<example_tag xmlns="https://example.net/our_extension" some_string="small" /><error'
    )
    assert len(written(reply)) <= ECHO_BUDGET


@pytest.mark.parametrize("patched", [False, True])
def test_bare_error_when_the_echo_would_exceed_the_budget(client, patched):
    # 700 newlines and 700 quotes: 1,400 characters, 4,900 bytes as slixmpp writes them, 7,700 patched.
    request, reply = refusal(client, "&#10;&quot;" * 700)
    bare = len(written(reply))
    if patched:
        assert patches.apply()
    budget = 6000
    assert bounded_echo(reply, request.xml[0], budget, patched=patched) is (not patched)
    assert len(written(reply)) <= budget
    assert (b"example_tag" in written(reply)) is (not patched)
    if patched:
        assert len(written(reply)) == bare


def test_echo_never_copies_content(client):
    request, reply = refusal(client, "s")
    ET.SubElement(request.xml[0], f"{{{NAMESPACE}}}inside_tag")
    bounded_echo(reply, request.xml[0])
    echo = reply.xml[0]
    assert echo.text is None and len(echo) == 0 and echo is not request.xml[0]


def test_example_tag_stanza_measured_like_its_string():
    tag = ExampleTag()
    tag.fill_interfaces(True, "s", "t")
    assert wire_size(tag, parent_namespace="") == len(str(tag).encode())


def test_error_reply_is_built_from_id_from_and_to_only(client):
    request = iq_carrying(client, PAYLOADS["tutorial"])
    request["from"] = "sender@localhost/res"
    request["to"] = "tester@localhost/res"
    reply = error_reply(request, "bad-request", "x" * 1000, etype="modify")
    assert written(reply) == (
        b'<iq id="1" to="sender@localhost/res" type="error"><error type="modify">'
        b'<bad-request xmlns="urn:ietf:params:xml:ns:xmpp-stanzas" />'
        b'<text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas">' + b"x" * (MAX_ERROR_TEXT - 1) + "…".encode() + b"</text>"
        b"</error></iq>"
    )
    assert len(request.xml) == 1  # the request is untouched


def test_a_component_answers_from_the_address_it_was_asked(client):
    client.is_component = True
    request = iq_carrying(client, PAYLOADS["tutorial"])
    request["from"] = "sender@localhost/res"
    request["to"] = "service.localhost"
    reply = error_reply(request, "bad-request", "no")
    assert (reply["from"], reply["to"]) == ("service.localhost", "sender@localhost/res")

"""Scansion's matching rules (xmpp_ext.scenario.matching): each rule with a matching case and a failing one."""

from __future__ import annotations

import pytest
from slixmpp.xmlstream import ET

from xmpp_ext.scenario.matching import Matcher
from xmpp_ext.scenario.script import parse
from xmpp_ext.scenario.sidebyside import MAX_LINES, mismatch, pretty
from xmpp_ext.scenario.variables import VariableError, Variables
from xmpp_ext.scenario.xmlblock import parse_block

HEADER = (
    "[Client] Romeo\n\tjid: romeo@localhost\n\tpassword: pw\n"
    "[Client] Juliet\n\tjid: juliet@localhost/balcony\n\tpassword: pw\n-----\n"
    "Romeo connects\nJuliet connects\n"
)


def expected(xml: str):
    """The first stanza of a receives: block, and the script it belongs to."""
    block = "\n".join("\t" + line for line in xml.splitlines())
    script = parse(HEADER + "Romeo receives:\n" + block + "\n")
    return script.actions[-1].stanzas[0], script


def received(xml: str) -> ET.Element:
    return parse_block(xml).stanzas[0]


def compare(want: str, got: str, **jids: str):
    stanza, script = expected(want)
    variables = Variables(script, environ={})
    variables.full_jids.update(jids)
    return Matcher(variables.fill).compare(stanza, received(got))


def difference(want: str, got: str):
    found, _captures = compare(want, got)
    assert found is not None, "the stanzas were expected to differ"
    return found


def matches(want: str, got: str) -> bool:
    return compare(want, got)[0] is None


# -- non-strict: the stanza's own namespace ----------------------------------------


def test_non_strict_ignores_extra_attributes_and_children_and_their_order():
    want = '<message type="chat"><body>hi</body><thread>t1</thread></message>'
    got = (
        '<message type="chat" to="x@y/z" xml:lang="en" id="9">'
        '<thread>t1</thread><x xmlns="urn:x"/><body>hi</body></message>'
    )
    assert matches(want, got)


def test_non_strict_missing_attribute_fails():
    found = difference('<message type="chat"/>', "<message/>")
    assert (found.kind, found.path) == ("missing attribute", "message")
    assert found.detail == "attribute type is missing (expected 'chat')"


def test_differing_attribute_value_fails():
    found = difference('<iq type="result" id="a1"/>', '<iq type="error" id="a1"/>')
    assert found.kind == "attribute value"
    assert found.detail == "attribute type differs: expected 'result', received 'error'"


def test_non_strict_missing_child_fails():
    found = difference("<message><body/><subject/></message>", "<message><body>hi</body></message>")
    assert (found.kind, found.path, found.detail) == ("missing child", "message/subject", "missing child <subject>")


def test_a_child_matches_only_once():
    want = "<message><body/><body/></message>"
    assert not matches(want, "<message><body>a</body></message>")
    assert matches(want, "<message><body>a</body><body>b</body></message>")


def test_a_same_named_child_that_differs_explains_the_miss():
    found = difference("<message><body>hello</body></message>", "<message><body>bye</body></message>")
    assert (found.kind, found.path) == ("text", "message/body")
    assert found.detail == "text differs: expected 'hello', received 'bye'"


def test_text_is_compared_without_indentation_and_absent_text_matches_any():
    assert matches("<message><body>\n\t\thello\n\t</body></message>", "<message><body>hello</body></message>")
    assert matches("<message><body/></message>", "<message><body>anything at all</body></message>")
    assert not matches("<message><body>hello</body></message>", "<message><body/></message>")


def test_among_several_children_of_that_name_a_missing_one_is_named_with_its_attributes():
    want = '<iq><query xmlns="urn:q" scansion:strict="false"><feature var="a"/><feature var="c"/></query></iq>'
    assert matches(want, '<iq><query xmlns="urn:q"><feature var="c"/><feature var="b"/><feature var="a"/></query></iq>')
    found = difference(want, '<iq><query xmlns="urn:q"><feature var="a"/><feature var="b"/></query></iq>')
    assert (found.kind, found.path, found.detail) == (
        "missing child",
        "iq/query/feature[2]",
        'missing child <feature var="c"> (urn:q)',
    )


def test_stanza_name_and_namespace_must_be_equal():
    assert difference("<iq/>", "<message/>").detail == "expected <iq>, received <message>"
    found = difference('<iq><query xmlns="jabber:iq:roster"/></iq>', '<iq><query xmlns="jabber:iq:version"/></iq>')
    assert found.kind == "missing child"  # non-strict: no child of that name and namespace


# -- strict: a namespace of its own ----------------------------------------------


def test_strict_is_the_default_for_elements_with_their_own_namespace():
    want = '<iq type="result"><query xmlns="jabber:iq:roster"><item jid="a@b"/></query></iq>'
    assert matches(want, '<iq type="result" id="1"><query xmlns="jabber:iq:roster"><item jid="a@b"/></query></iq>')
    extra_attribute = difference(
        want, '<iq type="result"><query xmlns="jabber:iq:roster" ver="3"><item jid="a@b"/></query></iq>'
    )
    assert (extra_attribute.kind, extra_attribute.path) == ("unexpected attribute", "iq/query")
    extra_child = difference(
        want, '<iq type="result"><query xmlns="jabber:iq:roster"><item jid="a@b"/><item jid="c@d"/></query></iq>'
    )
    assert extra_child.kind == "unexpected child"
    assert extra_child.detail.startswith("unexpected child <item> (jabber:iq:roster)")


def test_strict_requires_the_children_in_order():
    want = '<iq><query xmlns="urn:q"><a/><b/></query></iq>'
    assert matches(want, '<iq><query xmlns="urn:q"><a/><b/></query></iq>')
    found = difference(want, '<iq><query xmlns="urn:q"><b/><a/></query></iq>')
    assert (found.kind, found.path) == ("name", "iq/query/a")
    missing = difference(want, '<iq><query xmlns="urn:q"><a/></query></iq>')
    assert (missing.kind, missing.path) == ("missing child", "iq/query/b")


def test_scansion_strict_switches_the_mode_for_the_element_and_below():
    relaxed = '<iq><query xmlns="jabber:iq:roster" scansion:strict="false"><item jid="a@b"/></query></iq>'
    assert matches(relaxed, '<iq><query xmlns="jabber:iq:roster" ver="7"><x/><item jid="a@b" name="A"/></query></iq>')
    assert not matches(relaxed, '<iq><query xmlns="jabber:iq:roster"><item jid="c@d"/></query></iq>')
    tight = '<message scansion:strict="true"><body>hi</body></message>'
    assert matches(tight, "<message><body>hi</body></message>")
    assert difference(tight, '<message id="1"><body>hi</body></message>').kind == "unexpected attribute"


# -- {scansion:any}, captures and variables ---------------------------------------


def test_scansion_any_needs_the_attribute_but_not_its_value():
    want = '<iq type="set" id="{scansion:any}"/>'
    assert matches(want, '<iq type="set" id="push-123"/>')
    found = difference(want, '<iq type="set"/>')
    assert found.detail == "attribute id is missing (expected any value)"


def test_a_capture_stores_the_value_only_on_a_match():
    want = '<iq type="set" id="{scansion:capture:push}"/>'
    assert compare(want, '<iq type="set" id="p1"/>') == (None, {"push": "p1"})
    found, captures = compare(want, '<iq type="get" id="p1"/>')
    assert found is not None and captures == {}


def test_variables_are_filled_before_comparing():
    want = '<message from="${Juliet\'s full JID}" to="${Romeo\'s JID}"/>'
    found, _ = compare(want, '<message from="juliet@localhost/balcony" to="romeo@localhost"/>')
    assert found is None
    found, _ = compare(want, '<message from="juliet@localhost/other" to="romeo@localhost"/>')
    assert (
        found.detail == "attribute from differs: expected 'juliet@localhost/balcony', received 'juliet@localhost/other'"
    )
    # After connecting, the JID the server bound is the value.
    found, _ = compare(
        want, '<message from="juliet@localhost/bound" to="romeo@localhost"/>', Juliet="juliet@localhost/bound"
    )
    assert found is None


def test_a_jid_variable_is_the_jid_line_as_written():
    # Juliet's definition names a resource: Scansion's ${Juliet's JID} keeps it (Prosody's MUC scripts rely on that).
    assert compare('<message from="${Juliet\'s JID}"/>', '<message from="juliet@localhost/balcony"/>')[0] is None
    assert compare('<message from="${Juliet\'s JID}"/>', '<message from="juliet@localhost"/>')[0] is not None


def test_a_full_jid_without_resource_before_connecting_is_an_error():
    stanza, script = expected('<message from="${Romeo\'s full JID}"/>')
    with pytest.raises(VariableError, match="Romeo has not connected"):
        Matcher(Variables(script, environ={}).fill).compare(stanza, received('<message from="romeo@localhost/x"/>'))


def test_environment_variables_fill_in_and_a_missing_one_is_named():
    stanza, script = expected("<message from='${env:XMPPEXT_SCENARIO_PEER}'/>")
    ok = Matcher(Variables(script, environ={"XMPPEXT_SCENARIO_PEER": "bot@localhost/r"}).fill)
    assert ok.compare(stanza, received('<message from="bot@localhost/r"/>'))[0] is None
    with pytest.raises(VariableError, match="XMPPEXT_SCENARIO_PEER is not set"):
        Matcher(Variables(script, environ={}).fill).compare(stanza, received("<message from='x'/>"))


def test_the_first_difference_in_document_order_is_reported():
    want = '<iq type="result"><query xmlns="urn:q"><a x="1"/><b y="2"/></query></iq>'
    found = difference(want, '<iq type="result"><query xmlns="urn:q"><a x="9"/><b y="9"/></query></iq>')
    assert found.path == "iq/query/a"
    assert found.expected is not None and found.expected.get("x") == "1"
    assert found.received is not None and found.received.get("x") == "9"


# -- the report of a mismatch --------------------------------------------------------


def test_the_report_shows_both_stanzas_side_by_side_and_marks_the_difference():
    stanza, script = expected(
        '<iq type="result" id="r1">\n\t<query xmlns="jabber:iq:roster" ver="{scansion:any}"/>\n</iq>'
    )
    variables = Variables(script, environ={})
    got = received('<iq type="result" id="r1" to="romeo@localhost/x"><query xmlns="jabber:iq:roster"/></iq>')
    found, _ = Matcher(variables.fill).compare(stanza, got)
    rows = mismatch(stanza, got, found, variables.show, script.line_of).lines(160)
    query_line = script.line_of(stanza[0])
    assert rows[0].split("|")[0].strip() == f"expected (line {script.line_of(stanza)})"
    assert rows[0].split("|")[1].strip() == "received"
    marked = [row for row in rows[1:-1] if row.startswith(">")]
    assert len(marked) == 1
    left, right = marked[0].split("|")
    assert '<query xmlns="jabber:iq:roster" ver="{scansion:any}"/>' in left
    assert right == '>  <query xmlns="jabber:iq:roster"/>'  # received side marked too
    assert rows[-1] == (
        f"  first difference, line {query_line}, at iq/query: attribute ver is missing (expected any value)"
    )


def test_the_report_marks_an_unexpected_child_on_the_received_side_and_clips_long_stanzas():
    stanza, _script = expected('<iq><query xmlns="urn:q"/></iq>')
    children = "".join(f'<item n="{n}"/>' for n in range(200))
    got = received(f'<iq><query xmlns="urn:q">{children}</query></iq>')
    found, _ = Matcher(str).compare(stanza, got)
    assert found.kind == "unexpected child"
    lines, mark = pretty(got, str, found.received)
    assert lines[mark].strip() == '<item n="0"/>'
    assert len(lines) <= MAX_LINES and lines[-1].strip() == "…"


# -- laid out for the terminal ------------------------------------------------------------

GREETING_EXPECTED = (
    '<iq type="result" id="g1" from="juliet@localhost/nIlO3ClzmUyl">\n'
    '\t<greeting xmlns="urn:example:greeting" lang="en">Good morrow, fair Romeo, good morrow</greeting>\n</iq>'
)
GREETING_RECEIVED = (
    '<iq id="g1" xml:lang="en" type="result" from="juliet@localhost/nIlO3ClzmUyl" to="romeo@localhost/abcdef">'
    '<greeting xmlns="urn:example:greeting">Good morrow, fair Romeo, good morrow</greeting></iq>'
)


def greeting_report():
    stanza, script = expected(GREETING_EXPECTED)
    got = received(GREETING_RECEIVED)
    found, _ = Matcher(str).compare(stanza, got)
    assert found.detail == "attribute lang is missing (expected 'en')"
    return mismatch(stanza, got, found, str, script.line_of)


@pytest.mark.parametrize("width", [76, 100, 160])
def test_the_report_fits_the_width_and_wraps_instead_of_clipping(width):
    rows = greeting_report().lines(width)
    assert max(len(row) for row in rows) <= width, "\n".join(rows)
    assert not any("…" in row for row in rows)  # nothing is cut off: long lines are wrapped
    left = " ".join(row.split(" |")[0][2:].strip() for row in rows[1:-1])
    right = " ".join(row.split(" |")[1][1:].strip() for row in rows[1:-1] if " |" in row)
    # Rejoined, each side holds its stanza whole, the attribute that differs included.
    assert 'lang="en">Good morrow, fair Romeo, good morrow</greeting>' in left
    assert 'to="romeo@localhost/abcdef"' in right
    marked = [row for row in rows if row.startswith(">")]
    assert len(marked) == 1 and "<greeting" in marked[0].split(" |")[0]
    assert marked[0].split(" |")[1].startswith(">  <greeting")  # and the received side's element on that row


def test_a_narrow_terminal_shows_the_two_stanzas_one_above_the_other():
    rows = greeting_report().lines(50)
    assert max(len(row) for row in rows) <= 50
    assert rows[0].startswith("  expected (line ") and rows[0].endswith("):")
    received_at = rows.index("  received:")
    assert any(row.startswith("> ") and "<greeting" in row for row in rows[:received_at])
    assert any(row.startswith("> ") and "<greeting" in row for row in rows[received_at:])
    assert rows[-1].startswith("  ") and "attribute lang" in " ".join(rows[-3:])


def test_a_hostile_attribute_takes_a_bounded_number_of_rows():
    stanza, _script = expected('<message><body xmlns="urn:b"/></message>')
    got = received(f'<message><body xmlns="urn:b" x="{"a" * 20_000}"/></message>')
    found, _ = Matcher(str).compare(stanza, got)
    rows = mismatch(stanza, got, found, str, lambda _element: 1).lines(80)
    assert len(rows) < 20 and max(len(row) for row in rows) <= 80

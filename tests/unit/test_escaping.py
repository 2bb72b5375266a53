"""Attribute values and text reach the peer exactly as given (xmpp_ext.escaping)."""

from __future__ import annotations

from xml.etree import ElementTree

import pytest
from slixmpp.xmlstream import tostring

from xmpp_ext import escaping
from xmpp_ext.plugin import ExampleTag

AWKWARD = "tab\there\nnew line\r\nCRLF & <markup> \"quoted\" 'single'"


def round_trip(tag: ExampleTag) -> ElementTree.Element:
    """What the peer's parser makes of the serialised tag."""
    return ElementTree.fromstring(tostring(tag.xml))


@pytest.fixture
def awkward_tag() -> ExampleTag:
    tag = ExampleTag()
    tag.fill_interfaces(True, AWKWARD, AWKWARD)
    tag.add_inside_tag("inside_tag", {"first_field": AWKWARD})
    return tag


def test_whitespace_survives_in_attributes_and_text(awkward_tag, monkeypatch):
    monkeypatch.setattr(escaping.serializer, "escape", escaping.serializer.escape)  # restored afterwards
    escaping.install()
    parsed = round_trip(awkward_tag)
    assert parsed.get("some_string") == AWKWARD
    assert parsed.text == AWKWARD
    assert parsed[0].get("first_field") == AWKWARD
    assert "&#9;" in tostring(awkward_tag.xml)


def test_slixmpp_escaping_alone_loses_it(awkward_tag, monkeypatch):
    # Why the module exists: remove this test and xmpp_ext.escaping once slixmpp escapes these itself.
    monkeypatch.setattr(escaping.serializer, "escape", escaping._slixmpp_escape)
    parsed = round_trip(awkward_tag)
    assert parsed.get("some_string") != AWKWARD
    assert parsed.get("some_string") == AWKWARD.replace("\r\n", " ").replace("\t", " ").replace("\n", " ")


def test_cdata_mode_keeps_slixmpp_escaping():
    assert escaping.escape("a<b", use_cdata=True) == escaping._slixmpp_escape("a<b", use_cdata=True)

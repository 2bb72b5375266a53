"""Untrusted-input parsing and checks (xmpp_ext.plugin.payload), offline."""

import pytest

import xmpp_ext.plugin
from xmpp_ext.plugin import payload, stanza

PAYLOAD_NAMES = (
    "MAX_PAYLOAD_BYTES",
    "ExampleTagError",
    "check_payload_size",
    "check_xml_attributes",
    "check_xml_name",
    "check_xml_text",
    "parse_boolean",
    "parse_xml",
)


@pytest.mark.parametrize("name", PAYLOAD_NAMES)
def test_checks_live_in_payload_and_old_imports_still_work(name):
    # payload.py owns them; the package and stanza.py hand out the very same objects.
    assert getattr(xmpp_ext.plugin, name) is getattr(payload, name)
    assert getattr(stanza, name) is getattr(payload, name)
    assert name in xmpp_ext.plugin.__all__


def test_stanza_module_defines_only_stanza_classes():
    defined_here = {
        name
        for name, value in vars(stanza).items()
        if getattr(value, "__module__", None) == stanza.__name__ and not name.startswith("__")
    }
    assert defined_here == {"ExampleTag", "InsideTag", "_TextInterface"}


@pytest.mark.parametrize(
    "name",
    [
        "µ",  # U+00B5: a letter to Python's \w, outside NameStartChar
        "ª",
        "²",
        "aµ",
        "a²",
        "Ⅻ",  # fifth-edition NameStartChar, refused by expat (Prosody, ejabberd)
        "\U0001d49c",  # MATHEMATICAL SCRIPT CAPITAL A: the same
        "a\u203fb",
        "",
        "-a",
        "1a",
        "·a",
        "a:b",  # an NCName has no colon
        "a b",
        "a>",
    ],
)
def test_names_outside_the_production_or_expat_are_refused(name):
    with pytest.raises(payload.ExampleTagError, match="is not an XML name"):
        payload.check_xml_name(name, "element name")


@pytest.mark.parametrize("name", ["a·b", "a-b.c_d", "_x", "inside_tag", "Ā", "à", "ก", "a\u0300", "ↀ"])
def test_names_in_the_production_are_accepted(name):
    assert payload.check_xml_name(name) == name

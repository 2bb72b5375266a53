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

"""The example_tag extension as a slixmpp plugin.

``import xmpp_ext.plugin`` registers it by name, so any slixmpp client can
``xmpp.register_plugin("example_tag")``.
"""

from slixmpp.plugins.base import register_plugin

from xmpp_ext.plugin.example_tag import ExampleTagPlugin, fill_tag
from xmpp_ext.plugin.payload import (
    MAX_PAYLOAD_BYTES,
    ExampleTagError,
    check_payload_size,
    check_xml_attributes,
    check_xml_name,
    check_xml_text,
    parse_boolean,
    parse_xml,
)
from xmpp_ext.plugin.stanza import EXAMPLE_TAG, NAMESPACE, ExampleTag, InsideTag

register_plugin(ExampleTagPlugin)

__all__ = [
    "EXAMPLE_TAG",
    "MAX_PAYLOAD_BYTES",
    "NAMESPACE",
    "ExampleTag",
    "ExampleTagError",
    "ExampleTagPlugin",
    "InsideTag",
    "check_payload_size",
    "check_xml_attributes",
    "check_xml_name",
    "check_xml_text",
    "fill_tag",
    "parse_boolean",
    "parse_xml",
]

"""The example_tag extension as a slixmpp plugin.

``import xmpp_ext.plugin`` registers it by name, so any slixmpp client can
``xmpp.register_plugin("example_tag")``.
"""

from slixmpp.plugins.base import register_plugin

from xmpp_ext.plugin.example_tag import ExampleTagPlugin, fill_tag
from xmpp_ext.plugin.stanza import (
    MAX_PAYLOAD_BYTES,
    NAMESPACE,
    ExampleTag,
    ExampleTagError,
    InsideTag,
    parse_boolean,
    parse_xml,
)

register_plugin(ExampleTagPlugin)

__all__ = [
    "MAX_PAYLOAD_BYTES",
    "NAMESPACE",
    "ExampleTag",
    "ExampleTagError",
    "ExampleTagPlugin",
    "InsideTag",
    "fill_tag",
    "parse_boolean",
    "parse_xml",
]

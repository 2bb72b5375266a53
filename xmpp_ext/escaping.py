"""Serialise tab, newline and carriage return as character references.

slixmpp's serializer escapes only ``& < > " '``. A receiving XML parser then
changes what was sent: in an attribute value a tab, newline or carriage
return becomes a space (XML 1.0 §3.3.3, attribute-value normalisation), and in
text a carriage return becomes a newline (§2.11). A tool for testing an
extension's attributes must deliver them exactly as given, so these three are
written as ``&#9;`` ``&#10;`` ``&#13;``, which every parser reads back as the
character itself. Every other byte on the wire stays the same; the escape is
also a single ``str.translate`` instead of slixmpp's per-character join.

Installed by ``xmpp_ext.client`` for the command's own clients; an
application using only the plugin can call ``install()`` itself.
"""

from __future__ import annotations

import importlib

# Not ``from slixmpp.xmlstream import tostring``: the package re-exports the
# function tostring() under the same name as the module that defines it.
serializer = importlib.import_module("slixmpp.xmlstream.tostring")

_ESCAPES = str.maketrans(
    {
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
        "'": "&apos;",
        '"': "&quot;",
        "\t": "&#9;",
        "\n": "&#10;",
        "\r": "&#13;",
    }
)
_slixmpp_escape = serializer.escape


def escape(text: str, use_cdata: bool = False) -> str:
    """slixmpp's ``tostring.escape``, with tab, newline and carriage return as character references."""
    if use_cdata:  # slixmpp's optional CDATA mode keeps its own escaping
        return _slixmpp_escape(text, use_cdata)
    return text.translate(_ESCAPES)


def install() -> None:
    """Make slixmpp's serializer use ``escape`` (idempotent)."""
    serializer.escape = escape

"""The stanza size limit a server announces in its stream features (XEP-0478), read by our clients.

Without an announcement a client may count on 10,000 bytes: RFC 6120
§13.12 forbids servers to refuse stanzas up to that size.
"""

from __future__ import annotations

from collections.abc import Callable

import slixmpp
from slixmpp.stanza import StreamFeatures
from slixmpp.xmlstream import ElementBase, register_stanza_plugin

NAMESPACE = "urn:xmpp:stream-limits:0"
#: Bytes of a stanza every server accepts (RFC 6120 §13.12).
SAFE_STANZA_BYTES = 10_000


class StreamLimits(ElementBase):
    """``<limits xmlns='urn:xmpp:stream-limits:0'><max-bytes>N</max-bytes>...</limits>``."""

    name = "limits"
    namespace = NAMESPACE
    plugin_attrib = "limits"
    interfaces = {"max_bytes"}

    def get_max_bytes(self) -> int | None:
        text = self.xml.findtext(f"{{{NAMESPACE}}}max-bytes") or ""
        return int(text) if text.isascii() and text.isdigit() and len(text) < 12 else None


def watch_stanza_limit(client: slixmpp.ClientXMPP, on_limit: Callable[[int], None]) -> None:
    """Call ``on_limit(max_bytes)`` whenever the server announces its limit (never below the safe size)."""
    register_stanza_plugin(StreamFeatures, StreamLimits)

    def read(features: StreamFeatures) -> bool:
        max_bytes = features["limits"]["max_bytes"]
        if max_bytes is not None:
            on_limit(max(SAFE_STANZA_BYTES, max_bytes))
        return False  # informational: no stream restart

    client.register_feature("limits", read, restart=False, order=10_000)

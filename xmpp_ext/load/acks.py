"""Stream management's ack requests answered from an incoming filter, before slixmpp's handler scan.

Prosody asks for an ack (``<r/>``, XEP-0198 §4) after nearly every stanza it
delivers, so a load session with stream management receives about as many
``<r/>`` as stanzas. slixmpp answers each through its handler scan (every
registered handler's matcher tried in turn) and builds an ``Ack`` stanza
object to serialise ``<a h='N'/>``. ``answer_ack_requests`` answers it in a
filter instead, with the same ``h``: the handled count that slixmpp's
counting filter, which runs before every other incoming filter (the session
layer registers it first), has already brought up to date for every stanza
received before the ``<r/>``. The ``<a/>`` goes out with whatever else the
session writes in that event-loop pass (xmpp_ext.load.coalesce).
"""

from __future__ import annotations

import slixmpp

from xmpp_ext.session import slixmpp_private

SM_NAMESPACE = "urn:xmpp:sm:3"
REQUEST_TAG = f"{{{SM_NAMESPACE}}}r"


def answer_ack_requests(client: slixmpp.ClientXMPP) -> None:
    """Answer ``<r/>`` in an incoming filter of ``client`` (which has stream management registered)."""
    state = slixmpp_private.StreamManagementState(client.plugin[slixmpp_private.SM_PLUGIN])

    def answer(stanza: slixmpp.xmlstream.StanzaBase) -> slixmpp.xmlstream.StanzaBase | None:
        if stanza.xml.tag != REQUEST_TAG:
            return stanza
        if client.transport:  # as slixmpp's own answer: none on a connection that is gone
            client.send_raw(f"<a xmlns='{SM_NAMESPACE}' h='{state.handled}'/>")
        return None

    client.add_filter("in", answer)

"""Stream management's ack requests answered before slixmpp makes a stanza of them.

Prosody asks for an ack (``<r/>``, XEP-0198 §4) after nearly every stanza it
delivers, so a load session with stream management receives about as many
``<r/>`` as stanzas. slixmpp builds a stanza object of each, runs it through
its incoming filters and its handler scan (every registered handler's
matcher tried in turn) and builds an ``Ack`` stanza object to serialise
``<a h='N'/>``. ``answer_ack_requests`` takes the element as the parser
hands it over (``slixmpp_private.claim_before_stanzas``) and answers with the
same ``h``: slixmpp's counting filter (or, for the stanzas the exchange
claims the same way, xmpp_ext.load.exchange.take_first) has already counted
every stanza received before the ``<r/>``, all synchronously as each is
parsed. The ``<a/>`` goes out with whatever else the session writes in that
event-loop pass (xmpp_ext.load.coalesce)."""

from __future__ import annotations

import slixmpp

from xmpp_ext.session import slixmpp_private

SM_NAMESPACE = "urn:xmpp:sm:3"
REQUEST_TAG = f"{{{SM_NAMESPACE}}}r"


def answer_ack_requests(client: slixmpp.ClientXMPP) -> None:
    """Answer ``<r/>`` before slixmpp builds a stanza of it, for ``client`` (which has stream management)."""
    state = slixmpp_private.StreamManagementState(client.plugin[slixmpp_private.SM_PLUGIN])

    def answer(xml) -> bool:
        if xml.tag != REQUEST_TAG:
            return False
        if client.transport:  # as slixmpp's own answer: none on a connection that is gone
            client.send_raw(f"<a xmlns='{SM_NAMESPACE}' h='{state.handled}'/>")
        return True

    slixmpp_private.claim_before_stanzas(client, answer)

"""Requests a hostile or careless peer may send, through the real local server."""

from __future__ import annotations

import copy

import pytest
from slixmpp.exceptions import IqError
from slixmpp.xmlstream import ET

from tests.integration.helpers import run
from tests.integration.test_server_exchange import answer_like_the_tutorial, two_sessions
from xmpp_ext.plugin import NAMESPACE

pytestmark = pytest.mark.integration


# Who refuses an iq get/set with two payloads (RFC 6120 §8.2.3): Prosody checks
# the child count itself before routing; ejabberd routes it, and the plugin refuses it.
REFUSED_BY = {
    "prosody": ("Incorrect number of children for IQ stanza", 0),
    "ejabberd": ("an iq get/set carries exactly one payload element (RFC 6120 §8.2.3), not 2", 1),
}


@pytest.mark.parametrize("second", ["example_tag", "query"])
def test_request_with_two_payloads_gets_bad_request(xmpp_server, make_account, second):
    expected_text, plugin_refusals = REFUSED_BY[xmpp_server.kind]

    async def scenario():
        async with two_sessions(xmpp_server, make_account) as (responder, sender):
            seen = answer_like_the_tutorial(responder)
            refused = []
            responder.add_event_handler("example_tag_invalid_iq", refused.append)
            iq = sender.plugin["example_tag"].make_request(responder.boundjid, {"some_string": "s"}, itype="set")
            if second == "example_tag":
                iq.xml.append(copy.deepcopy(iq["example_tag"].xml))
            else:
                iq.xml.append(ET.Element("{jabber:iq:version}query"))
            with pytest.raises(IqError) as info:
                await iq.send(timeout=10)
            assert info.value.condition == "bad-request"
            assert info.value.text.startswith(expected_text)
            assert seen == []
            assert len(refused) == plugin_refusals

    run(scenario)


def test_deeply_nested_request_is_refused_by_the_depth_guard(xmpp_server, make_account):
    # 100 levels: deep enough for the guard (32), shallow enough for slixmpp to serialise.
    # Every client built by xmpp_ext.session.client has the guard as its first incoming filter.
    async def scenario():
        async with two_sessions(xmpp_server, make_account) as (responder, sender):
            seen = answer_like_the_tutorial(responder)
            iq = sender.plugin["example_tag"].make_request(responder.boundjid, {"some_string": "s"})
            node = iq["example_tag"].xml
            for _ in range(100):
                node = ET.SubElement(node, f"{{{NAMESPACE}}}n")
            with pytest.raises(IqError) as info:
                await iq.send(timeout=10)
            assert info.value.condition == "bad-request"
            assert info.value.text == "stanza nested deeper than 32 elements; this entity accepts at most 32"
            assert seen == []
            # The responder's stream is still up: a shallow request is answered.
            reply = await sender.plugin["example_tag"].request(responder.boundjid, {"some_string": "s"}, timeout=10)
            assert reply["type"] == "result" and len(seen) == 1

    run(scenario)

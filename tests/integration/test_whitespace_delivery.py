"""What tab, newline and carriage return in an attribute value look like after the server, per server.

xmpp_ext.session.patches writes them as character references, so they leave the
sender exactly as given. Whether they arrive so depends on the server: one
that re-serialises the stanza writes them raw, and the receiver's XML parser
then turns each into a space (XML 1.0 §3.3.3). The README states what each
server delivers; this test is what it states.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.integration.helpers import run
from xmpp_ext.session import connected

pytestmark = pytest.mark.integration

AWKWARD = "tab\there|newline\nhere|return\rhere"
# What the receiving client reads, by server.
DELIVERED = {
    "prosody": AWKWARD.replace("\t", " ").replace("\n", " ").replace("\r", " "),
    "ejabberd": AWKWARD,
}


def test_whitespace_in_attributes_through_the_server(xmpp_server, make_account, patched_slixmpp):
    async def scenario():
        async with (
            connected(xmpp_server.settings_for(make_account(), "receiver")) as receiver,
            connected(xmpp_server.settings_for(make_account(), "sender")) as sender,
        ):
            arrived: asyncio.Future = asyncio.get_running_loop().create_future()

            def answer(iq):
                if not arrived.done():
                    arrived.set_result(iq["example_tag"]["some_string"])
                iq.reply().send()

            receiver.add_event_handler("example_tag_get_iq", answer)
            iq = sender.plugin["example_tag"].make_request(receiver.boundjid, {"some_string": AWKWARD})
            assert "&#9;" in str(iq) and "&#10;" in str(iq) and "&#13;" in str(iq)  # leaves as references
            iq.send(timeout=10)
            return await asyncio.wait_for(arrived, 10)

    assert run(scenario) == DELIVERED[xmpp_server.kind]

"""The greeting plugin and the bot's answers, on a real server (the xmppext pytest plugin's fixtures)."""

import greeting  # noqa: F401  (registers the "greeting" plugin)
import pytest
from bot import answer
from slixmpp.exceptions import IqError

pytestmark = pytest.mark.asyncio


async def test_the_bot_greets_in_the_language_asked_for(xmpp_client):
    alice = await xmpp_client(plugins=["greeting"])
    bot = await xmpp_client(plugins=["greeting"])
    bot.add_event_handler("greeting_request", answer)

    assert await alice.plugin["greeting"].greet(bot.boundjid, "fr", timeout=10) == "Bonjour"


async def test_a_language_the_bot_does_not_know_is_item_not_found(xmpp_client):
    alice = await xmpp_client(plugins=["greeting"])
    bot = await xmpp_client(plugins=["greeting"])
    bot.add_event_handler("greeting_request", answer)

    with pytest.raises(IqError) as refused:
        await alice.plugin["greeting"].greet(bot.boundjid, "tlh", timeout=10)
    assert refused.value.condition == "item-not-found"


async def test_a_greeting_survives_a_cut_mid_exchange(xmpp_client, xmpp_fault_proxy):
    # Alice goes through the fault proxy, with stream management (XEP-0198) on; the bot connects straight.
    alice = await xmpp_client(plugins=["greeting"], through=xmpp_fault_proxy, stream_management=True)
    bot = await xmpp_client(plugins=["greeting"])
    resumed = []
    alice.add_event_handler("session_resumed", resumed.append)

    def cut_then_answer(iq):
        xmpp_fault_proxy.cut_now()  # the request is with the bot: Alice is cut off before the answer leaves
        answer(iq)

    bot.add_event_handler("greeting_request", cut_then_answer)

    assert await alice.plugin["greeting"].greet(bot.boundjid, "de", timeout=20) == "Guten Morgen"
    assert len(resumed) == 1  # her session was resumed: the answer waited for her at the server
    assert xmpp_fault_proxy.counters.cuts == 1

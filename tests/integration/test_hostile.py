"""A hostile account against a running responder: it must never cost the responder its stream.

Each attack is sent raw by an ordinary slixmpp client of another account; the
responder is a real ``xmppext respond`` process. After each attack a normal
request must still be answered, and the responder must never have printed a
disconnection.
"""

from __future__ import annotations

import pytest
from slixmpp.exceptions import IqError

from tests.integration.helpers import run
from xmpp_ext.plugin import NAMESPACE
from xmpp_ext.session import connected

pytestmark = pytest.mark.integration

VALID_TAG = f"<example_tag xmlns='{NAMESPACE}' some_string='x'/>"


async def still_answers(client, peer) -> None:
    result = await client.plugin["example_tag"].request(peer.full_jid, {"some_string": "after"}, timeout=10)
    assert result["example_tag"]["some_string"] == "Reply_string"


@pytest.fixture(params=["stream-management", "no-stream-management"])
def sm(request) -> tuple[str, ...]:
    """Every attack runs against a responder with stream management (the default) and without it."""
    return () if request.param == "stream-management" else ("--no-stream-management",)


def assert_never_disconnected(peer) -> None:
    assert not [line for line in peer.lines if "disconnected" in line or "reconnect" in line], peer.lines


def test_reply_amplified_past_the_stanza_limit_is_not_sent(xmpp_server, make_account, responder, sm):
    # 12,000 '"' in a single-quoted id: 12 KB in the request, 72 KB once the result echoes it as &quot;,
    # past ejabberd's default 64 KiB, and with 50,000 past Prosody's 256 KiB.
    peer = responder(*sm)
    quotes = '"' * (50_000 if xmpp_server.kind == "prosody" else 12_000)

    async def attack():
        async with connected(xmpp_server.settings_for(make_account(), "attacker")) as client:
            client.send_raw(f"<iq type='get' to='{peer.full_jid}' id='{quotes}'>{VALID_TAG}</iq>")
            peer.wait_for_line(lambda line: "not answered (its id would make the reply too large)" in line)
            await still_answers(client, peer)

    run(attack)
    assert_never_disconnected(peer)


def test_error_reply_to_a_sender_outside_allow_stays_small(xmpp_server, make_account, responder, sm):
    # A forbidden reply echoes the refused tag's attributes: they must not be echoed past the limit.
    friend = make_account()
    peer = responder("--allow", friend.jid, *sm)
    big = '"' * 12_000

    async def attack():
        async with connected(xmpp_server.settings_for(make_account(), "attacker")) as client:
            iq = client.make_iq_get(ito=peer.full_jid)
            iq.append(client.plugin["example_tag"].stanza.ExampleTag())
            iq["example_tag"]["some_string"] = big
            with pytest.raises(IqError) as refused:
                await iq.send(timeout=10)
            assert refused.value.condition == "forbidden"
        async with connected(xmpp_server.settings_for(friend, "friend")) as client:
            await still_answers(client, peer)

    run(attack)
    assert_never_disconnected(peer)


def test_same_full_jid_twice_stops_the_first_with_conflict(xmpp_server, make_account, responder, sm):
    account = make_account()
    first = responder(*sm, account=account)
    second = responder(*sm, account=account)
    assert first.full_jid == second.full_jid
    first.wait_for_line(lambda line: "another client logged in as" in line)
    assert first.process.wait(20) == 3
    assert any("conflict" in line for line in first.all_lines()), first.lines
    assert second.process.poll() is None  # the newer one keeps answering


def test_deeply_nested_stanzas_cost_the_responder_nothing(xmpp_server, make_account, responder, sm):
    # With stream management a stanza the depth guard drops was once counted twice for h: Prosody then
    # closed the responder's stream ("Client acknowledged more stanzas than sent by server").
    peer = responder(*sm)
    deep = "<n>" * 40 + "</n>" * 40

    async def attack():
        async with connected(xmpp_server.settings_for(make_account(), "attacker")) as client:
            for number in range(5):
                client.send_raw(f"<message to='{peer.full_jid}' id='deep{number}'><body>x</body>{deep}</message>")
            for _ in range(20):  # enough traffic for the server to ask for acks after the attack
                await still_answers(client, peer)

    run(attack)
    assert_never_disconnected(peer)
    assert sum(line.startswith("READY ") for line in peer.lines) == 1

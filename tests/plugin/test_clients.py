"""The plugin's xmpp_client and stanza helpers, used directly by this suite (strict pytest-asyncio)."""

from __future__ import annotations

import asyncio

import pytest

import xmpp_ext.plugin  # noqa: F401  (registers example_tag)
from xmpp_ext.pytest_plugin import expect_stanza, wait_for_stanza
from xmpp_ext.servers.base import Account
from xmpp_ext.session import ConnectError
from xmpp_ext.util.secret import Secret

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]


async def test_client_has_its_session_resource_and_configured_plugins(xmpp_server, xmpp_account, xmpp_client):
    account = xmpp_account()
    client = await xmpp_client(account, plugins={"example_tag": {"timeout": 3}}, resource="probe")
    assert client.is_connected()
    assert client.boundjid.full == f"{account.jid}/probe"
    assert client.plugin["example_tag"].timeout == 3
    assert client.plugin["xep_0030"]  # the plugin's dependency came along
    info = await client.plugin["xep_0030"].get_info(jid=xmpp_server.domain, timeout=10)
    assert "urn:xmpp:ping" in info["disco_info"]["features"]


async def test_no_account_given_means_a_fresh_one(xmpp_server, xmpp_client):
    first, second = await xmpp_client(), await xmpp_client()
    assert first.boundjid.bare != second.boundjid.bare
    assert {first.boundjid.bare, second.boundjid.bare} <= {account.jid for account in xmpp_server.accounts}


async def test_wrong_password_is_a_one_line_connect_error(xmpp_server, xmpp_account, xmpp_client):
    account = xmpp_account()
    wrong = Account(account.jid, Secret("not-the-password"))
    with pytest.raises(ConnectError, match=rf"cannot log in to .*:{xmpp_server.port} as {account.jid}: authentication"):
        await xmpp_client(wrong)


async def test_expect_stanza_sees_a_message_sent_after_it_started(xmpp_client):
    alice, bob = await xmpp_client(), await xmpp_client()
    arriving = expect_stanza(bob, lambda stanza: stanza.name == "message" and stanza["body"] == "second")
    alice.send_message(mto=bob.boundjid, mbody="first")
    alice.send_message(mto=bob.boundjid, mbody="second")
    message = await arriving
    assert message["from"] == alice.boundjid


async def test_a_broken_predicate_fails_the_wait(xmpp_client):
    alice, bob = await xmpp_client(), await xmpp_client()

    def broken(stanza):
        raise ValueError("predicate bug")

    waiting = expect_stanza(bob, broken)
    alice.send_message(mto=bob.boundjid, mbody="anything")
    with pytest.raises(ValueError, match="predicate bug"):
        await waiting
    # The watch is gone: later stanzas reach the client and a new wait as usual.
    alice.send_message(mto=bob.boundjid, mbody="later")
    later = await wait_for_stanza(bob, lambda stanza: stanza.name == "message")
    assert later["body"] == "later"


# -- through the fault proxy, with stream management ------------------------------------------


def resumptions(client) -> list:
    seen: list = []
    client.add_event_handler("session_resumed", seen.append)
    return seen


async def test_one_connection_per_login_through_the_proxy(xmpp_client, xmpp_fault_proxy):
    """slixmpp would try direct TLS first on an explicit port: two connections per login, one of them wasted."""
    await xmpp_client(through=xmpp_fault_proxy)
    assert xmpp_fault_proxy.counters.connections == 1


async def test_a_cut_mid_exchange_is_resumed_and_the_reply_arrives(xmpp_client, xmpp_fault_proxy):
    alice = await xmpp_client(plugins=["example_tag"], through=xmpp_fault_proxy, stream_management=True)
    bob = await xmpp_client(plugins=["example_tag"])
    resumed = resumptions(alice)

    def answer(iq):
        assert xmpp_fault_proxy.cut_now() == 1  # the request is with Bob: Alice is cut off before the answer
        reply = iq.reply()
        reply["example_tag"].fill_interfaces(True, "Reply_string")
        reply.send()

    bob.add_event_handler("example_tag_get_iq", answer)
    result = await alice.plugin["example_tag"].request(bob.boundjid, {"some_string": "hello"}, timeout=20)
    assert result["example_tag"]["some_string"] == "Reply_string"
    assert len(resumed) == 1
    assert (xmpp_fault_proxy.counters.cuts, xmpp_fault_proxy.counters.connections) == (1, 2)


async def test_without_stream_management_a_cut_client_stays_disconnected(xmpp_client, xmpp_fault_proxy):
    alice = await xmpp_client(through=xmpp_fault_proxy)
    xmpp_fault_proxy.cut_now()
    await alice.disconnected  # slixmpp's future for the end of the connection: nothing brings it back
    assert not alice.is_connected() and xmpp_fault_proxy.counters.connections == 1


async def test_a_client_disconnected_by_the_test_is_not_reconnected(xmpp_client, xmpp_fault_proxy):
    alice = await xmpp_client(through=xmpp_fault_proxy, stream_management=True)
    await alice.disconnect()
    assert not alice.is_connected() and not alice.is_connecting()
    assert xmpp_fault_proxy.counters.connections == 1


async def test_an_unknown_plugin_fails_the_test_saying_how_to_make_it_importable(xmpp_client):
    with pytest.raises(pytest.fail.Exception) as failed:
        await xmpp_client(plugins=["greeting_not_imported"])
    message = str(failed.value)
    assert message.startswith("xmpp_client: no slixmpp plugin named 'greeting_not_imported' is registered.")
    assert "Import the module that registers it" in message and "pythonpath" in message


async def test_a_client_the_server_replaced_is_not_reconnected_to_knock_the_other_off(xmpp_account, xmpp_client):
    account = xmpp_account()
    first = await xmpp_client(account, resource="same", stream_management=True)
    dropped = asyncio.ensure_future(first.wait_until("disconnected", timeout=10))
    second = await xmpp_client(account, resource="same")  # the server ends the first stream with <conflict/>
    await dropped
    assert not first.is_connected() and not first.is_connecting()
    assert second.is_connected()

"""The plugin's xmpp_client and stanza helpers, used directly by this suite (strict pytest-asyncio)."""

from __future__ import annotations

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

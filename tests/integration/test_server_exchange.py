"""Two slixmpp clients with the plugin, through the real local server."""

from __future__ import annotations

import asyncio
import ssl
from contextlib import asynccontextmanager

import pytest
from slixmpp.exceptions import IqError

from tests.integration.helpers import run, settings_for
from xmpp_ext.plugin import NAMESPACE
from xmpp_ext.session import ConnectError, connected
from xmpp_ext.util.secret import Secret

pytestmark = pytest.mark.integration

PAYLOAD = {"boolean": True, "some_string": "Another_string", "text": "Info_inside_tag"}


@asynccontextmanager
async def two_sessions(server, make_account):
    """A responder and a sender, each logged in with a fresh account."""
    async with (
        connected(settings_for(server, make_account(), "responder")) as responder,
        connected(settings_for(server, make_account(), "sender")) as sender,
    ):
        yield responder, sender


def answer_like_the_tutorial(client) -> list:
    """Make ``client`` answer get/set requests like the tutorial's responder; returns the requests seen."""
    seen = []

    def answer(iq):
        seen.append(iq)
        reply = iq.reply()
        reply["example_tag"].fill_interfaces(True, "Reply_string")
        reply.send()

    client.add_event_handler("example_tag_get_iq", answer)
    client.add_event_handler("example_tag_set_iq", answer)
    return seen


def test_login_is_over_verified_tls(xmpp_server, make_account):
    async def scenario():
        async with connected(settings_for(xmpp_server, make_account())) as client:
            ssl_object = client.transport.get_extra_info("ssl_object")
            assert ssl_object is not None, "the stream is not encrypted"
            assert ssl_object.version().startswith("TLS")
            assert client.ssl_context.verify_mode == ssl.CERT_REQUIRED
            assert client.boundjid.resource == "test"

    run(scenario)


@pytest.mark.parametrize("itype", ["get", "set"])
def test_request_gets_the_tutorial_reply(xmpp_server, make_account, itype):
    async def scenario():
        async with two_sessions(xmpp_server, make_account) as (responder, sender):
            seen = answer_like_the_tutorial(responder)
            results = []
            sender.add_event_handler("example_tag_result_iq", results.append)
            reply = await sender.plugin["example_tag"].request(responder.boundjid, PAYLOAD, itype=itype, timeout=10)
            assert reply["type"] == "result"
            assert reply["example_tag"]["boolean"] is True
            assert reply["example_tag"]["some_string"] == "Reply_string"
            assert [iq["example_tag"]["some_string"] for iq in seen] == ["Another_string"]
            assert seen[0]["example_tag"]["text"] == "Info_inside_tag"
            assert seen[0]["from"] == sender.boundjid
            assert [iq["id"] for iq in results] == [reply["id"]]

    run(scenario)


def test_inner_tags_arrive_as_stanza_objects(xmpp_server, make_account):
    async def scenario():
        async with two_sessions(xmpp_server, make_account) as (responder, sender):
            seen = answer_like_the_tutorial(responder)
            await sender.plugin["example_tag"].request(
                responder.boundjid,
                f'<example_tag xmlns="{NAMESPACE}" some_string="s">t<inside_tag first_field="3" secound_field="4"/>'
                "</example_tag>",
                timeout=10,
            )
            inner = list(seen[0]["example_tag"])
            assert [(tag["first_field"], tag["secound_field"]) for tag in inner] == [("3", "4")]

    run(scenario)


def test_invalid_request_gets_one_bad_request_and_no_event(xmpp_server, make_account):
    async def scenario():
        async with two_sessions(xmpp_server, make_account) as (responder, sender):
            seen = answer_like_the_tutorial(responder)
            errors = []
            sender.add_event_handler("example_tag_error_iq", errors.append)
            with pytest.raises(IqError) as info:
                await sender.plugin["example_tag"].request(responder.boundjid, {"boolean": True}, timeout=10)
            assert info.value.condition == "bad-request"
            assert info.value.etype == "modify"
            assert "some_string" in info.value.text
            # A ping round trip after it: had a second reply been sent, it would have arrived first.
            await sender.plugin["xep_0030"].get_info(jid=responder.boundjid, timeout=10)
            assert seen == []
            assert len(errors) == 1 and errors[0]["example_tag"]["boolean"] is True

    run(scenario)


def test_tagged_message_reaches_the_peer(xmpp_server, make_account):
    async def scenario():
        async with two_sessions(xmpp_server, make_account) as (responder, sender):
            received = asyncio.get_running_loop().create_future()
            responder.add_event_handler("example_tag_message", received.set_result)
            msg = sender.plugin["example_tag"].make_tagged_message(
                responder.boundjid, {"boolean": True, "some_string": "Message string"}, body="hello"
            )
            msg.send()
            got = await asyncio.wait_for(received, 10)
            assert got["example_tag"]["some_string"] == "Message string"
            assert got["body"] == "hello"
            assert got["from"] == sender.boundjid

    run(scenario)


def test_iq_to_offline_resource_gets_service_unavailable(xmpp_server, make_account):
    offline = make_account()

    async def scenario():
        async with connected(settings_for(xmpp_server, make_account(), "sender")) as sender:
            with pytest.raises(IqError) as info:
                # A long timeout: only the server's error can end this quickly.
                await sender.plugin["example_tag"].request(f"{offline.jid}/gone", PAYLOAD, timeout=30)
            assert info.value.condition == "service-unavailable"
            assert info.value.iq["from"] == f"{offline.jid}/gone"

    run(scenario, timeout=20)


def test_message_to_offline_account_bounces(xmpp_server, make_account):
    offline = make_account()

    async def scenario():
        async with connected(settings_for(xmpp_server, make_account(), "sender")) as sender:
            bounced = asyncio.get_running_loop().create_future()
            # The server's error does not echo the payload (RFC 6120 allows
            # either), so the bounce is matched by id, not by the tag.
            sender.add_event_handler("message_error", bounced.set_result)
            msg = sender.plugin["example_tag"].make_tagged_message(offline.jid, PAYLOAD, body="anyone?")
            msg["id"] = "bounce-me"
            msg.send()
            error = await asyncio.wait_for(bounced, 10)
            assert error["id"] == "bounce-me"
            assert error["error"]["condition"] == "service-unavailable"

    run(scenario)


def test_disco_info_of_a_client_lists_the_extension(xmpp_server, make_account):
    async def scenario():
        async with two_sessions(xmpp_server, make_account) as (responder, sender):
            info = await sender.plugin["xep_0030"].get_info(jid=responder.boundjid, timeout=10)
            assert NAMESPACE in info["disco_info"]["features"]

    run(scenario)


def test_wrong_password_fails_clearly(xmpp_server, make_account):
    account = make_account()

    async def scenario():
        settings = settings_for(xmpp_server, account, password=Secret("not-the-password"))
        with pytest.raises(ConnectError) as info:
            async with connected(settings):
                pass
        message = str(info.value)
        assert "authentication failed" in message
        assert account.jid in message and str(xmpp_server.port) in message
        assert "not-the-password" not in message

    run(scenario)


def test_untrusted_certificate_fails_clearly(xmpp_server, make_account):
    async def scenario():
        # Without our CA the system store is used, which does not know the server's certificate.
        settings = settings_for(xmpp_server, make_account(), ca_cert=None)
        with pytest.raises(ConnectError, match="TLS certificate not trusted"):
            async with connected(settings):
                pass

    run(scenario)


def test_refused_connection_fails_clearly(xmpp_server, make_account):
    from xmpp_ext.servers import free_port

    async def scenario():
        settings = settings_for(xmpp_server, make_account(), port=free_port())
        with pytest.raises(ConnectError, match="connection failed"):
            async with connected(settings):
                pass

    run(scenario)

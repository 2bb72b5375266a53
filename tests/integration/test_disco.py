"""`xmppext disco` and `send --check-support` against the real server."""

from __future__ import annotations

import json

import pytest

from tests.integration.helpers import run, settings_for
from tests.integration.processes import run_xmppext, run_xmppext_async
from xmpp_ext.plugin import NAMESPACE
from xmpp_ext.session import connected

pytestmark = pytest.mark.integration

# Where the servers answer differently, each answer is pinned down here.
SERVER_NAME = {"prosody": "Prosody", "ejabberd": "ejabberd"}
# disco#info of a user we are not subscribed to (Prosody: the account answers
# nothing; ejabberd: RFC 6121's subscription-required), and of a remote domain
# with server-to-server disabled.
UNKNOWN_USER_CONDITION = {"prosody": "service-unavailable", "ejabberd": "subscription-required"}
REMOTE_DOMAIN_CONDITION = {"prosody": "not-allowed", "ejabberd": "forbidden"}


def test_server_identity_and_features(xmpp_server, make_account):
    result = run_xmppext(xmpp_server, make_account(), "disco", "info", xmpp_server.domain)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "Identities:" and lines[1].startswith("  server/im")
    features = lines[lines.index("Features:") + 1 :]
    assert "  urn:xmpp:ping" in features and features == sorted(features)
    assert "Items:" not in lines


def test_server_items(xmpp_server, make_account):
    result = run_xmppext(xmpp_server, make_account(), "disco", "items", xmpp_server.domain)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["Items:", f"  conference.{xmpp_server.domain}"]


def test_all_as_json(xmpp_server, make_account):
    result = run_xmppext(xmpp_server, make_account(), "disco", xmpp_server.domain, "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {"identities", "features", "items"}
    identity = {"category": "server", "type": "im", "name": SERVER_NAME[xmpp_server.kind], "lang": None}
    assert identity in data["identities"]
    assert "http://jabber.org/protocol/disco#info" in data["features"]
    assert {"jid": f"conference.{xmpp_server.domain}", "node": None, "name": None} in data["items"]


def test_features_only_as_json(xmpp_server, make_account):
    result = run_xmppext(xmpp_server, make_account(), "disco", "features", xmpp_server.domain, "--json")
    data = json.loads(result.stdout)
    assert data["identities"] is None and data["items"] is None and "urn:xmpp:ping" in data["features"]


def test_a_running_responder_announces_the_extension(xmpp_server, make_account, responder):
    peer = responder()
    result = run_xmppext(xmpp_server, make_account(), "disco", "features", peer.full_jid)
    assert result.returncode == 0, result.stderr
    assert f"  {NAMESPACE}" in result.stdout.splitlines()
    assert "  urn:xmpp:reply:0" in result.stdout.splitlines()


@pytest.mark.parametrize(
    ("target", "conditions"),
    [
        ("nobody@{domain}", UNKNOWN_USER_CONDITION),
        ("nowhere.invalid", REMOTE_DOMAIN_CONDITION),
        ("someone@{domain}/gone", {"prosody": "service-unavailable", "ejabberd": "service-unavailable"}),
    ],
)
def test_unknown_offline_or_unreachable_targets(xmpp_server, make_account, target, conditions):
    result = run_xmppext(
        xmpp_server, make_account(), "disco", target.format(domain=xmpp_server.domain), "--timeout", "20", timeout=15
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: disco#info of ")
    assert f"failed: {conditions[xmpp_server.kind]}" in lines[0]  # the server's error condition, not a time-out


def test_check_support_refuses_a_peer_without_the_feature(xmpp_server, make_account):
    plain_account = make_account()

    async def scenario():
        async with connected(settings_for(xmpp_server, plain_account, "plain"), plugins=("xep_0030",)) as plain:
            received = []
            plain.add_event_handler("message", received.append)
            plain.add_event_handler("iq", received.append)
            returncode, _, stderr = await run_xmppext_async(
                xmpp_server, make_account(), "send", "-t", plain.boundjid.full, "--check-support"
            )
            return returncode, stderr, received

    returncode, stderr, received = run(scenario)
    assert returncode == 1
    assert f"does not announce {NAMESPACE}" in stderr and "nothing was sent" in stderr
    assert not [stanza for stanza in received if stanza.xml.find(f"{{{NAMESPACE}}}example_tag") is not None]


def test_check_support_passes_for_a_responder(xmpp_server, make_account, responder):
    peer = responder()
    result = run_xmppext(xmpp_server, make_account(), "send", "-t", peer.full_jid, "--check-support", "--kind", "iq")
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_support_against_offline_peer_names_the_condition(xmpp_server, make_account):
    gone = make_account()
    result = run_xmppext(xmpp_server, make_account(), "send", "-t", f"{gone.jid}/x", "--check-support")
    assert result.returncode == 1
    assert "service-unavailable" in result.stderr and result.stdout == ""


def test_has_answers_through_the_exit_code(xmpp_server, make_account, responder):
    peer = responder()
    account = make_account()
    present = run_xmppext(xmpp_server, account, "disco", peer.full_jid, "--has", NAMESPACE)
    assert (present.returncode, present.stdout) == (0, f"{peer.full_jid} announces {NAMESPACE}\n"), present.stderr
    absent = run_xmppext(xmpp_server, account, "disco", xmpp_server.domain, "--has", NAMESPACE, "--json")
    assert absent.returncode == 1, absent.stderr
    assert json.loads(absent.stdout) == {"feature": NAMESPACE, "announced": False}
    refused = run_xmppext(xmpp_server, account, "disco", "items", xmpp_server.domain, "--has", NAMESPACE)
    assert refused.returncode == 2
    assert "--has asks for a feature: it goes with info or features, not items" in refused.stderr

"""`xmppext send` and `xmppext respond` as processes against the real server."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.integration.helpers import run, settings_for
from tests.integration.processes import run_xmppext, run_xmppext_async, start_xmppext
from xmpp_ext.plugin import NAMESPACE
from xmpp_ext.session import connected

pytestmark = pytest.mark.integration

SCENARIO = [
    "iq basic",
    "iq with inner tag",
    "message",
    "iq from file",
    "iq from element",
    "iq without some_string",
    "iq from string",
]


def json_lines(stdout: str) -> tuple[list[dict], dict]:
    objects = [json.loads(line) for line in stdout.splitlines()]
    return objects[:-1], objects[-1]["summary"]


def test_scenario_end_to_end(xmpp_server, make_account, responder):
    peer = responder()
    result = run_xmppext(xmpp_server, make_account(), "send", "-t", peer.full_jid)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert [line.split("  ")[0].strip() for line in lines[:7]] == SCENARIO
    assert all(" ok " in line for line in lines[:7]), lines
    assert "error bad-request (expected)" in lines[5]
    assert lines[7].startswith("sent 7: 7 ok, 0 failed, 0 lost")
    assert result.stderr == ""
    # One line per exchange: five valid iqs and the message answered, the invalid iq refused by the plugin.
    answers = [peer.wait_for_line(lambda line: "answered" in line or "refused" in line) for _ in range(7)]
    assert sum(line.startswith("iq get") and "answered result" in line for line in answers) == 5
    assert sum(line.startswith("message") for line in answers) == 1
    assert sum("refused with bad-request (example_tag needs a some_string attribute)" in line for line in answers) == 1
    assert peer.stop() == 0


def test_json_output(xmpp_server, make_account, responder):
    peer = responder()
    result = run_xmppext(xmpp_server, make_account(), "send", "-t", peer.full_jid, "--json")
    assert result.returncode == 0, result.stderr
    exchanges, summary = json_lines(result.stdout)
    assert [exchange["name"] for exchange in exchanges] == SCENARIO
    assert {exchange["status"] for exchange in exchanges} == {"ok"}
    assert all(exchange["latency_ms"] > 0 for exchange in exchanges)
    assert summary["sent"] == 7 and summary["ok"] == 7 and summary["failed"] == 0 and summary["lost"] == 0
    assert set(summary) >= {"sent", "ok", "failed", "lost", "per_second", "p50_ms", "p99_ms", "duplicates"}
    # Structured fields beside the prose: the expected error, and who answered with what.
    invalid = exchanges[SCENARIO.index("iq without some_string")]
    assert (invalid["condition"], invalid["error_type"], invalid["from"]) == ("bad-request", "modify", peer.full_jid)
    basic = exchanges[0]
    assert (basic["from"], basic["some_string"]) == (peer.full_jid, "Reply_string") and "condition" not in basic


def test_single_stanza_from_options(xmpp_server, make_account, responder):
    peer = responder("--reply-string", "Custom")
    result = run_xmppext(
        xmpp_server,
        make_account(),
        "send",
        "-t",
        peer.full_jid,
        "--kind",
        "iq",
        "--iq-type",
        "set",
        "--some-string",
        "hello",
        "--boolean",
        "false",
        "--inner",
        "inside_tag:first_field=7,secound_field=8",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    (exchange,), summary = json_lines(result.stdout)
    assert exchange["status"] == "ok" and "Custom" in exchange["detail"]
    assert summary["sent"] == 1
    assert "iq set from" in peer.wait_for_line(lambda line: "answered" in line)


def test_single_message_with_and_without_reply(xmpp_server, make_account, responder):
    peer = responder()
    sender = make_account()
    awaited = run_xmppext(xmpp_server, sender, "send", "-t", peer.full_jid, "--kind", "message", "--json")
    assert awaited.returncode == 0, awaited.stderr
    (exchange,), _ = json_lines(awaited.stdout)
    assert exchange["status"] == "ok" and exchange["detail"].startswith(f"reply from {peer.full_jid}")
    fire_and_forget = run_xmppext(
        xmpp_server, sender, "send", "-t", peer.full_jid, "--kind", "message", "--no-reply", "--json"
    )
    assert fire_and_forget.returncode == 0, fire_and_forget.stderr
    (exchange,), _ = json_lines(fire_and_forget.stdout)
    assert exchange["status"] == "sent"


def test_peer_that_never_answers_is_reported_lost(xmpp_server, make_account):
    silent_account = make_account()

    async def scenario():
        async with connected(settings_for(xmpp_server, silent_account, "silent")) as silent:
            # Listens (so the plugin does not refuse) but never answers.
            silent.add_event_handler("example_tag_get_iq", lambda iq: None)
            return await run_xmppext_async(
                xmpp_server,
                make_account(),
                "send",
                "-t",
                silent.boundjid.full,
                "--kind",
                "iq",
                "--timeout",
                "1",
                "--json",
            )

    returncode, stdout, stderr = run(scenario)
    assert returncode == 1, stderr
    (exchange,), summary = json_lines(stdout)
    assert exchange["status"] == "lost" and exchange["detail"] == "no reply within 1s"
    assert summary["lost"] == 1 and summary["sent"] == 1


def test_peer_without_the_plugin_gets_service_errors(xmpp_server, make_account):
    plain_account = make_account()

    async def scenario():
        async with connected(settings_for(xmpp_server, plain_account, "plain"), plugins=("xep_0030",)) as plain:
            returncode, stdout, _ = await run_xmppext_async(
                xmpp_server, make_account(), "send", "-t", plain.boundjid.full, "--kind", "iq", "--json"
            )
            return returncode, stdout

    returncode, stdout = run(scenario)
    assert returncode == 1
    (exchange,), _ = json_lines(stdout)
    assert exchange["status"] == "failed"
    assert exchange["detail"].startswith("error feature-not-implemented")


def test_responder_offline_gives_service_unavailable_quickly(xmpp_server, make_account):
    offline = make_account()
    result = run_xmppext(
        xmpp_server, make_account(), "send", "-t", f"{offline.jid}/xmppext", "--timeout", "30", "--json", timeout=25
    )
    assert result.returncode == 1
    exchanges, summary = json_lines(result.stdout)
    assert len(exchanges) == 7
    iq_errors = [exchange for exchange in exchanges if exchange["name"] != "message"]
    assert all(exchange["detail"].startswith("error service-unavailable") for exchange in iq_errors), iq_errors
    message = next(exchange for exchange in exchanges if exchange["name"] == "message")
    assert message["status"] == "failed" and "service-unavailable" in message["detail"]
    # "iq without some_string" expected bad-request from the peer, so the server's error is a failure too.
    assert summary["failed"] == 7 and summary["lost"] == 0


def test_allow_list(xmpp_server, make_account, responder):
    friend, stranger = make_account(), make_account()
    peer = responder("--allow", friend.jid)
    allowed = run_xmppext(xmpp_server, friend, "send", "-t", peer.full_jid, "--kind", "iq")
    assert allowed.returncode == 0, allowed.stdout
    refused_iq = run_xmppext(xmpp_server, stranger, "send", "-t", peer.full_jid, "--kind", "iq", "--json")
    assert refused_iq.returncode == 1
    (exchange,), _ = json_lines(refused_iq.stdout)
    assert exchange["status"] == "failed" and exchange["detail"].startswith("error forbidden")
    assert (exchange["condition"], exchange["error_type"]) == ("forbidden", "auth")
    ignored_message = run_xmppext(
        xmpp_server, stranger, "send", "-t", peer.full_jid, "--kind", "message", "--timeout", "1", "--json"
    )
    assert ignored_message.returncode == 1
    (exchange,), _ = json_lines(ignored_message.stdout)
    assert exchange["status"] == "lost"
    assert "ignored (not in --allow)" in peer.wait_for_line(lambda line: "message from" in line)


def test_replies_are_never_answered(xmpp_server, make_account, responder):
    first, second = responder(), responder()

    async def scenario():
        async with connected(
            settings_for(xmpp_server, make_account(), "tester"), ("xep_0030", "xep_0461", "example_tag")
        ) as client:
            replies = asyncio.Queue()
            client.add_event_handler("message_reply", replies.put_nowait)
            msg = client.plugin["example_tag"].make_tagged_message(first.full_jid, {"some_string": "x"}, body="hi")
            msg["id"] = "original-1"
            msg.send()
            reply = await asyncio.wait_for(replies.get(), 10)
            assert reply["reply"]["id"] == "original-1"
            assert reply["from"] == first.full_jid
            assert reply["example_tag"]["text"] == "hi"
            # Hand the first responder's reply to the second, as if the first had written to it:
            # a reply is never answered, so two responders cannot loop.
            forwarded = client.make_message(mto=second.full_jid, mbody=reply["body"])
            forwarded["id"] = "forwarded-1"
            forwarded.append(reply["example_tag"])
            forwarded["reply"]["id"] = reply["reply"]["id"]
            forwarded["reply"]["to"] = reply["reply"]["to"]
            forwarded.send()
            # Stanzas from one entity arrive in order: after this round trip, any answer would be here.
            await client.plugin["xep_0030"].get_info(jid=second.full_jid, timeout=10)
            assert replies.empty()

    run(scenario)
    assert not any("answered" in line for line in second.lines)


def test_count_stops_the_responder(xmpp_server, make_account, responder):
    peer = responder("--count", "2")
    sender = make_account()
    for _ in range(2):
        assert run_xmppext(xmpp_server, sender, "send", "-t", peer.full_jid, "--kind", "iq").returncode == 0
    assert peer.process.wait(15) == 0


def test_count_covers_every_exchange_of_the_scenario(xmpp_server, make_account, responder):
    # As in `respond --help`: the scenario's seven exchanges, its refused invalid iq included.
    peer = responder("--count", "7")
    assert run_xmppext(xmpp_server, make_account(), "send", "-t", peer.full_jid).returncode == 0
    assert peer.process.wait(15) == 0
    assert peer.wait_for_line(lambda line: line.startswith("stopped after")) == "stopped after answering 7"


def test_for_stops_the_responder(responder):
    peer = responder("--for", "0.5")
    assert peer.process.wait(15) == 0


def test_sigterm_stops_the_responder_cleanly(responder):
    peer = responder()
    assert peer.stop() == 0


def test_bare_jid_resolution(xmpp_server, make_account, responder):
    target, sender = make_account(), make_account()
    peer = responder(account=target)
    not_subscribed = run_xmppext(xmpp_server, sender, "send", "-t", target.jid, "--kind", "iq")
    assert not_subscribed.returncode == 1
    assert "not subscribed to its presence" in not_subscribed.stderr
    assert "Traceback" not in not_subscribed.stderr
    subscribed = run_xmppext(xmpp_server, sender, "send", "-t", target.jid, "--kind", "iq", "--subscribe")
    assert subscribed.returncode == 0, subscribed.stdout + subscribed.stderr
    assert f"is online as {peer.full_jid}" in subscribed.stdout
    # The subscription now exists: no --subscribe needed any more.
    again = run_xmppext(xmpp_server, sender, "send", "-t", target.jid, "--kind", "iq")
    assert again.returncode == 0, again.stdout + again.stderr


def test_bare_jid_without_supporting_resource_fails_within_timeout(xmpp_server, make_account):
    target, sender = make_account(), make_account()

    async def scenario():
        async with connected(settings_for(xmpp_server, target, "plain"), plugins=("xep_0030",)) as plain:
            plain.send_presence()
            returncode, _, stderr = await run_xmppext_async(
                xmpp_server, sender, "send", "-t", target.jid, "--kind", "iq", "--subscribe", "--timeout", "2"
            )
            return returncode, stderr

    returncode, stderr = run(scenario)
    assert returncode == 1
    assert f"no online resource of {target.jid} advertising {NAMESPACE}" in stderr


def test_responder_killed_mid_burst(xmpp_server, make_account, responder):
    # Without stream management: a responder killed with it leaves a session the server keeps for its
    # resumption (Prosody 600 s, ejabberd 300 s) and queues requests for, so they time out one by one
    # instead of bouncing at once (notes/sm-readme.md).
    peer = responder("--no-stream-management")
    process = start_xmppext(
        xmpp_server,
        make_account(),
        *("send", "-t", peer.full_jid, "--repeat", "5000", "--window", "4", "--timeout", "3", "--json"),
    )
    for _ in range(20):
        peer.wait_for_line(lambda line: "answered" in line)
    peer.kill()
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 1, stderr
    exchanges, summary = json_lines(stdout)
    assert summary["sent"] == 5000 == summary["ok"] + summary["failed"] + summary["lost"]
    # The responder had answered 20 when killed (its last replies may die with it).
    assert summary["ok"] > 0 and summary["failed"] + summary["lost"] > 0
    assert len(exchanges) == 5000


def test_responder_comes_back_after_server_restart(xmpp_server, make_account, responder):
    peer = responder()
    xmpp_server.restart()
    assert peer.wait_for_line(lambda line: line.startswith("READY"), timeout=30) == f"READY {peer.full_jid}"
    result = run_xmppext(xmpp_server, make_account(), "send", "-t", peer.full_jid, "--kind", "iq")
    assert result.returncode == 0, result.stdout + result.stderr
    assert any(line.startswith("disconnected") for line in peer.lines)


def test_message_to_a_bare_jid_is_routed_by_the_server(xmpp_server, make_account, responder):
    target = make_account()
    peer = responder(account=target)
    # No subscription and no resource lookup: the server routes a message to a bare JID itself.
    result = run_xmppext(xmpp_server, make_account(), "send", "-t", target.jid, "--kind", "message", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    (exchange,), _ = json_lines(result.stdout)
    assert exchange["status"] == "ok" and exchange["detail"].startswith(f"reply from {peer.full_jid}")

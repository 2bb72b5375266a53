"""`xmppext send --raw` against the real servers: any extension's payload, the reply printed, exit codes."""

from __future__ import annotations

import json

import pytest

from tests.integration.processes import run_xmppext

pytestmark = pytest.mark.integration

PING = "<ping xmlns='urn:xmpp:ping'/>"


def test_an_iq_the_server_answers_is_exit_0_with_the_reply_printed(xmpp_server, make_account):
    result = run_xmppext(xmpp_server, make_account(), "send", "-t", xmpp_server.domain, "--raw", "--xml", PING)
    assert result.returncode == 0, result.stdout + result.stderr
    first, reply, summary = result.stdout.splitlines()
    assert first.startswith("iq ping") and " ok " in first and f"result from {xmpp_server.domain}" in first
    assert reply.strip().startswith("<iq ") and 'type="result"' in reply
    assert summary.startswith("sent 1: 1 ok, 0 failed, 0 lost")


def test_an_error_reply_is_exit_1_with_its_condition_in_json(xmpp_server, make_account):
    result = run_xmppext(
        xmpp_server,
        make_account(),
        "send",
        "-t",
        xmpp_server.domain,
        "--raw",
        "--iq-type",
        "set",
        "--xml",
        "<nothing-here xmlns='urn:example:unknown'/>",
        "--json",
    )
    assert result.returncode == 1, result.stdout + result.stderr
    exchange, summary = (json.loads(line) for line in result.stdout.splitlines())
    assert exchange["status"] == "failed"
    assert exchange["condition"] in ("service-unavailable", "feature-not-implemented")
    assert exchange["reply"].startswith("<iq ") and 'type="error"' in exchange["reply"]
    assert summary["summary"]["failed"] == 1


@pytest.mark.parametrize(
    ("check_support", "status", "said"),
    [
        (["--check-support", "urn:example:nobody-announces-this"], 1, "does not announce urn:example:nobody"),
        (["--check-support", "urn:xmpp:ping"], 0, "iq ping"),
        (["--check-support"], 0, "iq ping"),  # without a namespace: the payload's
    ],
)
def test_check_support_asks_disco_for_the_namespace_given_or_the_payloads(
    xmpp_server, make_account, check_support, status, said
):
    result = run_xmppext(
        xmpp_server, make_account(), "send", "-t", xmpp_server.domain, "--raw", "--xml", PING, *check_support
    )
    assert result.returncode == status, result.stdout + result.stderr
    assert said in result.stdout + result.stderr
    if status:
        assert "nothing was sent" in result.stderr and result.stdout == ""

"""Connection failures and secrets, seen from the command line against the real server."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.integration.processes import XMPPEXT, client_env, run_xmppext

pytestmark = pytest.mark.integration


def one_line_error(result: subprocess.CompletedProcess) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


@pytest.mark.parametrize("command", [["send", "-t", "peer@localhost/x", "--kind", "iq"], ["respond"]])
def test_wrong_password_exits_3(xmpp_server, make_account, command):
    account = make_account()
    env = client_env(xmpp_server, account)
    env["XMPPEXT_PASSWORD"] = "definitely-wrong-password"
    result = subprocess.run([*XMPPEXT, *command], env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 3
    line = one_line_error(result)
    assert f"127.0.0.1:{xmpp_server.port} as {account.jid}: authentication failed" in line
    assert line.endswith("check the JID and the password (XMPPEXT_PASSWORD)")
    assert "definitely-wrong-password" not in result.stdout + result.stderr


def test_a_json_run_that_ends_before_any_exchange_says_why_in_json_too(xmpp_server, make_account):
    account = make_account()
    env = client_env(xmpp_server, account)
    env["XMPPEXT_PASSWORD"] = "definitely-wrong-password"
    command = [*XMPPEXT, "send", "-t", "peer@localhost/x", "--kind", "iq", "--json"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 3
    (line,) = result.stdout.splitlines()
    error = json.loads(line)["error"]
    assert error["exit"] == 3 and error["message"] == one_line_error(result).removeprefix("Error: ")
    assert "definitely-wrong-password" not in result.stdout + result.stderr


def test_untrusted_certificate_exits_3(xmpp_server, make_account):
    env = client_env(xmpp_server, make_account())
    del env["XMPPEXT_CA_CERT"]
    result = subprocess.run(
        [*XMPPEXT, "send", "-t", "peer@localhost/x", "--kind", "iq"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 3
    line = one_line_error(result)
    assert "TLS certificate not trusted" in line
    assert line.endswith("trust its CA with --ca-cert PEM")


def test_insecure_connects_but_warns(xmpp_server, make_account, responder):
    peer = responder()
    env = client_env(xmpp_server, make_account())
    del env["XMPPEXT_CA_CERT"]
    result = subprocess.run(
        [*XMPPEXT, "send", "-t", peer.full_jid, "--kind", "iq", "--insecure"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert "NOT verified" in result.stderr


def test_debug_log_never_shows_the_password(xmpp_server, make_account, responder):
    peer = responder()
    account = make_account()
    result = run_xmppext(xmpp_server, account, "send", "-t", peer.full_jid, "--kind", "iq", "-d")
    assert result.returncode == 0, result.stderr
    assert "SEND:" in result.stderr  # the wire log is there...
    assert "xmpp-sasl" in result.stderr and "[redacted]" in result.stderr  # ...with the SASL exchange blanked
    assert account.password.reveal() not in result.stdout + result.stderr


def test_password_prompt_is_refused_without_terminal(xmpp_server, make_account):
    env = client_env(xmpp_server, make_account())
    del env["XMPPEXT_PASSWORD"]
    result = subprocess.run(
        [*XMPPEXT, "respond"], env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert "no password" in result.stderr


def test_direct_tls_on_the_servers_dedicated_port(xmpp_server, make_account, responder):
    peer = responder()
    env = client_env(xmpp_server, make_account())
    env["XMPPEXT_PORT"] = str(xmpp_server.direct_tls_port)
    command = [*XMPPEXT, "send", "-t", peer.full_jid, "--kind", "iq"]
    direct = subprocess.run([*command, "--direct-tls"], env=env, capture_output=True, text=True, timeout=60)
    assert direct.returncode == 0, direct.stdout + direct.stderr
    # Without the switch the same port is taken for a STARTTLS port: the login cannot succeed.
    starttls = subprocess.run([*command, "--login-timeout", "5"], env=env, capture_output=True, text=True, timeout=60)
    assert starttls.returncode == 3, starttls.stdout + starttls.stderr
    assert starttls.stderr.strip().endswith("if that is a direct TLS port (XEP-0368), add --direct-tls")
    # And direct TLS against the STARTTLS port fails cleanly, in one line.
    env["XMPPEXT_PORT"] = str(xmpp_server.port)
    wrong = subprocess.run(
        [*command, "--direct-tls", "--login-timeout", "5"], env=env, capture_output=True, text=True, timeout=60
    )
    assert wrong.returncode == 3
    assert wrong.stderr.strip().endswith(
        "that port speaks STARTTLS: drop --direct-tls, or give the server's direct TLS --port"
    )
    assert "Traceback" not in wrong.stderr and len(wrong.stderr.strip().splitlines()) == 1

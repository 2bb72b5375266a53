"""Bursts meeting faults: every request ends, counts add up, nothing hangs."""

from __future__ import annotations

import json
import signal
import threading

import pytest

from tests.integration.processes import run_xmppext, start_responder, start_xmppext

pytestmark = pytest.mark.integration


def summary_of(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])["summary"]


def restart_mid_burst(xmpp_server, make_account, peer, count: int, *extra: str, timeout: int = 10):
    """Run a burst at ``peer`` and restart the server once replies flow: exit status, stdout, stderr.

    ``timeout`` is also how long the sender may take to get a session back (ejabberd starts slowly).
    """
    args = ("--repeat", str(count), "--window", "8", "--timeout", str(timeout), "--json", *extra)
    process = start_xmppext(xmpp_server, make_account(), "send", "-t", peer.full_jid, *args)
    # Read the sender's output as it comes; restart the server once replies flow.
    lines: list[str] = []
    first = threading.Event()

    def pump():
        for line in process.stdout:
            lines.append(line)
            first.set()
        first.set()

    reader = threading.Thread(target=pump)
    reader.start()
    assert first.wait(30) and lines, process.stderr.read()
    xmpp_server.restart()
    process.wait(120)
    reader.join(10)
    return process.returncode, "".join(lines), process.stderr.read()


def test_server_restarted_mid_burst_resumption_refused_unsent_requests_sent_anew(xmpp_server, make_account, responder):
    peer = responder()
    status, stdout, stderr = restart_mid_burst(xmpp_server, make_account, peer, 30000, timeout=30)
    summary = summary_of(stdout)
    assert status in (0, 1), stderr
    assert (status == 0) == (summary["lost"] == summary["failed"] == 0), stderr
    # Honest accounting: every request sent once and ended once; none left unsent, the run went on.
    assert summary["sent"] == summary["ok"] + summary["failed"] + summary["lost"] == 30000
    assert summary["unsent"] == 0
    assert summary["reconnections"] >= 1
    assert summary["resumption_refused"] == "item-not-found"  # both servers' cause after a restart
    events = [json.loads(line) for line in stdout.splitlines() if '"event"' in line]
    assert [event["event"] for event in events][:3] == ["cut", "resumption_refused", "new_session"], events
    assert "Traceback" not in stderr
    # The responder reconnects to the restarted server on its own.
    assert peer.wait_for_line(lambda line: line.startswith("READY"), timeout=30)


def test_server_restarted_mid_burst_without_stream_management_exits_3_with_counts(xmpp_server, make_account, responder):
    peer = responder()
    status, stdout, stderr = restart_mid_burst(xmpp_server, make_account, peer, 100000, "--no-stream-management")
    assert status == 3, stderr
    assert "lost during the run" in stderr and "unsent" in stderr
    assert len(stderr.strip().splitlines()) == 1
    summary = summary_of(stdout)
    assert summary["sent"] == summary["ok"] + summary["failed"] + summary["lost"]
    assert summary["sent"] + summary["unsent"] == 100000
    assert summary["unsent"] > 0
    assert peer.wait_for_line(lambda line: line.startswith("READY"), timeout=30)


def test_slow_responder_window_respected_and_nothing_lost(xmpp_server, make_account, responder):
    peer = responder("--delay", "0.2")
    result = run_xmppext(
        xmpp_server,
        make_account(),
        "send",
        "-t",
        peer.full_jid,
        "--repeat",
        "24",
        "--window",
        "4",
        "--timeout",
        "10",
        "--json",
        "-q",
    )
    assert result.returncode == 0, result.stderr
    summary = summary_of(result.stdout)
    assert summary["ok"] == 24 and summary["lost"] == 0
    assert summary["p50_ms"] >= 200  # every answer waited its delay
    peer.stop()
    stopped = peer.wait_for_line(lambda line: line.startswith("stopped after"))
    assert stopped == "stopped after answering 24 (at most 4 waiting at once)"


def send_on_own_server(server_class, server_options: dict, *send_args: str):
    """Run `xmppext send` at a responder, both on a server of their own started with ``server_options``."""
    with server_class(**server_options) as server:
        sender, answering = server.add_account(), server.add_account()
        peer = start_responder(server, answering)
        try:
            return run_xmppext(server, sender, "send", "-t", peer.full_jid, *send_args, timeout=60)
        finally:
            peer.kill()


def test_stanza_over_the_server_limit_is_reported(xmpp_server):
    # Well over the limit: Prosody checks it per read of 8 KiB.
    result = send_on_own_server(
        type(xmpp_server),
        {"stanza_size_limit": 4096},
        *("--kind", "iq", "--some-string", "s", "--text", "x" * 20000),
    )
    assert result.returncode == 3, result.stdout + result.stderr
    # Both servers close the stream with RFC 6120's policy-violation; the texts differ.
    assert "lost during the run (stream error policy-violation" in result.stderr
    assert "connection lost" in result.stdout  # the exchange itself is reported, not left hanging
    assert "Traceback" not in result.stderr


def test_server_rate_limit_slows_but_every_request_ends(xmpp_server):
    result = send_on_own_server(
        type(xmpp_server),
        {"rate_limit": "2kb/s"},
        *("--repeat", "60", "--window", "16", "--timeout", "2", "--json", "-q"),
    )
    assert result.returncode in (0, 1), result.stderr
    summary = summary_of(result.stdout)
    assert summary["sent"] == 60 == summary["ok"] + summary["failed"] + summary["lost"]
    assert (result.returncode == 0) == (summary["ok"] == 60)


def test_interrupt_mid_burst_exits_130_with_counts(xmpp_server, make_account, responder):
    peer = responder("--delay", "0.3")
    process = start_xmppext(
        xmpp_server,
        make_account(),
        *("send", "-t", peer.full_jid, "--repeat", "1000", "--window", "4", "--json"),
    )
    first = process.stdout.readline()  # one exchange has ended: the burst is under way
    assert json.loads(first)["status"] == "ok", process.stderr.read()
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr
    assert stderr.startswith("interrupted (SIGINT): requests in flight counted as lost")
    assert "Traceback" not in stderr and "Aborted" not in stderr
    summary = summary_of(stdout)
    assert summary["sent"] == summary["ok"] + summary["failed"] + summary["lost"]
    assert summary["sent"] + summary["unsent"] == 1000
    assert summary["unsent"] > 0 and summary["lost"] > 0

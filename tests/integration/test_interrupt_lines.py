"""Ctrl-C in a text-mode burst: one line for every request in flight, then the summary."""

from __future__ import annotations

import signal

import pytest

from tests.integration.processes import start_xmppext

pytestmark = pytest.mark.integration


def test_interrupted_burst_reports_requests_in_flight_in_one_line(xmpp_server, make_account, responder):
    peer = responder("--delay", "0.5")
    process = start_xmppext(
        xmpp_server, make_account(), "send", "-t", peer.full_jid, "--repeat", "1000", "--window", "16"
    )
    peer.wait_for_line(lambda line: "answered" in line)  # the burst is under way
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr
    cut_short = [line for line in stdout.splitlines() if "in flight counted as lost" in line]
    assert len(cut_short) == 1, stdout
    assert not [line for line in stdout.splitlines() if line.startswith("iq ") and "interrupted" in line], stdout
    assert "unsent" in stdout.splitlines()[-1]

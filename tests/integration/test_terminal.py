"""What a person at a terminal sees: the password prompt and the burst's progress bar."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import time

import pytest

from tests.integration.processes import XMPPEXT, client_env

pytestmark = pytest.mark.integration


def run_on_terminal(args: list[str], env: dict[str, str], answer: tuple[bytes, bytes] | None = None) -> tuple[int, str]:
    """Run a command on a pseudo-terminal (stdin, stdout, stderr); type ``answer[1]`` once ``answer[0]`` shows."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(args, env=env, stdin=terminal, stdout=terminal, stderr=terminal, close_fds=True)
    os.close(terminal)
    output = b""
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 1)
            if ready:
                try:
                    chunk = os.read(controller, 4096)
                except OSError:  # the terminal closed: the command is done
                    break
                if not chunk:
                    break
                output += chunk
                if answer and answer[0] in output:
                    os.write(controller, answer[1])
                    answer = None
            elif process.poll() is not None:
                break
    finally:
        os.close(controller)
    return process.wait(30), output.decode(errors="replace")


def test_password_prompt_on_a_terminal(xmpp_server, make_account, responder):
    peer = responder()
    account = make_account()
    env = client_env(xmpp_server, account)
    del env["XMPPEXT_PASSWORD"]
    status, output = run_on_terminal(
        [*XMPPEXT, "send", "-t", peer.full_jid, "--kind", "iq"],
        env,
        answer=(f"Password for {account.jid}: ".encode(), account.password.reveal().encode() + b"\n"),
    )
    assert status == 0, output
    assert "iq " in output and " ok " in output
    assert account.password.reveal() not in output  # getpass does not echo it


def test_burst_shows_a_progress_bar_on_a_terminal(xmpp_server, make_account, responder):
    peer = responder("-q")
    status, output = run_on_terminal(
        [*XMPPEXT, "send", "-t", peer.full_jid, "--repeat", "200", "--window", "8"],
        client_env(xmpp_server, make_account()),
    )
    assert status == 0, output
    assert "sending" in output and "100%" in output
    assert "sent 200: 200 ok, 0 failed, 0 lost" in output

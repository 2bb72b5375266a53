"""What a person at a terminal sees: the password prompt and the burst's progress bar."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import subprocess
import termios
import time

import pytest

from tests.integration.processes import XMPPEXT, client_env

pytestmark = pytest.mark.integration


def run_on_terminal(args: list[str], env: dict[str, str], answer: tuple[bytes, bytes] | None = None) -> tuple[int, str]:
    """Run a command on a pseudo-terminal (stdin, stdout, stderr); type ``answer[1]`` once ``answer[0]`` shows."""
    controller, terminal = pty.openpty()

    def controlling_terminal() -> None:
        # As a shell starts a command: its own session, the terminal its controlling one (so ^C is SIGINT).
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    process = subprocess.Popen(
        args, env=env, stdin=terminal, stdout=terminal, stderr=terminal, close_fds=True, preexec_fn=controlling_terminal
    )
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


def test_ctrl_c_at_the_password_prompt_is_one_line_and_130(xmpp_server, make_account):
    account = make_account()
    env = client_env(xmpp_server, account)
    del env["XMPPEXT_PASSWORD"]
    status, output = run_on_terminal(
        [*XMPPEXT, "send", "-t", f"{account.jid}/r", "--kind", "iq"],
        env,
        answer=(f"Password for {account.jid}: ".encode(), b"\x03"),  # the terminal turns ^C into SIGINT
    )
    assert status == 130, output
    assert "interrupted at the password prompt" in output
    assert "Traceback" not in output and "Aborted" not in output


def test_lines_printed_during_a_burst_do_not_collide_with_the_bar(xmpp_server, make_account, responder):
    # Every request refused (the sender is not allowed): each failure line must start a line of its own.
    peer = responder("-q", "--allow", "nobody@localhost")
    status, output = run_on_terminal(
        [*XMPPEXT, "send", "-t", peer.full_jid, "--repeat", "20", "--window", "4"],
        client_env(xmpp_server, make_account()),
    )
    assert status == 1, output
    lines = output.replace("\r\x1b[K", "\n").replace("\r", "\n").splitlines()
    failures = [line for line in lines if "error forbidden" in line]
    assert len(failures) == 20
    assert all(line.startswith("iq") for line in failures), failures  # never glued behind "sending [###"

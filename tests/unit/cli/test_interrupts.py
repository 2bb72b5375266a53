"""Ctrl-C while a command is still logging in: a port that accepts the connection and then says nothing."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

XMPPEXT = [sys.executable, "-m", "xmpp_ext"]
ROOT = Path(__file__).resolve().parents[3]


def silent_login(command: list[str], signum: int = signal.SIGINT) -> subprocess.CompletedProcess:
    """Run ``command`` against a port that never answers, send it ``signum`` once it has connected."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        env = {
            **os.environ,
            "XMPPEXT_JID": "me@localhost",
            "XMPPEXT_PASSWORD": "not-used",
            "XMPPEXT_HOST": "127.0.0.1",
            "XMPPEXT_PORT": str(silent.getsockname()[1]),
        }
        process = subprocess.Popen(
            [*XMPPEXT, *command],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        connection, _ = silent.accept()  # the command is connecting, its signal handling in place
        with connection:
            process.send_signal(signum)
            out, err = process.communicate(timeout=30)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


@pytest.mark.parametrize(
    ("command", "stdout", "stderr"),
    [
        (
            ["send", "-t", "peer@localhost/r"],
            "sent 0: 0 ok, 0 failed, 0 lost, 7 unsent",
            "interrupted (SIGINT): before the first request, 7 unsent",
        ),
        (["disco", "info", "localhost"], "", "interrupted (SIGINT)"),
    ],
)
def test_interrupt_while_logging_in_exits_130(command, stdout, stderr):
    result = silent_login(command)
    assert result.returncode == 130, result.stderr
    assert stdout in result.stdout
    assert result.stderr.strip() == stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_respond_stops_at_once_while_logging_in(signum):
    # Before: the responder ignored the signal until its fixed 10 s login timeout, then exited 3.
    result = silent_login(["respond", "--login-timeout", "60"], signum)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "Error" not in result.stderr

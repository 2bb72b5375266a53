"""`xmppext local-server` (behind scripts/local-server): a server for manual use and its .env."""

from __future__ import annotations

import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.helpers import run
from xmpp_ext.client import ConnectionSettings, session
from xmpp_ext.envfile import read_env_file

pytestmark = pytest.mark.integration


def test_writes_a_working_env_file_and_cleans_up_on_sigterm(tmp_path: Path, xmpp_server):
    env_file = tmp_path / ".env"
    process = subprocess.Popen(
        [sys.executable, "-m", "xmpp_ext", "local-server", "--env-file", str(env_file), "--server", xmpp_server.kind],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = []
        for line in process.stdout:
            lines.append(line)
            if "press Ctrl-C" in line:
                break
        assert lines and "press Ctrl-C" in lines[-1], "".join(lines) + process.stderr.read()
        assert lines[0].startswith(f"{xmpp_server.kind} listening on 127.0.0.1:")
        assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
        credentials = read_env_file(env_file)
        for secret in (credentials.sender_password, credentials.responder_password):
            assert secret.reveal() not in "".join(lines)
        workdir = credentials.ca_cert.parent.parent

        async def log_in():
            for jid, password in (
                (credentials.sender_jid, credentials.sender_password),
                (credentials.responder_jid, credentials.responder_password),
            ):
                settings = ConnectionSettings(
                    jid=jid,
                    password=password,
                    host=credentials.host,
                    port=credentials.port,
                    ca_cert=credentials.ca_cert,
                )
                async with session(settings) as client:
                    assert client.boundjid.bare == jid

        run(log_in)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0
    assert not workdir.exists()
    assert "server stopped" in process.stderr.read()

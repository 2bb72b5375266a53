"""`xmppext local-server` (behind scripts/local-server): a server for manual use and its .env."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from dotenv import dotenv_values

from tests.integration.helpers import run
from tests.integration.processes import processes_mentioning
from xmpp_ext.session import ConnectionSettings, connected
from xmpp_ext.util.envfile import read_env_file

pytestmark = pytest.mark.integration


def lines_until_serving(process: subprocess.Popen) -> list[str]:
    """What ``xmppext local-server`` printed up to its "press Ctrl-C" line (the server is then up)."""
    lines = []
    for line in process.stdout:
        lines.append(line)
        if "press Ctrl-C" in line:
            break
    assert lines and "press Ctrl-C" in lines[-1], "".join(lines) + process.stderr.read()
    return lines


def test_writes_a_working_env_file_and_cleans_up_on_sigterm(tmp_path: Path, xmpp_server):
    env_file = tmp_path / ".env"
    process = subprocess.Popen(
        [sys.executable, "-m", "xmpp_ext", "local-server", "--env-file", str(env_file), "--server", xmpp_server.kind],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = lines_until_serving(process)
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
                async with connected(settings) as client:
                    assert client.boundjid.bare == jid

        run(log_in)
        # Sourced (`set -a; . ./.env`), the file points any command at the server: its keys are the variables
        # the commands read. Only the account is named here.
        clean = {name: value for name, value in os.environ.items() if not name.startswith("XMPPEXT_")}
        sourced = {**clean, **dotenv_values(env_file)}
        login = {"XMPPEXT_JID": credentials.sender_jid, "XMPPEXT_PASSWORD": credentials.sender_password.reveal()}
        disco = subprocess.run(
            [sys.executable, "-m", "xmpp_ext", "disco", "features", credentials.sender_jid.split("@")[1]],
            env={**sourced, **login},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert disco.returncode == 0, disco.stdout + disco.stderr
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0
    assert not workdir.exists()
    assert "server stopped" in process.stderr.read()


def test_printed_commands_just_work(tmp_path: Path, xmpp_server):
    """local-server in one terminal, its two printed commands in two others: nothing to retype."""
    env_file = tmp_path / "local.env"
    server = subprocess.Popen(
        [sys.executable, "-m", "xmpp_ext", "local-server", "--env-file", str(env_file), "--server", xmpp_server.kind],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    responder = None
    try:
        commands = []
        for line in lines_until_serving(server):
            if line.startswith("  ") and " --as " in line:
                words = shlex.split(line)
                # Run as `python -m xmpp_ext`, it names that (no xmppext on PATH needs to be this one).
                assert words[:3] == [sys.executable, "-m", "xmpp_ext"], line
                commands.append(words[3:])
        respond_command, send_command = commands
        assert respond_command[:3] == ["respond", "--as", "responder"]
        clean = {name: value for name, value in os.environ.items() if not name.startswith("XMPPEXT_")}
        responder = subprocess.Popen(
            [sys.executable, "-m", "xmpp_ext", *respond_command],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**clean, "PYTHONUNBUFFERED": "1"},
        )
        ready = responder.stdout.readline()
        assert ready.startswith("READY "), ready
        sent = subprocess.run(
            [sys.executable, "-m", "xmpp_ext", *send_command, "--kind", "iq"],
            capture_output=True,
            text=True,
            timeout=60,
            env=clean,
        )
        assert sent.returncode == 0, sent.stdout + sent.stderr
        assert sent.stdout.splitlines()[-1].startswith("sent 1: 1 ok")
    finally:
        if responder is not None:
            responder.terminate()
            responder.wait(20)
        server.send_signal(signal.SIGTERM)
        assert server.wait(20) == 0


def test_stale_env_file_is_one_line(tmp_path: Path, xmpp_server, make_account):
    from xmpp_ext.util.envfile import PairCredentials, write_env_file

    account = make_account()
    env_file = tmp_path / ".env"
    write_env_file(
        env_file,
        PairCredentials(account.jid, account.password, account.jid, account.password, ca_cert=tmp_path / "gone.pem"),
    )
    for command in (
        ["run-pair", "--env-file", str(env_file)],
        ["respond", "--as", "responder", "--env-file", str(env_file)],
    ):
        result = subprocess.run(
            [sys.executable, "-m", "xmpp_ext", *command], capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 2, result.stderr
        (line,) = result.stderr.strip().splitlines()[-1:]
        assert "XMPPEXT_CA_CERT" in line and "was its local server stopped?" in line
        assert "Usage:" not in result.stdout


def test_a_second_local_server_does_not_take_over_a_running_ones_env_file(tmp_path: Path, xmpp_server):
    env_file = tmp_path / ".env"
    first = subprocess.Popen(
        [sys.executable, "-m", "xmpp_ext", "local-server", "--env-file", str(env_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines_until_serving(first)
        before = env_file.read_bytes()
        second = subprocess.run(
            [sys.executable, "-m", "xmpp_ext", "local-server", "--env-file", str(env_file)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 2, second.stdout + second.stderr
        assert "belongs to a local server still running on 127.0.0.1:" in second.stderr
        assert env_file.read_bytes() == before
    finally:
        first.send_signal(signal.SIGTERM)
        assert first.wait(20) == 0


@pytest.mark.parametrize("command", [["local-server"], ["run-pair", "--local"]])
def test_sigterm_while_the_server_starts_leaves_nothing_behind(tmp_path: Path, xmpp_server, command):
    # A temp dir of the test's own, reachable by the ejabberd user: the server's dir appears in it first.
    scratch = Path(tempfile.mkdtemp(prefix="xmppext-test-"))
    scratch.chmod(0o755)
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "xmpp_ext", *command, "--server", xmpp_server.kind]
            + (["--env-file", str(tmp_path / ".env")] if command == ["local-server"] else []),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "TMPDIR": str(scratch)},
        )
        deadline = time.monotonic() + 30
        while not any(scratch.iterdir()) and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.01)  # the server's dir is the sign that its start has begun
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
        assert process.returncode in (0, 130), stderr  # 0: it was already up and stopped as asked
        assert "Traceback" not in stderr

        assert processes_mentioning(str(scratch)) == []
        assert list(scratch.iterdir()) == []
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def test_load_accounts_serve_xmppext_load_with_the_environments_password(tmp_path: Path, xmpp_server):
    env_file = tmp_path / "local.env"
    password = "load-accounts-test-password"
    environment = {**os.environ, "XMPPEXT_PASSWORD": password}
    command = [sys.executable, "-m", "xmpp_ext", "local-server", "--env-file", str(env_file)]
    server = subprocess.Popen(
        [*command, "--server", xmpp_server.kind, "--load-accounts", "4"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
    )
    try:
        lines = lines_until_serving(server)
        (accounts,) = [line for line in lines if line.startswith("load accounts: ")]
        assert "load1@localhost ... load4@localhost (--accounts 'load{n}@localhost')" in accounts
        assert password not in "".join(lines)
        credentials = read_env_file(env_file)
        where = ["--host", credentials.host, "--port", str(credentials.port), "--ca-cert", str(credentials.ca_cert)]
        load = [sys.executable, "-m", "xmpp_ext", "load", "--accounts", "load{n}@localhost", "--pairs", "2"]
        result = subprocess.run(
            [*load, *where, "--exchanges", "20", "--processes", "1", "--json"],
            capture_output=True,
            text=True,
            timeout=120,
            env=environment,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        summary = json.loads(result.stdout.splitlines()[-1])["summary"]
        assert (summary["sessions_up"], summary["ok"]) == (4, 20)
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(20) == 0


def test_load_accounts_need_the_password_in_the_environment(tmp_path: Path):
    environment = {name: value for name, value in os.environ.items() if name != "XMPPEXT_PASSWORD"}
    command = [sys.executable, "-m", "xmpp_ext", "local-server", "--env-file", str(tmp_path / ".env")]
    result = subprocess.run(
        [*command, "--load-accounts", "3"], capture_output=True, text=True, timeout=60, env=environment
    )
    assert result.returncode == 2
    assert "--load-accounts: set XMPPEXT_PASSWORD to the password the load accounts get" in result.stderr
    assert not (tmp_path / ".env").exists()

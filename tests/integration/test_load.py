"""xmppext load against real servers: small loads (tens of pairs, 2 processes), both loops, thresholds,
an interrupted run, a crashed worker, and an open-loop run whose responders stall on purpose.

Runs either on a throwaway server of the same kind as the test server (``--local --server KIND``) or on
the test server itself with accounts made for the test (``--accounts 'PREFIX{n}@localhost'``).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.processes import XMPPEXT
from xmpp_ext.servers.listeners import listening_sockets
from xmpp_ext.util.secret import Secret

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def run_load(
    *args: str, env: dict[str, str] | None = None, timeout: float = 150, cwd: Path | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*XMPPEXT, "load", "--processes", "2", *args],
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
    )


def json_lines(output: str) -> tuple[list[dict], dict]:
    objects = [json.loads(line) for line in output.splitlines() if line.strip()]
    return objects[:-1], objects[-1]["summary"]


@pytest.fixture
def load_accounts(xmpp_server):
    """``(pattern, environment)`` for N pairs of fresh accounts on the test server, removed afterwards."""
    made = []
    password = secrets.token_urlsafe(12)
    prefix = f"load{secrets.token_hex(3)}-"

    def make(pairs: int) -> tuple[list[str], dict[str, str]]:
        made.extend(xmpp_server.add_accounts([f"{prefix}{n}" for n in range(1, 2 * pairs + 1)], Secret(password)))
        address = ["--host", xmpp_server.host, "--port", str(xmpp_server.port), "--ca-cert", str(xmpp_server.ca_cert)]
        return ["--accounts", f"{prefix}{{n}}@{xmpp_server.domain}", *address], {"XMPPEXT_PASSWORD": password}

    yield make
    for account in made:
        xmpp_server.remove_account(account)


def test_closed_loop_iq_on_a_local_server(xmpp_server):
    result = run_load(
        "--local", "--server", xmpp_server.kind, "--pairs", "20", "--window", "2", "--duration", "2", "--json"
    )
    assert result.returncode == 0, result.stderr
    seconds, summary = json_lines(result.stdout)
    assert summary["sessions_up"] == summary["sessions_planned"] == 40
    assert summary["processes"] == 2 and summary["loop"] == "closed (window 2)"
    assert summary["ok"] > 0 and summary["failed"] == 0 and summary["lost"] == 0
    assert summary["exchanges"]["count"] == summary["ok"]  # the merged histogram holds every exchange
    assert sum(second["exchanges"] for second in seconds) == summary["ok"]
    assert summary["server_cpu_percent"] is not None  # read from /proc: it is our local server ...
    assert summary["server_cpu_per_login_ms"] > 0  # ... the whole server (its process group, under the reaper)
    assert f"local {xmpp_server.kind} on 127.0.0.1:" in result.stderr


def test_open_loop_messages_on_a_local_server(xmpp_server):
    # 100 exchanges a second for 2 s: exactly 200 requests are due, each one ends ok, failed or lost.
    result = run_load(
        "--local",
        "--server",
        xmpp_server.kind,
        "--pairs",
        "20",
        "--kind",
        "message",
        "--rate",
        "100",
        "--duration",
        "2",
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["count", "rate", "p50", "p90", "p99", "p99.9", "max"]
    assert any(line.startswith("exchanges ") and line.split()[1] == "200" for line in lines), result.stdout
    assert "sessions 40/40 logged in; exchanges: 200 ok, 0 failed, 0 lost, 0 late, 0 unsent" in result.stdout
    assert "open loop 100/s" in result.stderr


def test_a_threshold_crossed_and_one_held_on_the_users_server(load_accounts):
    options, env = load_accounts(10)
    result = run_load(
        *options,
        "--pairs",
        "10",
        "--kind",
        "ping",
        "--exchanges",
        "100",
        "--fail-if",
        "p50>1us",
        "--fail-if",
        "lost>0",
        env=env,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    crossed = [line for line in result.stderr.splitlines() if line.startswith("threshold crossed")]
    assert len(crossed) == 1 and crossed[0].startswith("threshold crossed: p50>1us (p50 was "), result.stderr
    assert "sessions 20/20 logged in; exchanges: 100 ok, 0 failed, 0 lost" in result.stdout
    assert env["XMPPEXT_PASSWORD"] not in result.stdout + result.stderr


def test_open_loop_shows_a_stalled_responder_in_p99(load_accounts):
    # Responders stop answering for 1 s, 1 s into a 3 s run at 100/s: ~100 of the 300 requests are due while
    # nobody answers. Measured from when each was due, their waits (up to 1 s) fill the tail.
    options, env = load_accounts(10)
    result = run_load(
        *options, "--pairs", "10", "--rate", "100", "--duration", "3", "--stall-responders", "1:1", "--json", env=env
    )
    assert result.returncode == 0, result.stderr
    seconds, summary = json_lines(result.stdout)
    assert summary["ok"] == 300 and summary["lost"] == 0
    assert summary["exchanges"]["p99_ms"] >= 500, summary["exchanges"]
    assert summary["exchanges"]["p50_ms"] < summary["exchanges"]["p99_ms"] / 5  # only the stalled ones are slow
    assert max(second["max_ms"] or 0 for second in seconds) >= 500


def worker_pids(parent: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(stat[1]) == parent and b"xmpp_ext.load.worker" in (entry / "cmdline").read_bytes():
                    pids.append(int(entry.name))
    return pids


def start_local_load(kind: str, *args: str) -> tuple[subprocess.Popen, list[str], int]:
    """A 60 s local run, once its sessions are logged in: (process, stderr lines so far, server port)."""
    process = subprocess.Popen(
        [*XMPPEXT, "load", "--local", "--server", kind, "--pairs", "10", "--processes", "2", "--duration", "60", *args],
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines = []
    for line in process.stderr:
        lines.append(line)
        if "sessions logged in" in line:
            break
    else:
        process.kill()
        pytest.fail(f"no session logged in: {lines}")
    port = int(next(line for line in lines if line.startswith("local ")).split(":")[1].split()[0])
    return process, lines, port


def test_an_interrupted_run_logs_out_prints_the_summary_and_leaves_nothing(xmpp_server):
    process, _lines, port = start_local_load(xmpp_server.kind)
    workers = worker_pids(process.pid)
    assert len(workers) == 2
    time.sleep(1)  # exchanging for a moment (no event marks it)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "interrupted (SIGINT): logging every session out" in stderr
    assert "sessions 20/20 logged in" in stdout
    assert "interrupted: the summary covers the run until then" in stdout
    assert "threshold crossed" not in stderr  # an interrupted run is not judged
    assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()]
    assert not any(address[1] == port for address in listening_sockets())  # the local server is gone too


def test_a_crashed_worker_is_reported_and_fails_the_run(xmpp_server):
    process, _lines, _port = start_local_load(xmpp_server.kind, "--duration", "3")
    workers = worker_pids(process.pid)
    os.kill(workers[0], signal.SIGKILL)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 1, stderr
    assert "crashed (killed by SIGKILL)" in stderr
    assert "crashed: worker" in stdout and "(its counts until then are included)" in stdout


def test_no_session_at_all_is_exit_3_with_the_causes():
    from xmpp_ext.servers import free_port

    closed = ["--host", "127.0.0.1", "--port", str(free_port())]
    result = run_load("--accounts", "nobody{n}@localhost", *closed, "--pairs", "10", env={"XMPPEXT_PASSWORD": "pw"})
    assert result.returncode == 3, result.stderr
    assert "sessions 0/20 logged in (20 failed: unreachable 20)" in result.stdout
    assert "threshold crossed" not in result.stderr


GREETING_EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "greeting"


@pytest.mark.parametrize(("language", "ok"), [("fr", True), ("tlh", False)])
def test_your_own_plugin_answers_your_payload(xmpp_server, language, ok):
    """load --raw --responder-plugin: the tutorial's plugin answers on every responder, run from its directory."""
    result = run_load(
        *("--local", "--server", xmpp_server.kind, "--pairs", "4", "--window", "2", "--exchanges", "200", "--json"),
        *("--raw", "--xml", f"<greeting xmlns='urn:example:greeting' language='{language}'/>"),
        *("--responder-plugin", "bot:GreetingResponder"),
        cwd=GREETING_EXAMPLE,
    )
    _seconds, summary = json_lines(result.stdout)
    assert summary["sessions_up"] == 8 and summary["lost"] == 0, result.stderr
    assert "iq <greeting xmlns='urn:example:greeting'> answered by bot:GreetingResponder" in result.stderr
    assert (summary["payload"], summary["responder_plugin"]) == (
        "{urn:example:greeting}greeting",
        "bot:GreetingResponder",
    )
    if ok:
        assert result.returncode == 0, result.stderr
        assert (summary["ok"], summary["failed"]) == (200, 0)
    else:  # item-not-found, the plugin's own answer, counted by its condition
        assert result.returncode == 1, result.stderr
        assert (summary["ok"], summary["failed_by"]) == (0, {"item-not-found": 200})

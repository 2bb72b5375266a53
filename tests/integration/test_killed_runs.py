"""A test run or a local server killed with SIGTERM or SIGKILL leaves nothing running and no files behind.

Each case runs the real thing in a child process with a temp dir of its own
(TMPDIR), so the server's dir appears there and every process of the server
mentions it on its command line (Prosody its config, ejabberd's VM its
spool): after the kill, no process may mention it and the dir must be empty.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.processes import OutputLines, processes_mentioning, start_with_lines

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

PYTEST = [sys.executable, "-m", "pytest", "-s", "-q", "-p", "no:cacheprovider", "-p", "no:xdist"]
HOLDING_TEST = """
import time

def test_holds_the_server(xmpp_server):
    print("SERVER UP", xmpp_server.workdir, flush=True)
    time.sleep(120)  # the outer test kills this run long before
"""


def start_pytest_run(kind: str, scratch: Path, project: Path) -> tuple[OutputLines, Path]:
    """A pytest run of a project that uses the plugin's xmpp_server, once its server is up; and its server dir."""
    (project / "test_holding.py").write_text(HOLDING_TEST)
    env = {
        **{name: value for name, value in os.environ.items() if not name.startswith(("XMPPEXT_", "PYTEST_"))},
        "TMPDIR": str(scratch),
        "PYTHONUNBUFFERED": "1",
    }
    run = start_with_lines(["--xmpp-server", kind, str(project / "test_holding.py")], env, program=PYTEST, cwd=project)
    try:
        up = run.wait_for_line(lambda line: "SERVER UP" in line, timeout=60)
    except AssertionError:
        run.process.kill()
        raise
    return run, Path(up.split("SERVER UP ", 1)[1])


@pytest.fixture
def killed_afterwards() -> Iterator[list[subprocess.Popen]]:
    """Processes a test starts, killed at its end if it failed before killing them itself."""
    started: list[subprocess.Popen] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def assert_nothing_left(scratch: Path) -> None:
    assert processes_mentioning(str(scratch)) == []
    assert list(scratch.iterdir()) == []


def test_sigterm_to_a_test_run_stops_its_server_and_removes_its_files(
    xmpp_server, scratch, tmp_path, killed_afterwards
):
    run, workdir = start_pytest_run(xmpp_server.kind, scratch, tmp_path)
    killed_afterwards.append(run.process)
    assert workdir.parent == scratch and workdir.is_dir()
    run.process.send_signal(signal.SIGTERM)
    assert run.process.wait(60) == pytest.ExitCode.INTERRUPTED
    run.wait_for_line(lambda line: "xmppext: SIGTERM: stopping the test session and its XMPP servers" in line)
    # The normal teardown ran: the dir is gone when the run ends, not later.
    assert list(scratch.iterdir()) == []
    assert_nothing_left(scratch)


def test_sigkill_to_a_test_run_leaves_no_server_and_no_files(xmpp_server, scratch, tmp_path, killed_afterwards):
    run, workdir = start_pytest_run(xmpp_server.kind, scratch, tmp_path)
    killed_afterwards.append(run.process)
    assert processes_mentioning(str(workdir), settle=0) != []  # the server (for ejabberd, its VM too)
    run.process.kill()
    run.process.wait(10)
    assert_nothing_left(scratch)


def test_sigkill_to_local_server_leaves_no_server_and_no_files(xmpp_server, scratch, tmp_path, killed_afterwards):
    process = start_with_lines(
        ["local-server", "--server", xmpp_server.kind, "--env-file", str(tmp_path / ".env")],
        {**os.environ, "TMPDIR": str(scratch), "PYTHONUNBUFFERED": "1"},
    )
    killed_afterwards.append(process.process)
    process.wait_for_line(lambda line: line.startswith("press Ctrl-C"), timeout=60)
    assert processes_mentioning(str(scratch), settle=0) != []
    process.process.kill()
    process.process.wait(10)
    assert_nothing_left(scratch)

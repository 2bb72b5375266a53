"""`xmppext run-pair`: two child processes, credentials from a .env, always cleaned up."""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

from tests.integration.processes import XMPPEXT, processes_mentioning
from xmpp_ext.util.envfile import PairCredentials, read_env_file, write_env_file
from xmpp_ext.util.secret import Secret

pytestmark = pytest.mark.integration


@pytest.fixture
def env_file(xmpp_server, make_account, tmp_path):
    """A .env for two fresh accounts; returns (path, sender, responder)."""
    sender, responder = make_account(), make_account()

    def write(path: Path = tmp_path / ".env", **changes) -> Path:
        values = dict(
            sender_jid=sender.jid,
            sender_password=sender.password,
            responder_jid=responder.jid,
            responder_password=responder.password,
            host=xmpp_server.host,
            port=xmpp_server.port,
            ca_cert=xmpp_server.ca_cert,
        )
        values.update(changes)
        write_env_file(path, PairCredentials(**values))
        return path

    write.accounts = (sender, responder)
    return write


def run_pair(
    *args: str, cwd: Path | None = None, timeout: float = 90, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*XMPPEXT, "run-pair", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )


def descendants(pid: int) -> set[int]:
    children_of: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children_of.setdefault(parent, []).append(int(entry.name))
    found, queue = set(), [pid]
    while queue:
        for child in children_of.get(queue.pop(), []):
            found.add(child)
            queue.append(child)
    return found


def alive(pids: set[int]) -> set[int]:
    living = set()
    for pid in pids:
        try:
            if "\nState:\tZ" not in Path(f"/proc/{pid}/status").read_text():
                living.add(pid)
        except OSError:
            pass
    return living


def test_env_file_run_passes_with_prefixed_output(env_file):
    result = run_pair("--env-file", str(env_file()))
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("[responder] READY ") for line in lines)
    assert sum(line.startswith("[sender] ") and " ok " in line for line in lines) == 7
    assert sum(line.startswith("[responder] ") and "answered" in line for line in lines) == 6
    assert sum(line.startswith("[responder] ") and "refused with bad-request" in line for line in lines) == 1
    assert "[responder] stopped after answering 7" in lines
    assert all(line.startswith(("[responder] ", "[sender] ")) for line in lines), lines


def test_passwords_never_on_a_child_command_line(env_file):
    sender, responder = env_file.accounts
    process = subprocess.Popen(
        [*XMPPEXT, "run-pair", "--env-file", str(env_file())], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    command_lines: set[bytes] = set()
    # Sample every descendant's command line (before and after exec) for as long as the pair runs.
    while process.poll() is None:
        for pid in descendants(process.pid):
            with contextlib.suppress(OSError):
                command_lines.add(Path(f"/proc/{pid}/cmdline").read_bytes())
    process.communicate(timeout=30)
    assert process.returncode == 0
    seen = b"\n".join(command_lines)
    assert b"\x00respond\x00" in seen and b"\x00send\x00" in seen, "both children were observed"
    for secret in (sender.password, responder.password):
        assert secret.reveal().encode() not in seen


def test_exit_status_is_the_senders(env_file):
    result = run_pair("--env-file", str(env_file(sender_password=Secret("wrong-password"))))
    assert result.returncode == 3
    assert "[sender] Error: cannot log in" in result.stdout and "authentication failed" in result.stdout
    assert "wrong-password" not in result.stdout + result.stderr


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_mid_run_leaves_no_process(env_file, signum):
    process = subprocess.Popen(
        [*XMPPEXT, "run-pair", "--env-file", str(env_file())],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    output = []
    for line in process.stdout:
        output.append(line)
        if line.startswith("[responder] READY"):
            break
    children = descendants(process.pid)
    assert children, "the responder runs"
    process.send_signal(signum)
    output.append(process.stdout.read())
    assert process.wait(30) == 130, "".join(output)
    assert "interrupted" in "".join(output)
    assert alive(children) == set()


def test_responder_that_fails_to_log_in(env_file):
    result = run_pair("--env-file", str(env_file(responder_password=Secret("wrong"))))
    assert result.returncode == 3
    assert "the responder exited with status 3 before it was ready" in result.stderr
    assert "authentication failed" in result.stderr  # its last output is shown


def test_responder_never_ready(env_file):
    # A port that accepts connections and then says nothing.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        accepted = []
        threading.Thread(target=lambda: accepted.append(silent.accept()), daemon=True).start()
        result = run_pair("--env-file", str(env_file(port=silent.getsockname()[1])), "--ready-timeout", "1")
        for connection, _ in accepted:
            connection.close()
    assert result.returncode == 3
    assert "the responder was not ready within 1s" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_bad_path_is_refused_before_anything_starts(env_file, tmp_path):
    bad = tmp_path / "bad.xml"
    bad.write_text("<nope/>")
    result = run_pair("--env-file", str(env_file()), "--path", str(bad))
    assert result.returncode == 2
    assert "bad.xml: root element must be" in result.stderr
    assert "[responder]" not in result.stdout


def test_warns_when_env_file_is_exposed(env_file, tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    path = env_file(repo / ".env")
    path.chmod(0o644)
    for command in (["init", "-q"], ["add", ".env"]):
        subprocess.run(["git", *command], cwd=repo, check=True, capture_output=True)
    result = run_pair("--env-file", str(path), cwd=repo)
    assert result.returncode == 0, result.stderr
    assert "is accessible by group or others (mode 644)" in result.stderr
    assert "is tracked by git" in result.stderr


def test_no_warning_for_a_private_untracked_file(env_file):
    path = env_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    result = run_pair("--env-file", str(path))
    assert result.returncode == 0 and "WARNING" not in result.stderr


def test_terminal_prefix_runs_each_client_through_it(env_file, tmp_path):
    sender, _responder = env_file.accounts
    log = tmp_path / "terminal-argv.log"
    fake_terminal = tmp_path / "fake-terminal"
    # Stands in for "xterm -e": records how it was called, then runs the command.
    fake_terminal.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> {log}\nexec "$@"\n')
    fake_terminal.chmod(0o755)
    result = run_pair("--env-file", str(env_file()), "--terminal", str(fake_terminal))
    assert result.returncode == 0, result.stdout + result.stderr
    calls = log.read_text().splitlines()
    assert len(calls) == 2 and "respond" in calls[0] and "send" in calls[1]
    assert sender.password.reveal() not in log.read_text()
    failing = run_pair("--env-file", str(env_file(sender_password=Secret("wrong"))), "--terminal", str(fake_terminal))
    assert failing.returncode == 3, "the sender's status comes back through the terminal"


def test_local_end_to_end(xmpp_server):
    # A temp dir of this test's own (reachable by the ejabberd user): other runs on the machine make theirs in /tmp.
    scratch = Path(tempfile.mkdtemp(prefix="xmppext-test-"))
    scratch.chmod(0o755)
    try:
        result = run_pair("--local", "--server", xmpp_server.kind, env={"TMPDIR": str(scratch)})
        left = list(scratch.iterdir())
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"local {xmpp_server.kind} on 127.0.0.1:" in result.stdout and "TLS verified" in result.stdout
    assert "[sender] sent 7: 7 ok, 0 failed, 0 lost" in result.stdout
    assert result.stdout.count("iq from file") == 1  # each exchange shown once, no second table
    assert "local server stopped; exit status 0" in result.stdout
    assert left == []  # the server's dir is gone


def test_responder_dying_early_stops_the_sender(env_file):
    process = subprocess.Popen(
        [*XMPPEXT, "run-pair", "--env-file", str(env_file()), "--timeout", "20"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    for line in process.stdout:
        if line.startswith("[responder] READY"):
            break
    # The responder is the only child so far (the sender starts after READY is read).
    responders = [
        pid for pid in descendants(process.pid) if b"\x00respond\x00" in Path(f"/proc/{pid}/cmdline").read_bytes()
    ]
    assert len(responders) == 1
    os.kill(responders[0], signal.SIGKILL)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 1, stdout + stderr
    assert "the responder exited early" in stderr
    assert alive(descendants(process.pid)) == set()


def test_quiet_reaches_both_clients(env_file):
    result = run_pair("--env-file", str(env_file()), "-q")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    # Quiet: no exchange lines from either client, only READY and the sender's summary.
    assert [line.split(" ", 1)[0] for line in lines] == ["[responder]", "[sender]"]
    assert lines[1].startswith("[sender] sent 7: 7 ok")


def test_terminal_program_that_returns_at_once_stops_everything(env_file, tmp_path):
    # Like "tmux new-window -d": starts the command in a session of its own and returns at once.
    detaching = tmp_path / "detaching-terminal"
    detaching.write_text('#!/bin/sh\nsetsid "$@" >/dev/null 2>&1 &\nexit 0\n')
    detaching.chmod(0o755)
    path = env_file()
    result = run_pair("--env-file", str(path), "--terminal", str(detaching), "--ready-timeout", "20")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "returned before the client it started ended" in result.stderr
    assert "Traceback" not in result.stderr
    # Nothing it started is left running: no process still reads this .env's accounts.
    responder_jid = read_env_file(path).responder_jid

    assert processes_mentioning(responder_jid) == []


# -- --responder-cmd: the user's own bot as the responder ----------------------------------------------------------

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "greeting"
BOT = f"{shlex.quote(sys.executable)} bot.py"


def greeting(language: str) -> str:
    return f"<greeting xmlns='urn:example:greeting' language='{language}'/>"


def test_the_users_bot_answers_the_senders_raw_payload(env_file):
    result = run_pair(
        "--env-file", str(env_file()), "--responder-cmd", BOT, "--raw", "--xml", greeting("fr"), cwd=EXAMPLE
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("[responder] READY ") for line in lines)
    assert any(line.startswith("[sender] iq greeting") and " ok " in line for line in lines), lines
    assert any(">Bonjour</greeting>" in line for line in lines)
    assert processes_mentioning(f"{EXAMPLE}/bot.py") == [] and processes_mentioning(" bot.py") == []


def test_an_error_from_the_users_bot_is_the_senders_exit_1(env_file):
    result = run_pair(
        "--env-file", str(env_file()), "--responder-cmd", BOT, "--raw", "--xml", greeting("tlh"), cwd=EXAMPLE
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "error item-not-found" in result.stdout


def test_a_bot_that_dies_at_start_is_exit_3_with_its_last_output(env_file, tmp_path):
    (tmp_path / "crash.py").write_text("print('cannot start: no configuration')\nraise SystemExit(4)\n")
    result = run_pair(
        "--env-file",
        str(env_file()),
        "--responder-cmd",
        f"{shlex.quote(sys.executable)} crash.py",
        "--raw",
        "--xml",
        greeting("en"),
        cwd=tmp_path,
    )
    assert result.returncode == 3, result.stdout + result.stderr
    assert "exited with status 4 before it was online" in result.stderr
    assert "cannot start: no configuration" in result.stderr
    assert "[sender]" not in result.stdout  # nothing was sent


def test_the_bot_gets_its_login_in_its_environment_only(env_file, tmp_path):
    _sender, responder = env_file.accounts
    (tmp_path / "show.py").write_text(
        "import os, sys\nprint('READY', os.environ['XMPPEXT_JID'], 'argv', sys.argv[1:], flush=True)\n"
        "import time\ntime.sleep(30)\n"
    )
    result = run_pair(
        "--env-file",
        str(env_file()),
        "--responder-cmd",
        f"{shlex.quote(sys.executable)} show.py",
        "--raw",
        "--xml",
        greeting("en"),
        "--timeout",
        "2",
        cwd=tmp_path,
    )
    # The program said READY with the responder's account from XMPPEXT_JID, and nothing on its command line.
    assert f"[responder] READY {responder.jid} argv []" in result.stdout
    assert responder.password.reveal() not in result.stdout + result.stderr
    assert result.returncode == 1  # it never answers: the sender's request is lost


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--responder-cmd", "no-such-program-xyz"), "not a program on PATH"),
        (("--responder-cmd", BOT, "--terminal", "env"), "not with --responder-cmd"),
        (("--xml", "<g xmlns='urn:g'/>"), "use it with --raw"),
        (("--raw", "--xml", "<g/>"), "has no namespace"),
    ],
)
def test_bad_responder_cmd_options_are_refused_before_anything_starts(env_file, args, message):
    result = run_pair("--env-file", str(env_file()), *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr and "[responder]" not in result.stdout

"""A hostile server attacks the client's memory before a stanza completes: every command ends that stream.

Each test runs an xmppext command as a child process against the tiny
hostile server of tests/hostile_server.py and reads the child's peak memory
(its ru_maxrss, from wait4) when it has ended. Without bounds, the attacks
written here (a few MB each: the test machine is shared) grow a client by
57 MB (a huge <stream:features>), 64 MB (whitespace) and 186 MB (nesting);
with them, by a few MB at most. The bound asserted is the same command's
peak against a server that hangs up instead of attacking, plus
ALLOWED_GROWTH_MIB.

No real XMPP server is involved: the hostile one is the point.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from tests.hostile_server import HostileServer
from tests.integration.processes import OutputLines, peak_memory_when_ended, start_with_lines

pytestmark = pytest.mark.integration

ALLOWED_GROWTH_MIB = 16
#: Bytes of each attack: far past every bound, small enough for a shared test machine without them.
ATTACK_BYTES = {"whitespace": 64 * 1024 * 1024, "nested": 2 * 1024 * 1024, "features": 4 * 1024 * 1024}
EXIT_CONNECT = 3
BYTES_ENDED = "the server sent more than 1,048,576 bytes without completing a stanza; the stream was ended"
DEPTH_ENDED = "the server sent a stanza nested deeper than 40,000 levels; the stream was ended"
ELEMENTS_ENDED = "the server sent a stanza of more than 65,536 elements; the stream was ended"
ENDED = {"whitespace": BYTES_ENDED, "nested": DEPTH_ENDED, "features": ELEMENTS_ENDED}
SCRIPT = """# hostile
[Client] Romeo
\tjid: u@localhost
\tpassword: pw

-----

Romeo connects

Romeo sends:
\t<message to='u@localhost'><body>hi</body></message>
"""


def start(args: list[str], server: HostileServer) -> OutputLines:
    """A command run as a child process against ``server``, logged in as u@localhost."""
    env = {
        **os.environ,
        "XMPPEXT_JID": "u@localhost",
        "XMPPEXT_PASSWORD": "pw",
        "XMPPEXT_HOST": "127.0.0.1",
        "XMPPEXT_PORT": str(server.port),
        "PYTHONUNBUFFERED": "1",
    }
    if server.ca_cert is not None:
        env["XMPPEXT_CA_CERT"] = str(server.ca_cert)
    return start_with_lines(args, env)


def finish(child: OutputLines) -> float:
    """Wait for the command to end; its peak memory in MiB."""
    return peak_memory_when_ended(child.process, timeout=30)


def command_args(command: str, tmp_path: Path) -> list[str]:
    if command == "send":
        return ["send", "-t", "peer@localhost/r"]
    if command == "disco":
        return ["disco", "info", "localhost"]
    if command == "respond":
        return ["respond"]
    script = tmp_path / "hostile.scs"
    script.write_text(SCRIPT)
    return ["scenario", str(script)]


def peak_of(command: str, server: HostileServer, tmp_path: Path, *extra: str) -> tuple[int, list[str], float]:
    child = start([*command_args(command, tmp_path), *extra], server)
    peak = finish(child)
    return child.process.returncode, child.all_lines(), peak


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    """A command's peak memory when its server hangs up instead of attacking: after its stream header, or after
    a whole session (TLS and all loaded)."""
    peaks: dict[tuple[str, str], float] = {}

    def of(command: str, at: str = "header") -> float:
        if (command, at) not in peaks:
            workdir = tmp_path_factory.mktemp("baseline")
            with HostileServer("whitespace", total=0, at=at, workdir=workdir) as server:
                options = ["--host", "127.0.0.1", "--port", str(server.port)] if command == "scenario" else []
                child = start([*command_args(command, workdir), *options], server)
                if command == "respond" and at == "session":  # it would reconnect for ever
                    child.wait_for_line(lambda line: line.startswith("disconnected ("))
                    child.process.send_signal(signal.SIGTERM)
                peaks[command, at] = finish(child)
            assert child.process.returncode in (EXIT_CONNECT, 0), child.all_lines()
        return peaks[command, at]

    return of


@pytest.mark.parametrize(
    ("command", "attack"),
    [
        ("send", "whitespace"),
        ("send", "nested"),
        ("send", "features"),
        ("disco", "nested"),
        ("respond", "features"),
        ("scenario", "whitespace"),
    ],
)
def test_an_attack_during_login_ends_with_one_line_and_exit_3(command, attack, tmp_path, baseline):
    with HostileServer(attack, total=ATTACK_BYTES[attack]) as server:
        # A long login time-out: the bound must end it, not the timer.
        extra = ["--login-timeout", "300"]
        if command == "scenario":  # it has no --login-timeout (10 s); its clients log in where the options say
            extra = ["--host", "127.0.0.1", "--port", str(server.port)]
        status, lines, peak = peak_of(command, server, tmp_path, *extra)
    assert status == EXIT_CONNECT, lines
    where = f"cannot log in to 127.0.0.1:{server.port} as u@localhost: {ENDED[attack]}"
    assert any(where in line for line in lines), lines
    assert "Traceback" not in "\n".join(lines)
    assert peak - baseline(command) < ALLOWED_GROWTH_MIB, (peak, baseline(command))


def test_an_attack_mid_session_ends_a_send_run_as_a_lost_connection(tmp_path, baseline):
    with HostileServer("whitespace", total=ATTACK_BYTES["whitespace"], at="session", workdir=tmp_path) as server:
        status, lines, peak = peak_of("send", server, tmp_path)
    assert status == EXIT_CONNECT, lines
    # The tutorial's seven requests: the first is in flight when the stream ends, the rest never go.
    assert lines[-1] == f"Error: connection to 127.0.0.1:{server.port} lost during the run ({BYTES_ENDED}); 6 unsent"
    assert peak - baseline("send", "session") < ALLOWED_GROWTH_MIB, (peak, baseline("send", "session"))


def test_a_responder_attacked_after_every_login_stays_flat(tmp_path, baseline):
    """respond reconnects after each lost connection: three attacks in a row, its memory as after none."""
    with HostileServer("nested", total=ATTACK_BYTES["nested"], at="session", workdir=tmp_path) as server:
        child = start(["respond"], server)
        try:
            for _ in range(3):
                child.wait_for_line(lambda line: line.startswith("READY "))
                child.wait_for_line(lambda line: line.startswith("disconnected ("))
        finally:
            child.process.send_signal(signal.SIGTERM)
            peak = finish(child)
    assert f"disconnected ({DEPTH_ENDED}); reconnecting" in child.all_lines(), child.lines
    assert len(server.attacks_written) >= 3
    assert peak - baseline("respond", "session") < ALLOWED_GROWTH_MIB, (peak, baseline("respond", "session"))

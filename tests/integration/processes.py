"""Run xmppext commands as child processes against the test server, as a user would."""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from xmpp_ext.servers import Account, LocalServer

XMPPEXT = [sys.executable, "-m", "xmpp_ext"]

#: A scenario that logs in and waits (for a message nobody sends): a run to interrupt.
WAITING = """\
[Client] Romeo
\tjid: romeo@localhost
\tpassword: Romeo-pw-1
-----
Romeo connects
Romeo receives:
\t<message/>
"""


def client_env(server: LocalServer, account: Account) -> dict[str, str]:
    """The environment that logs a command in as ``account``: the password never on a command line."""
    return {**server.environment_for(account), "PYTHONUNBUFFERED": "1"}


def run_xmppext(server: LocalServer, account: Account, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*XMPPEXT, *args],
        env=client_env(server, account),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


async def run_xmppext_async(server: LocalServer, account: Account, *args: str) -> tuple[int, str, str]:
    """An xmppext command run from inside an event loop (beside an in-process client): status, stdout, stderr."""
    process = await asyncio.create_subprocess_exec(
        *XMPPEXT,
        *args,
        env=client_env(server, account),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    stdout, stderr = await process.communicate()
    return process.returncode, stdout.decode(), stderr.decode()


def start_xmppext(server: LocalServer, account: Account, *args: str) -> subprocess.Popen:
    """An xmppext command running in the background, its output in text pipes."""
    return subprocess.Popen(
        [*XMPPEXT, *args],
        env=client_env(server, account),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@dataclass
class OutputLines:
    """A child process whose stdout lines are gathered by a thread as they come (``pump()`` starts it)."""

    process: subprocess.Popen
    lines: list[str] = field(default_factory=list)
    _queue: queue.Queue = field(default_factory=queue.Queue)
    _read_to_the_end: threading.Event = field(default_factory=threading.Event)

    def pump(self) -> None:
        def read() -> None:
            for line in self.process.stdout:
                self.lines.append(line.rstrip("\n"))
                self._queue.put(line.rstrip("\n"))
            self._queue.put(None)
            self._read_to_the_end.set()

        threading.Thread(target=read, daemon=True).start()

    def all_lines(self, timeout: float = 10) -> list[str]:
        """Every line, once the output has ended: a process that has exited may still have lines in the pipe
        that the reader thread has not taken yet."""
        assert self._read_to_the_end.wait(timeout), f"output still open {timeout}s later; so far: {self.lines}"
        return self.lines

    def wait_for_line(self, predicate, timeout: float = 15) -> str:
        """The next stdout line that satisfies ``predicate``; AssertionError with the output so far if none."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                line = self._queue.get(timeout=max(0.0, remaining))
            except queue.Empty:
                raise AssertionError(f"no matching line within {timeout}s; output: {self.lines}") from None
            if line is None:
                raise AssertionError(f"the process exited ({self.process.poll()}); output: {self.lines}")
            if predicate(line):
                return line

    def stop(self, timeout: float = 15) -> int:
        """SIGTERM, then its exit status once it has ended and its output has been read to the end."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        status = self.process.wait(timeout)
        self._read_to_the_end.wait(timeout)  # bounded: a grandchild may hold the pipe open
        return status

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(10)
        self._read_to_the_end.wait(10)


@dataclass
class RunningResponder(OutputLines):
    full_jid: str = ""


def start_with_lines(
    args: list[str],
    env: dict[str, str],
    kind: type[OutputLines] = OutputLines,
    program: list[str] = XMPPEXT,
    cwd: Path | None = None,
) -> OutputLines:
    """A command (xmppext unless ``program`` says) running in the background, its output (stderr with stdout)
    gathered line by line."""
    process = subprocess.Popen(
        [*program, *args],
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    running = kind(process)
    running.pump()
    return running


def start_responder(server: LocalServer, account: Account, *args: str, timeout: float = 15) -> RunningResponder:
    responder = start_with_lines(["respond", *args], client_env(server, account), RunningResponder)
    try:
        ready = responder.wait_for_line(lambda line: line.startswith("READY "), timeout)
    except AssertionError:
        responder.kill()
        raise
    responder.full_jid = ready.split(" ", 1)[1]
    return responder


def peak_memory_when_ended(process: subprocess.Popen, timeout: float) -> float:
    """Wait for ``process`` to end (killed after ``timeout`` s, then AssertionError); its peak memory in MiB.

    Reaped with wait4, which reports the child's own peak resident set (ru_maxrss), not that of every child
    this test process ever had.
    """
    descriptor = os.pidfd_open(process.pid)
    try:
        ended, _, _ = select.select([descriptor], [], [], timeout)
    finally:
        os.close(descriptor)
    if not ended:
        process.kill()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    assert ended, f"still running after {timeout}s"
    return usage.ru_maxrss / 1024


def processes_mentioning(text: str, settle: float = 10) -> list[int]:
    """Processes whose command line contains ``text``, once those being stopped have had ``settle`` seconds to go.

    Stopped processes need a moment to end after SIGTERM; nothing signals that moment, so this looks again
    every 0.1 s until none is left or ``settle`` has passed, and returns what is still there.
    """

    def found() -> list[int]:
        pids = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError):
                    if text.encode() in (entry / "cmdline").read_bytes():
                        pids.append(int(entry.name))
        return pids

    deadline = time.monotonic() + settle
    while (remaining := found()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return remaining


@contextlib.contextmanager
def scenario_process(*args: str) -> Iterator[subprocess.Popen]:
    """``xmppext scenario ARGS`` running in the background (text pipes), killed if it is still running after."""
    code = "from xmpp_ext.cli.scenario import command; command(prog_name='xmppext scenario')"
    process = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A child of a non-interactive shell may inherit SIGINT ignored: give it the default back.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


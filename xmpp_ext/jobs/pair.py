"""run-pair: a responder and a sender as two child processes, for one-command smoke tests.

Credentials reach the children only through their environment (a command
line is readable by every user through ps and /proc). The children run in
their own process groups, die with this process, and are always stopped
before it returns: on success, on failure, on Ctrl-C and on SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import signal
import sys
import tempfile
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from xmpp_ext.jobs.jsonlines import Summary, read_line
from xmpp_ext.jobs.outcomes import Exchange
from xmpp_ext.jobs.report import Reporter
from xmpp_ext.scenario.program import ResponderCommand
from xmpp_ext.util.children import die_with_parent, signal_group, stop_detached
from xmpp_ext.util.envfile import PairCredentials
from xmpp_ext.util.envvars import login_environment
from xmpp_ext.util.stopsignals import on_stop_signals

RESPONDER_RESOURCE = "xmppext-pair"
STOP_GRACE = 5.0


class PairFailure(Enum):
    """Why a pair could not run (the command maps each to its exit code)."""

    CHILD_DIED = "a client died early"
    NOT_READY = "the responder was never ready"
    RESPONDER_EXITED = "the responder exited before it was ready"  # see PairError.child_status
    TERMINAL_RETURNED = "the --terminal program returned before its client ended"


#: The status a child of ours exits with when it was interrupted (the command's own exit 130).
INTERRUPTED_STATUS = 130


class PairError(Exception):
    """The pair could not run; ``failure`` says why, ``child_status`` is the responder's exit status if it exited."""

    def __init__(self, message: str, failure: PairFailure, child_status: int | None = None) -> None:
        super().__init__(message)
        self.failure = failure
        self.child_status = child_status


@dataclass(frozen=True)
class PairOptions:
    path: Path | None = None
    verbosity: int = 0
    timeout: float = 10.0
    ready_timeout: float = 30.0
    terminal: str | None = None  # e.g. "xterm -e": each client in its own window
    responder_cmd: ResponderCommand | None = None  # the user's own bot instead of `xmppext respond`
    raw: bool = False  # the sender sends one raw payload (send --raw) from `xml` or `path`
    xml: str | None = None
    check_support: str | None = None  # send --check-support [NAMESPACE] ("": the sender's default namespace)


def child_environment(jid: str, credentials: PairCredentials, role: str) -> dict[str, str]:
    password = credentials.password_of(role).reveal()
    env = login_environment(jid, password, credentials.host, credentials.port_of(role), credentials.ca_cert)
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclass
class Child:
    """One client process of the pair: its output pump and its last lines (for error messages)."""

    name: str  # "responder" or "sender"
    process: asyncio.subprocess.Process
    pump: asyncio.Task[None] | None = None  # reads its output, when it is not in a terminal window
    last_lines: deque[str] = field(default_factory=lambda: deque(maxlen=5))


class Pair:
    def __init__(
        self,
        credentials: PairCredentials,
        options: PairOptions,
        echo: Callable[[str], None],
        until_routable: Callable[[str], None] | None = None,
    ) -> None:
        """``until_routable``: in a local cluster, returns once every node knows the responder's new session
        (servers/cluster.py), so the sender's first request is not bounced by a node that has not heard of it."""
        self.credentials = credentials
        self.options = options
        self.echo = echo
        self._until_routable = until_routable
        self.summary: dict[str, object] | None = None  # the sender's, once it has printed it
        self.responder_jid = ""
        self.exchanges: list[Exchange] = []
        self._children: list[Child] = []
        self._reporter = Reporter(lambda line: echo(f"[sender] {line}"), quiet=options.verbosity < 0)

    # -- commands ----------------------------------------------------------------

    def _common_args(self) -> list[str]:
        args = []
        if self.options.verbosity > 0:
            args.append("--debug")
        elif self.options.verbosity < 0:
            args.append("--quiet")
        if self.credentials.insecure:
            args.append("--insecure")
        return args

    def _command(self, *args: str) -> list[str]:
        command = [sys.executable, "-m", "xmpp_ext", *args, *self._common_args()]
        return command

    # -- running -------------------------------------------------------------------

    async def run(self) -> int:
        main = asyncio.current_task()
        interrupted: list[signal.Signals] = []

        def interrupt(signum: signal.Signals) -> None:
            interrupted.append(signum)
            if main is not None:
                main.cancel()

        try:
            with on_stop_signals(interrupt):
                try:
                    return await self._run_both()
                except asyncio.CancelledError:
                    if not interrupted:
                        raise
                    self.echo(f"interrupted ({interrupted[0].name}): stopping both clients")
                    return INTERRUPTED_STATUS
        finally:
            await asyncio.shield(self._stop_all())

    async def _run_both(self) -> int:
        with tempfile.TemporaryDirectory(prefix="xmppext-pair-") as scratch:
            if self.options.responder_cmd is not None:
                return await self._run_with_users_bot(Path(scratch))
            responder = await self._start_responder(Path(scratch))
            return await self._run_sender_beside(responder.process, Path(scratch), self._last_output)

    async def _run_sender_beside(
        self, responder: asyncio.subprocess.Process, scratch: Path, last_output: Callable[[], str]
    ) -> int:
        """The sender's exit status, once it ends; PairError if the responder dies first."""
        if self._until_routable is not None and "/" in self.responder_jid:
            await asyncio.to_thread(self._until_routable, self.responder_jid)
        sender = await self._start_sender(scratch)
        sender_done = asyncio.ensure_future(self._wait_sender(sender, scratch))
        responder_died = asyncio.ensure_future(responder.wait())
        done, _ = await asyncio.wait({sender_done, responder_died}, return_when=asyncio.FIRST_COMPLETED)
        if sender_done in done:
            responder_died.cancel()
            return sender_done.result()
        sender_done.cancel()
        raise PairError(
            f"the responder exited early (status {responder.returncode}) while the sender ran; "
            f"last output: {last_output()}",
            PairFailure.CHILD_DIED,
        )

    async def _run_with_users_bot(self, scratch: Path) -> int:
        """--responder-cmd: the user's bot started and stopped the way ``scenario --responder`` does it."""
        from xmpp_ext.scenario.responder import ResponderError, ResponderLogin, responder_running

        credentials = self.credentials
        login = ResponderLogin.of_account(
            credentials.responder_jid,
            credentials.responder_password,
            credentials.host,
            credentials.port_of("responder"),
            credentials.ca_cert,
            credentials.insecure,
        )
        try:
            async with responder_running(
                self.options.responder_cmd, login, on_line=lambda line: self.echo(f"[responder] {line}")
            ) as bot:
                self.responder_jid = bot.jid
                return await self._run_sender_beside(bot.process, scratch, bot.last_output)
        except ResponderError as exc:
            raise PairError(str(exc), PairFailure.NOT_READY) from None

    async def _start_responder(self, scratch: Path) -> Child:
        ready_fifo = scratch / "responder-ready"
        os.mkfifo(ready_fifo, 0o600)
        jid = f"{self.credentials.responder_jid}/{RESPONDER_RESOURCE}"
        command = self._command("respond", "-j", jid, "--ready-fifo", str(ready_fifo))
        env = child_environment(jid, self.credentials, "responder")
        child = await self._spawn("responder", command, env, scratch)
        process = child.process
        # The READY line arrives through a FIFO, so it works the same when the
        # responder's output goes to a terminal window instead of our pipe.
        with FirstLine(ready_fifo) as ready_line:
            ready = asyncio.ensure_future(ready_line.wait())
            exited = asyncio.ensure_future(process.wait())
            await asyncio.wait({ready, exited}, timeout=self.options.ready_timeout, return_when="FIRST_COMPLETED")
            ready.cancel()
            exited.cancel()
            # A responder that wrote READY and then died at once can be seen dead
            # first: what it wrote is still in the FIFO, so read that too.
            line = ready.result() if ready.done() and not ready.cancelled() else ready_line.read_now()
        if line is not None and line.startswith("READY "):
            self.responder_jid = line.split(" ", 1)[1].strip()
            return child
        if process.returncode is not None and self.options.terminal and not (scratch / "responder-status").exists():
            raise PairError(await self._returned_early(scratch, "responder"), PairFailure.TERMINAL_RETURNED)
        if process.returncode is not None:
            await asyncio.sleep(0)  # let the output pump print the responder's last lines
            raise PairError(
                f"the responder exited with status {process.returncode} before it was ready; "
                f"last output: {self._last_output()}",
                PairFailure.RESPONDER_EXITED,
                child_status=process.returncode,
            )
        raise PairError(
            f"the responder was not ready within {self.options.ready_timeout:g}s; last output: {self._last_output()}",
            PairFailure.NOT_READY,
        )

    async def _start_sender(self, scratch: Path) -> Child:
        jid = self.credentials.sender_jid
        args = ["send", "-t", self.responder_jid, "--timeout", f"{self.options.timeout:g}"]
        if self.options.raw:
            args.append("--raw")
        if self.options.path is not None:
            args += ["--path", str(self.options.path)]
        if self.options.xml is not None:
            args += ["--xml", self.options.xml]
        if self.options.check_support is not None:
            args.append(
                f"--check-support={self.options.check_support}" if self.options.check_support else "--check-support"
            )
        if self.options.terminal is None:
            args.append("--json")  # parsed here into lines and the summary table
        env = child_environment(jid, self.credentials, "sender")
        return await self._spawn("sender", self._command(*args), env, scratch)

    async def _spawn(self, name: str, command: list[str], env: dict[str, str], scratch: Path) -> Child:
        if self.options.terminal:
            # Record the client's exit status (a terminal emulator does not pass it on) and the shell's
            # process id: a program that returns at once (tmux new-window -d) leaves the client running
            # where our process group does not reach.
            env["XMPPEXT_STATUS_FILE"] = str(scratch / f"{name}-status")
            env["XMPPEXT_PID_FILE"] = str(scratch / f"{name}-pid")
            command = [
                *shlex.split(self.options.terminal),
                "sh",
                "-c",
                'echo $$ > "$XMPPEXT_PID_FILE"; "$@"; echo $? > "$XMPPEXT_STATUS_FILE"',
                "sh",
                *command,
            ]
            output = None
        else:
            output = asyncio.subprocess.PIPE
        process = await asyncio.create_subprocess_exec(
            *command,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=output,
            stderr=asyncio.subprocess.STDOUT if output else None,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        child = Child(name, process)
        self._children.append(child)
        if output is not None:
            pump = self._pump_sender if name == "sender" else self._pump_responder
            child.pump = asyncio.ensure_future(pump(process.stdout, child))
        return child

    async def _wait_sender(self, sender: Child, scratch: Path) -> int:
        status = await sender.process.wait()
        if sender.pump is not None:
            await sender.pump
        if self.options.terminal:
            status_file = scratch / "sender-status"
            if not status_file.exists():
                raise PairError(await self._returned_early(scratch, "sender"), PairFailure.TERMINAL_RETURNED)
            with contextlib.suppress(OSError, ValueError):
                status = int(status_file.read_text().strip())
        return status

    async def _returned_early(self, scratch: Path, name: str) -> str:
        """Stop the clients a --terminal program left running on their own; the message says what happened."""
        # The detached shell may not have written its pid yet: give it a moment (bounded).
        pid_file = scratch / f"{name}-pid"
        for _ in range(40):
            if pid_file.exists():
                break
            await asyncio.sleep(0.05)
        for client in ("responder", "sender"):
            with contextlib.suppress(OSError, ValueError):
                stop_detached(int((scratch / f"{client}-pid").read_text().strip()))
        program = shlex.split(self.options.terminal or "")[:1] or ["?"]
        return (
            f"the --terminal program {program[0]!r} returned before the client it started ended (does it run "
            'commands in the background?); both clients were stopped. Use one that waits, e.g. "xterm -e"'
        )

    async def _pump_responder(self, stream: asyncio.StreamReader, child: Child) -> None:
        async for raw in stream:
            line = raw.decode(errors="replace").rstrip("\n")
            child.last_lines.append(line)
            self.echo(f"[responder] {line}")

    async def _pump_sender(self, stream: asyncio.StreamReader, child: Child) -> None:
        async for raw in stream:
            line = raw.decode(errors="replace").rstrip("\n")
            child.last_lines.append(line)
            parsed = read_line(line)
            if isinstance(parsed, Exchange):
                self.exchanges.append(parsed)
                self._reporter.exchange(parsed)
            elif isinstance(parsed, Summary):
                self.summary = parsed.values
                self._reporter.summary(parsed.values)
            else:
                self.echo(f"[sender] {line}")

    def _last_output(self) -> str:
        responder = next((child for child in self._children if child.name == "responder"), None)
        return " | ".join(responder.last_lines if responder else ()) or "(none)"

    async def _stop_all(self) -> None:
        """SIGTERM every child's group, then SIGKILL what is left after the grace period."""
        running = [child.process for child in self._children if child.process.returncode is None]
        for process in running:
            signal_group(process.pid, signal.SIGTERM)
        if running:
            _, pending = await asyncio.wait(
                [asyncio.ensure_future(process.wait()) for process in running], timeout=STOP_GRACE
            )
            for process in running:
                if process.returncode is None:
                    signal_group(process.pid, signal.SIGKILL)
            for task in pending:
                await task
        for child in self._children:
            # Whatever the group leader left behind in its group goes too.
            signal_group(child.process.pid, signal.SIGKILL)
            if child.pump is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await child.pump


class FirstLine:
    """The first line written to a FIFO, awaited without blocking the event loop."""

    def __init__(self, fifo: Path) -> None:
        self._fifo = fifo
        self._received = bytearray()
        self._line: asyncio.Future[str] | None = None

    def __enter__(self) -> FirstLine:
        self._descriptor = os.open(self._fifo, os.O_RDONLY | os.O_NONBLOCK)
        # A writer of our own keeps the FIFO from reporting end-of-file before the child opens it.
        self._keep_open = os.open(self._fifo, os.O_WRONLY | os.O_NONBLOCK)
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._line is not None:
            asyncio.get_running_loop().remove_reader(self._descriptor)
        os.close(self._descriptor)
        os.close(self._keep_open)

    async def wait(self) -> str:
        loop = asyncio.get_running_loop()
        self._line = loop.create_future()
        loop.add_reader(self._descriptor, self._on_readable)
        return await self._line

    def read_now(self) -> str | None:
        """The first line if it has been written by now (no waiting), else None."""
        self._read()
        if b"\n" not in self._received:
            return None
        return self._received.split(b"\n", 1)[0].decode(errors="replace")

    def _on_readable(self) -> None:
        line = self.read_now()
        if line is not None and self._line is not None and not self._line.done():
            self._line.set_result(line)

    def _read(self) -> None:
        with contextlib.suppress(BlockingIOError):  # nothing written yet
            self._received.extend(os.read(self._descriptor, 4096))
